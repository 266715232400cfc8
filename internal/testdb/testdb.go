// Package testdb opens real, isolated databases for tests: a SQLite file in
// a temporary directory, and a PostgreSQL schema of its own (dropped at the
// end) when HYPHA_TEST_POSTGRES_URL is set. When HYPHA_TEST_REQUIRE_POSTGRES
// is set (CI sets it), a missing PostgreSQL fails the test instead of
// skipping it.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/sqlite"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Engines lists the engines a test should run on: always "sqlite", and
// "postgres" when configured (or required).
func Engines() []string {
	if os.Getenv("HYPHA_TEST_POSTGRES_URL") != "" || os.Getenv("HYPHA_TEST_REQUIRE_POSTGRES") != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Open opens an empty, unmigrated database of the given engine.
func Open(tb testing.TB, engine string, clock func() time.Time) *sqlstore.DB {
	tb.Helper()
	switch engine {
	case "sqlite":
		return OpenSQLite(tb, filepath.Join(tb.TempDir(), "hypha.db"), clock)
	case "postgres":
		return OpenPostgres(tb, clock)
	}
	tb.Fatalf("unknown engine %q", engine)
	return nil
}

// MustOpen opens a migrated, empty database of the given engine.
func MustOpen(tb testing.TB, engine string) *sqlstore.DB {
	tb.Helper()
	db := Open(tb, engine, nil)
	if _, err := db.Migrate(context.Background(), 0); err != nil {
		tb.Fatalf("migrate %s: %v", engine, err)
	}
	return db
}

// OpenSQLite opens the SQLite database at path, closed at cleanup.
func OpenSQLite(tb testing.TB, path string, clock func() time.Time) *sqlstore.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Clock: clock})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// PostgresURL returns the URL of the test server, skipping (or failing, when
// PostgreSQL is required) if there is none.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("HYPHA_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("HYPHA_TEST_REQUIRE_POSTGRES") != "" {
			tb.Fatal("HYPHA_TEST_REQUIRE_POSTGRES is set but HYPHA_TEST_POSTGRES_URL is empty")
		}
		tb.Skip("PostgreSQL tests skipped: set HYPHA_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	return u
}

// NewSchema creates a fresh schema on the test server, dropped at cleanup,
// and returns a URL whose search_path selects it.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "hypha_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("create schema (is PostgreSQL up at %s?): %v", base, err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse HYPHA_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenPostgres opens a store on a fresh schema, closed at cleanup.
func OpenPostgres(tb testing.TB, clock func() time.Time) *sqlstore.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), NewSchema(tb), postgres.Options{Clock: clock, MaxConns: 4})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
