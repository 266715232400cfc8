package postgres_test

import (
	"testing"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/testdb"
	"github.com/hyphateam/hypha/storetest"
)

// TestStore runs the store behaviour suite on PostgreSQL, each subtest in a
// fresh schema. Without HYPHA_TEST_POSTGRES_URL it is skipped, or fails when
// HYPHA_TEST_REQUIRE_POSTGRES is set.
func TestStore(t *testing.T) {
	testdb.PostgresURL(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) hypha.Store {
		db := testdb.Open(t, "postgres", clock)
		if _, err := db.Migrate(t.Context(), 0); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if db.Engine() != "postgres" {
			t.Fatalf("Engine() = %q, want postgres", db.Engine())
		}
		return db
	})
}
