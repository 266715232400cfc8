package sqlstore_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestManifestIndexesMatchTheQuery: the migrations index the manifest
// order's expression verbatim (SQLite uses an index on an expression only
// for the same text), and the engines read a page of an integer-keyed
// table in order from that index, with or without a cursor, never sorting
// the partition.
func TestManifestIndexesMatchTheQuery(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		b, err := os.ReadFile("../../" + engine + "/migrations/0011_manifest_ids.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range hypha.SyncedTables {
			if !tb.IntegerID {
				continue
			}
			want := fmt.Sprintf("CREATE INDEX IF NOT EXISTS idx_%s_manifest ON %s (grove_id, machine_id, %s, id);", tb.Name, tb.Name, sqlstore.ManifestIDClassSQL)
			if !strings.Contains(string(b), want) {
				t.Errorf("%s migration lacks\n%s", engine, want)
			}
		}
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		db := testdb.MustOpen(t, engine)
		ctx := t.Context()
		tb := hypha.LookupTable("prompt_batches")
		if engine == "postgres" {
			// Enough rows for the planner to prefer the index.
			var recs []*hypha.Record
			for m := range 4 {
				for i := range 1500 {
					r, err := hypha.NewRecord(tb, "g", fmt.Sprint("m", m), fmt.Sprint(i), map[string]any{hypha.ColProject: "proj_0123456789abcdef0123456789abcdef"})
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, r)
				}
			}
			if _, err := db.UpsertRecords(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if err := db.Analyze(ctx, []string{tb.Name}); err != nil {
				t.Fatal(err)
			}
		}
		for _, cursor := range []string{"", "700", "x"} {
			query, args := sqlstore.ManifestQuery(tb, cursor, 200)
			plan := explain(t, db, engine, query, args...)
			var want []string
			switch {
			case engine == "sqlite" && cursor == "":
				want = []string{"SEARCH prompt_batches USING INDEX idx_prompt_batches_manifest (grove_id=? AND machine_id=?)"}
			case engine == "sqlite":
				want = []string{"USING INDEX idx_prompt_batches_manifest (grove_id=? AND machine_id=? AND <expr>=? AND id>?)",
					"USING INDEX idx_prompt_batches_manifest (grove_id=? AND machine_id=? AND <expr>>?)"}
			default:
				want = []string{"Index Scan using idx_prompt_batches_manifest"}
			}
			for _, w := range want {
				if !strings.Contains(plan, w) {
					t.Errorf("cursor %q: the plan lacks %q:\n%s", cursor, w, plan)
				}
			}
			// Only the page's own rows may be sorted (the union of two
			// ranges of at most limit+1 rows each), never the partition.
			if engine == "sqlite" && strings.Count(plan, "TEMP B-TREE") > min(len(cursor), 1) {
				t.Errorf("cursor %q: the plan sorts more than the page:\n%s", cursor, plan)
			}
			if engine == "postgres" && strings.Contains(plan, "Seq Scan") {
				t.Errorf("cursor %q: the plan scans the table:\n%s", cursor, plan)
			}
		}
	})
}
