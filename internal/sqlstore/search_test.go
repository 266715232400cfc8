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

// TestSearchTablesLeftOutOfSchema: the search tables, which differ between
// engines by nature and hold only what the records imply, are neither in
// the normalized schema nor in backups, and an import cannot write them;
// grove_grants is data like any other table.
func TestSearchTablesLeftOutOfSchema(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		d, err := db.DescribeSchema(t.Context())
		if err != nil {
			t.Fatalf("DescribeSchema: %v", err)
		}
		var described []string
		for _, tb := range d.Tables {
			described = append(described, tb.Name)
		}
		tables, err := db.BackupTables(t.Context())
		if err != nil {
			t.Fatalf("BackupTables: %v", err)
		}
		var backed []string
		for _, tb := range tables {
			backed = append(backed, tb.Name)
		}
		for what, names := range map[string][]string{"DescribeSchema": described, "BackupTables": backed} {
			for _, n := range names {
				if strings.HasPrefix(n, "search_") {
					t.Errorf("%s lists search table %s", what, n)
				}
			}
			if !slices.Contains(names, "grove_grants") {
				t.Errorf("%s lacks grove_grants", what)
			}
		}
		for _, name := range []string{"search_docs", "search_tombstones", "search_seq", "search_fts"} {
			_, err := db.ImportRows(t.Context(), name, []string{"grove_id"}, [][]any{{"g"}})
			if hypha.ErrorCode(err) != hypha.EInvalid {
				t.Errorf("ImportRows(%s) = %v, want an invalid error", name, err)
			}
		}
	})
}

