package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testdb"
)

// TestBind_CacheIsBounded: statements differing only by their row count
// are many; the store remembers at most MaxRebound rebound texts and still
// rebinds every other statement correctly.
func TestBind_CacheIsBounded(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := testdb.Open(t, engine, nil)
			var n int
			for i := range sqlstore.MaxRebound + 500 {
				q := "SELECT ?" + strings.Repeat(", ?", i%50) + fmt.Sprintf(" /* %d */", i)
				var got string
				got, n = sqlstore.Bind(db, q)
				if engine == "postgres" && !strings.Contains(got, fmt.Sprintf("$%d", i%50+1)) {
					t.Fatalf("statement %d rebound as %q", i, got)
				}
			}
			if n > sqlstore.MaxRebound {
				t.Fatalf("the store remembers %d rebound statements, over %d", n, sqlstore.MaxRebound)
			}
		})
	}
}
