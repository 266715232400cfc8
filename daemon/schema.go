package daemon

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/hyphateam/hypha/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Steps returns the embedded migration steps of a grove's local store. They
// are linted by the migrate engine like the server's (expand-only,
// idempotent, an index alone in its step) and tracked in their own table,
// daemon_migrations, with their checksums.
func Steps() ([]migrate.Step, error) { return migrate.Load(migrationFS, "migrations") }

const migrationsTable = `CREATE TABLE IF NOT EXISTS daemon_migrations (
	version INTEGER PRIMARY KEY NOT NULL,
	name TEXT NOT NULL,
	checksum TEXT NOT NULL,
	applied_at INTEGER NOT NULL
)`

// storeDriver applies steps to a local store for the migrate engine.
type storeDriver struct{ s *Store }

var _ migrate.Driver = storeDriver{}

// Lock does nothing: each step runs in a BEGIN IMMEDIATE transaction that
// re-checks whether it was applied, which serialises migrators per step (as
// on the server's SQLite).
func (storeDriver) Lock(context.Context) (func(), error) { return func() {}, nil }

func (d storeDriver) Applied(ctx context.Context) ([]migrate.Applied, error) {
	var n int
	if err := d.s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'daemon_migrations'`).Scan(&n); err != nil {
		return nil, d.s.wrap(err, "read local schema version")
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := d.s.db.QueryContext(ctx, `SELECT version, name, checksum, applied_at FROM daemon_migrations ORDER BY version`)
	if err != nil {
		return nil, d.s.wrap(err, "read local schema version")
	}
	defer rows.Close()
	var out []migrate.Applied
	for rows.Next() {
		var a migrate.Applied
		var at int64
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum, &at); err != nil {
			return nil, d.s.wrap(err, "read local schema version")
		}
		a.AppliedAt = time.Unix(at, 0).UTC()
		out = append(out, a)
	}
	return out, d.s.wrap(rows.Err(), "read local schema version")
}

func (d storeDriver) Apply(ctx context.Context, s migrate.Step, fn func(migrate.Conn) error) (bool, error) {
	tx, err := d.s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, d.s.wrap(err, "begin migration")
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, migrationsTable); err != nil {
		return false, d.s.wrap(err, "create daemon_migrations")
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM daemon_migrations WHERE version = ?`, s.Version).Scan(&n); err != nil {
		return false, d.s.wrap(err, "read local schema version")
	}
	if n > 0 {
		return false, nil
	}
	if err := fn(migrationConn{tx}); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO daemon_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
		s.Version, s.Name, s.Checksum, d.s.now().Unix()); err != nil {
		return false, d.s.wrap(err, "record migration")
	}
	return true, d.s.wrap(tx.Commit(), "commit migration")
}

type migrationConn struct{ tx *sql.Tx }

func (c migrationConn) Exec(ctx context.Context, query string) error {
	_, err := c.tx.ExecContext(ctx, query)
	return err
}

func (c migrationConn) ColumnExists(ctx context.Context, table, column string) (bool, error) {
	var n int
	err := c.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_xinfo(?) WHERE name = ?`, table, column).Scan(&n)
	return n > 0, err
}

func (c migrationConn) IndexExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := c.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&n)
	return n > 0, err
}

// SchemaStatus compares the local store with this binary's steps.
func (s *Store) SchemaStatus(ctx context.Context) (*migrate.Report, error) {
	return migrate.Status(ctx, storeDriver{s}, s.steps)
}

// Migrate applies the pending local steps up to target (0: all).
func (s *Store) Migrate(ctx context.Context, target int) ([]migrate.Step, error) {
	return migrate.Up(ctx, storeDriver{s}, s.steps, target)
}

// SchemaProblem explains, for grove, why a local schema report keeps the
// grove from syncing, and what to run; "" when the schema is usable.
func SchemaProblem(grove string, r *migrate.Report) string {
	fix := fmt.Sprintf("run `hypha daemon migrate --grove %s`", grove)
	switch r.State {
	case migrate.StateEmpty:
		return fmt.Sprintf("the local store of grove %s has no schema; this binary needs version %d: %s", grove, r.Target, fix)
	case migrate.StateBehind:
		ids := make([]string, len(r.Pending))
		for i, st := range r.Pending {
			ids[i] = st.ID()
		}
		return fmt.Sprintf("the local store of grove %s is at schema version %d but this binary needs version %d (pending: %s): %s",
			grove, r.Current, r.Target, strings.Join(ids, ", "), fix)
	case migrate.StateIncompatible:
		return fmt.Sprintf("the local store of grove %s was changed incompatibly (%s); restore it from a backup or use the binary that made it",
			grove, strings.Join(r.Changed, "; "))
	}
	return ""
}
