package backup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestBackupLeavesSearchIndexOut: the search index (documents, keyword
// index, tombstones, change sequence) is derived from the records, so a
// backup carries none of it, and a target whose index holds documents
// takes the import without complaint and keeps its own index; grants and
// sharing policies are data and round-trip.
func TestBackupLeavesSearchIndexOut(t *testing.T) {
	for _, from := range testdb.Engines() {
		for _, to := range testdb.Engines() {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				ctx := context.Background()
				src := testdb.MustOpen(t, from)
				populate(t, src)
				shared := searchDoc(t, "spores", "shared", "mycelium", hypha.SharingCrossGrove)
				gone := searchDoc(t, "plans", "gone", "mycelium", "")
				if err := src.PutSearchDocs(ctx, []*hypha.SearchDoc{shared, gone}); err != nil {
					t.Fatal(err)
				}
				if err := src.RemoveSearchDocs(ctx, []hypha.RecordKey{gone.Key}); err != nil {
					t.Fatal(err)
				}
				if err := src.PutGrant(ctx, groveID, "grantee"); err != nil {
					t.Fatal(err)
				}
				path := exportFile(t, src)
				c := decodeFile(t, path)
				for _, tb := range c.Tables {
					if strings.HasPrefix(tb.Meta.Name, "search_") {
						t.Errorf("the backup carries search table %s", tb.Meta.Name)
					}
				}
				if n := c.rowCount("grove_grants"); n != 1 {
					t.Errorf("the backup carries %d grants, want 1", n)
				}
				for _, st := range hypha.SyncedTables {
					var tb *tableContent
					for i := range c.Tables {
						if c.Tables[i].Meta.Name == st.Name {
							tb = &c.Tables[i]
						}
					}
					if tb == nil {
						t.Fatalf("the backup lacks table %s", st.Name)
					}
					if has := slices.Contains(tb.Meta.Columns, hypha.ColSharingPolicy); has != st.Shareable {
						t.Errorf("table %s: the backup has a sharing_policy column: %v, want %v", st.Name, has, st.Shareable)
					}
				}

				dst := testdb.MustOpen(t, to)
				own := searchDoc(t, "artifacts", "own", "rhizome", "")
				if err := dst.PutSearchDocs(ctx, []*hypha.SearchDoc{own}); err != nil {
					t.Fatal(err)
				}
				seq, _, err := dst.SearchSeq(ctx)
				if err != nil {
					t.Fatal(err)
				}
				importFile(t, dst, path)
				assertSameContent(t, path, exportFile(t, dst))

				if got, err := dst.ListGrantors(ctx, "grantee"); err != nil || !slices.Equal(got, []string{groveID}) {
					t.Errorf("ListGrantors after the import = %v, %v; want [%s]", got, err, groveID)
				}
				if n, err := dst.CountSearchDocs(ctx, groveID); err != nil || n != 1 {
					t.Errorf("the target holds %d documents (%v), want only its own", n, err)
				}
				if got, _, err := dst.SearchSeq(ctx); err != nil || got != seq {
					t.Errorf("the import moved the search sequence from %d to %d (%v)", seq, got, err)
				}
				if got := keywordKeys(t, dst, "rhizome mycelium"); !slices.Equal(got, []string{"artifacts/m/own"}) {
					t.Errorf("the target finds %v, want only its own document", got)
				}
				// The import's records can be indexed as usual.
				if err := dst.PutSearchDocs(ctx, []*hypha.SearchDoc{shared}); err != nil {
					t.Fatal(err)
				}
				if got := keywordKeys(t, dst, "rhizome mycelium"); !slices.Equal(got, []string{"artifacts/m/own", "spores/m/shared"}) {
					t.Errorf("after indexing, the target finds %v", got)
				}
			})
		}
	}
}

// searchDoc builds the search document of a record of the backup's grove.
func searchDoc(t *testing.T, table, id, text, policy string) *hypha.SearchDoc {
	t.Helper()
	tb := hypha.LookupTable(table)
	r, err := hypha.NewRecord(tb, groveID, "m", id, map[string]any{hypha.ColProject: projectA, tb.TextColumn: text, hypha.ColSharingPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return hypha.NewSearchDoc(r)
}

// keywordKeys returns the sorted keys a keyword query finds in the grove.
func keywordKeys(t *testing.T, db *sqlstore.DB, query string) []string {
	t.Helper()
	hits, err := db.KeywordSearch(context.Background(), query, hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: groveID})
	if err != nil {
		t.Fatalf("KeywordSearch(%q): %v", query, err)
	}
	out := []string{}
	for _, h := range hits {
		out = append(out, h.Key.Table.Name+"/"+h.Key.MachineID+"/"+h.Key.ID)
	}
	slices.Sort(out)
	return out
}
