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

// TestRoundTripKeepsKeywordSearch: a backup carries no full-text table,
// and the restored database answers keyword queries as the source did,
// because the import's inserts fire the triggers that index records.
func TestRoundTripKeepsKeywordSearch(t *testing.T) {
	for _, from := range testdb.Engines() {
		for _, to := range testdb.Engines() {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				src := testdb.MustOpen(t, from)
				populate(t, src)
				path := exportFile(t, src)
				for _, tb := range decodeFile(t, path).Tables {
					if strings.HasPrefix(tb.Meta.Name, "fulltext") {
						t.Errorf("the backup carries full-text table %s", tb.Meta.Name)
					}
				}
				dst := testdb.MustOpen(t, to)
				importFile(t, dst, path)
				for _, query := range []string{"plain", "unicode ünïcödé 中文", "double quotes", "large text", "control"} {
					want := keywordKeys(t, src, query)
					if len(want) == 0 {
						t.Fatalf("query %q finds nothing in the source: the fixture has no searchable text", query)
					}
					if got := keywordKeys(t, dst, query); !slices.Equal(got, want) {
						t.Errorf("query %q: restored database finds %v, the source %v", query, got, want)
					}
				}
			})
		}
	}
}

// keywordKeys returns the sorted keys a keyword query finds in the grove.
func keywordKeys(t *testing.T, db *sqlstore.DB, query string) []string {
	t.Helper()
	hits, err := db.KeywordSearch(context.Background(), query, hypha.MaxVectorTopK, hypha.VectorFilter{GroveID: groveID})
	if err != nil {
		t.Fatalf("KeywordSearch(%q): %v", query, err)
	}
	var out []string
	for _, h := range hits {
		out = append(out, h.Key.Table.Name+"/"+h.Key.MachineID+"/"+h.Key.ID)
	}
	slices.Sort(out)
	return out
}