// TestSearchIndexChurn writes, rewrites and removes documents at random,
// in groves that share record ids (SQLite reuses the doc_ids of removed
// documents), and checks every word's hits against what was written last,
// and SQLite's keyword index integrity.
func TestSearchIndexChurn(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		words := []string{"amanita", "boletus", "cantharellus", "morchella", "pleurotus", "russula"}
		live := map[string]string{} // "grove/table/id" → text
		rng := rand.New(rand.NewPCG(11, 12))
		for range 300 {
			var put []*hypha.SearchDoc
			var remove []hypha.RecordKey
			for range 1 + rng.IntN(4) {
				st := []struct{ table, column string }{{"spores", "content"}, {"plans", "content"}, {"skill_records", "description"}}[rng.IntN(3)]
				grove, id := []string{"g", "h"}[rng.IntN(2)], fmt.Sprintf("r%d", rng.IntN(12))
				if rng.IntN(4) == 0 {
					remove = append(remove, hypha.RecordKey{Table: hypha.LookupTable(st.table), GroveID: grove, MachineID: "m", ID: id})
					continue
				}
				text := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
				if rng.IntN(8) == 0 {
					text = ""
				}
				r, err := hypha.NewRecord(hypha.LookupTable(st.table), grove, "m", id, map[string]any{st.column: text})
				if err != nil {
					t.Fatal(err)
				}
				put = append(put, hypha.NewSearchDoc(r))
			}
			// Removals, then puts, in one transaction; a key both removed
			// and put in a round is only put.
			for _, d := range put {
				remove = slices.DeleteFunc(remove, func(k hypha.RecordKey) bool { return k == d.Key })
			}
			err := db.InTx(t.Context(), func(tx hypha.Queries) error {
				if err := tx.RemoveSearchDocs(t.Context(), remove); err != nil {
					return err
				}
				return tx.PutSearchDocs(t.Context(), put)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range remove {
				delete(live, k.GroveID+"/"+k.Table.Name+"/"+k.ID)
			}
			for _, d := range put {
				live[d.Key.GroveID+"/"+d.Key.Table.Name+"/"+d.Key.ID] = d.Text
			}
		}
		for _, grove := range []string{"g", "h"} {
			for _, w := range words {
				want := []string{}
				for k, text := range live {
					if strings.HasPrefix(k, grove+"/") && strings.Contains(text, w) {
						want = append(want, k)
					}
				}
				slices.Sort(want)
				hits, err := db.KeywordSearch(t.Context(), w, hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: grove})
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, h := range hits {
					got = append(got, h.Key.GroveID+"/"+h.Key.Table.Name+"/"+h.Key.ID)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("grove %s, %q: hits %v, want %v", grove, w, got, want)
				}
			}
			if n, err := db.CountSearchDocs(t.Context(), grove); err != nil || n != int64(countPrefix(live, grove+"/")) {
				t.Errorf("CountSearchDocs(%s) = %d, %v; want %d", grove, n, err, countPrefix(live, grove+"/"))
			}
		}
		if engine == "sqlite" {
			mustExec(t, db, `INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 0)`)
			var docs, indexed int
			if err := db.WriteDB().QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM search_docs), (SELECT COUNT(*) FROM search_fts_docsize)`).Scan(&docs, &indexed); err != nil {
				t.Fatal(err)
			}
			if docs != indexed {
				t.Errorf("%d documents, %d indexed texts", docs, indexed)
			}
		}
	})
}

func countPrefix(m map[string]string, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestScanSearchDocsPlans: the statements of ScanSearchDocs find each
// document's record and vector by their primary keys, and the documents of
// a window through the seq index. SQLite plans by its heuristics, so every
// window gets that plan; PostgreSQL, with statistics, gets it for a
// catch-up's narrow window (a full scan may rather hash-join the tables).
func TestScanSearchDocsPlans(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		ctx := t.Context()
		queries := sqlstore.ScanDocsQueries()
		var names []string
		for _, tb := range hypha.SyncedTables {
			if tb.TextColumn != "" {
				names = append(names, tb.Name)
			}
		}
		if len(queries) != len(names) {
			t.Fatalf("%d scan statements, want one for each of %v", len(queries), names)
		}
		var after, upTo int64 = -1, 1 << 40
		if engine == "postgres" {
			// Enough documents, records and vectors for the planner to
			// prefer index lookups for a window of one document.
			for round := range 2 {
				var recs []*hypha.Record
				var docs []*hypha.SearchDoc
				var embs []*hypha.Embedding
				for _, name := range names {
					tb := hypha.LookupTable(name)
					for i := range []int{2000, 1}[round] {
						r, err := hypha.NewRecord(tb, "g", "m", fmt.Sprintf("r%d-%d", round, i), map[string]any{tb.TextColumn: "text"})
						if err != nil {
							t.Fatal(err)
						}
						d := hypha.NewSearchDoc(r)
						recs, docs = append(recs, r), append(docs, d)
						embs = append(embs, &hypha.Embedding{Key: d.Key, Model: "m", Vector: []float32{1, 2, 3}, UpdatedAt: 1})
					}
				}
				if _, err := db.UpsertRecords(ctx, recs); err != nil {
					t.Fatal(err)
				}
				if err := db.PutEmbeddings(ctx, embs); err != nil {
					t.Fatal(err)
				}
				if err := db.PutSearchDocs(ctx, docs); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Analyze(ctx, append([]string{"search_docs", "embeddings"}, names...)); err != nil {
				t.Fatal(err)
			}
			seq, _, err := db.SearchSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			after, upTo = seq-1, seq
		}
		for _, name := range names {
			q, ok := queries[name]
			if !ok {
				t.Fatalf("no scan statement for table %s", name)
			}
			plan := explain(t, db, engine, q, int64(3), after, upTo)
			var want []string
			switch engine {
			case "sqlite":
				want = []string{"SEARCH d USING INDEX idx_search_docs_seq (seq>? AND seq<?)",
					"SEARCH r USING INDEX sqlite_autoindex_" + name + "_1 (grove_id=? AND machine_id=? AND id=?)",
					"SEARCH e USING INDEX sqlite_autoindex_embeddings_1 (grove_id=? AND table_name=? AND machine_id=? AND record_id=?)"}
				if strings.Contains(plan, "SCAN ") {
					t.Errorf("%s: the plan scans a table:\n%s", name, plan)
				}
			case "postgres":
				want = []string{"Index Scan using idx_search_docs_seq on search_docs d", "Index Scan using " + name + "_pkey on " + name + " r",
					"Index Scan using embeddings_pkey on embeddings e"}
			}
			for _, w := range want {
				if !strings.Contains(plan, w) {
					t.Errorf("%s: the plan lacks %q:\n%s", name, w, plan)
				}
			}
		}
	})
}

// explain returns the query plan of a statement with ? placeholders.
func explain(t *testing.T, db *sqlstore.DB, engine, query string, args ...any) string {
	t.Helper()
	prefix := "EXPLAIN QUERY PLAN "
	if engine == "postgres" {
		prefix = "EXPLAIN "
		for n := 1; strings.Contains(query, "?"); n++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", n), 1)
		}
	}
	rows, err := db.WriteDB().QueryContext(t.Context(), prefix+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // SQLite's detail, PostgreSQL's line
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
