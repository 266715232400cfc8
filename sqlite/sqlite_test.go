package sqlite_test

import (
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/storetest"
)

// TestStore runs the store behaviour suite on SQLite files in t.TempDir().
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) hypha.Store {
		db := testdb.Open(t, "sqlite", clock)
		if _, err := db.Migrate(t.Context(), 0); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if db.Engine() != "sqlite" {
			t.Fatalf("Engine() = %q, want sqlite", db.Engine())
		}
		return db
	})
}
