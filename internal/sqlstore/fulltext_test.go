package sqlstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestFullTextBackfill migrates a database that already holds records:
// the full-text step indexes them, and applying it again adds nothing.
func TestFullTextBackfill(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.Open(t, engine, nil)
		if _, err := db.Migrate(t.Context(), 6); err != nil {
			t.Fatalf("Migrate to 6: %v", err)
		}
		rec := func(table, grove, id string, data map[string]any) *hypha.Record {
			r, err := hypha.NewRecord(hypha.LookupTable(table), grove, "m", id, data)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		recs := []*hypha.Record{
			rec("spores", "g", "active", map[string]any{"content": "mycelium one", "created_at": int64(5)}),
			rec("spores", "g", "archived", map[string]any{"content": "mycelium two", "status": "archived"}),
			rec("sessions", "g", "s1", map[string]any{"summary": "the mycelium grows"}),
			rec("sessions", "g", "empty", map[string]any{"summary": "", "title": "mycelium"}),
			rec("plans", "g", "p1", map[string]any{"content": "mycelium plan"}),
			rec("artifacts", "g", "a1", map[string]any{"content": "mycelium artifact"}),
			rec("skill_records", "g", "k1", map[string]any{"description": "mycelium skill"}),
			rec("entities", "g", "e1", map[string]any{"name": "mycelium"}),
			rec("spores", "other", "active", map[string]any{"content": "mycelium elsewhere"}),
		}
		if _, err := db.UpsertRecords(t.Context(), recs); err != nil {
			t.Fatalf("UpsertRecords: %v", err)
		}
		want := []string{"artifacts/a1", "plans/p1", "sessions/s1", "skill_records/k1", "spores/active"} // sorted
		check := func(when string) {
			t.Helper()
			hits, err := db.KeywordSearch(t.Context(), "mycelium", 50, hypha.VectorFilter{GroveID: "g"})
			if err != nil {
				t.Fatalf("%s: KeywordSearch: %v", when, err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.Key.Table.Name+"/"+h.Key.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: hits %v, want %v", when, got, want)
			}
			var n int
			if err := db.WriteDB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM fulltext_docs`).Scan(&n); err != nil || n != len(want)+1 {
				t.Fatalf("%s: %d documents (%v), want %d", when, n, err, len(want)+1)
			}
			if engine == "sqlite" {
				mustExec(t, db, `INSERT INTO fulltext_index (fulltext_index, rank) VALUES ('integrity-check', 0)`)
			}
		}
		if _, err := db.Migrate(t.Context(), 0); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		check("after the migration")

		mustExec(t, db, `DELETE FROM schema_migrations WHERE version >= 7`)
		again, err := db.Migrate(t.Context(), 0)
		if err != nil || len(again) != len(db.Steps())-6 {
			t.Fatalf("re-applying the full-text steps: applied %d (%v)", len(again), err)
		}
		check("after applying the steps again")

		// The triggers still follow writes.
		if _, err := db.DeleteRecords(t.Context(), []hypha.RecordKey{recs[0].Key()}); err != nil {
			t.Fatal(err)
		}
		want = want[:len(want)-1]
		check("after a delete")
	})
}

// TestFullTextTablesLeftOutOfSchema: the engine-specific full-text tables
// are neither in the normalized schema nor in backups, and an import
// cannot write them; the triggers that maintain them are in the schema.
func TestFullTextTablesLeftOutOfSchema(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		d, err := db.DescribeSchema(t.Context())
		if err != nil {
			t.Fatalf("DescribeSchema: %v", err)
		}
		var spores *hypha.TableDescription
		for i, tb := range d.Tables {
			if strings.HasPrefix(tb.Name, "fulltext") {
				t.Errorf("DescribeSchema lists full-text table %s", tb.Name)
			}
			if tb.Name == "spores" {
				spores = &d.Tables[i]
			}
		}
		for _, trigger := range []string{"fulltext_spores_insert", "fulltext_spores_update", "fulltext_spores_delete"} {
			if spores == nil || !slices.Contains(spores.Keys, "trigger "+trigger) {
				t.Errorf("the description of spores lacks %q", "trigger "+trigger)
			}
		}
		tables, err := db.BackupTables(t.Context())
		if err != nil {
			t.Fatalf("BackupTables: %v", err)
		}
		for _, tb := range tables {
			if strings.HasPrefix(tb.Name, "fulltext") {
				t.Errorf("BackupTables lists full-text table %s", tb.Name)
			}
		}
		_, err = db.ImportRows(t.Context(), "fulltext_docs", []string{"grove_id"}, [][]any{{"g"}})
		if hypha.ErrorCode(err) != hypha.EInvalid {
			t.Errorf("ImportRows(fulltext_docs) = %v, want an invalid error", err)
		}
	})
}

var _ hypha.FullTextStore = (*sqlstore.DB)(nil)

// TestFullTextChurn writes, rewrites, deactivates and deletes records at
// random (SQLite reuses the document ids of deleted rows) and checks every
// word's hits against what the records say, and SQLite's index integrity.
func TestFullTextChurn(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		words := []string{"amanita", "boletus", "cantharellus", "morchella", "pleurotus", "russula"}
		type state struct{ text, status string }
		live := map[string]state{} // "table/id" → what the store holds
		rng := rand.New(rand.NewPCG(11, 12))
		for step := range 600 {
			st := []struct{ table, column string }{{"spores", "content"}, {"plans", "content"}, {"skill_records", "description"}}[rng.IntN(3)]
			id := fmt.Sprintf("r%d", rng.IntN(15))
			k := st.table + "/" + id
			switch rng.IntN(4) {
			case 0:
				if _, err := db.DeleteRecords(t.Context(), []hypha.RecordKey{{Table: hypha.LookupTable(st.table), GroveID: "g", MachineID: "m", ID: id}}); err != nil {
					t.Fatal(err)
				}
				delete(live, k)
			default:
				s := state{text: words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))], status: []string{"active", "active", "stale"}[rng.IntN(3)]}
				if rng.IntN(8) == 0 {
					s.text = ""
				}
				r, err := hypha.NewRecord(hypha.LookupTable(st.table), "g", "m", id, map[string]any{st.column: s.text, "status": s.status, "created_at": int64(step)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.UpsertRecords(t.Context(), []*hypha.Record{r}); err != nil {
					t.Fatal(err)
				}
				live[k] = s
			}
		}
		for _, w := range words {
			var want []string
			for k, s := range live {
				if strings.Contains(s.text, w) && (!strings.HasPrefix(k, "spores/") || s.status == "active") {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			hits, err := db.KeywordSearch(t.Context(), w, hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: "g"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.Key.Table.Name+"/"+h.Key.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%q: hits %v, want %v", w, got, want)
			}
		}
		if engine == "sqlite" {
			mustExec(t, db, `INSERT INTO fulltext_index (fulltext_index, rank) VALUES ('integrity-check', 0)`)
		}
	})
}
