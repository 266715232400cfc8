package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
)

// migrationsTable records applied steps; it is created by the first Apply.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY NOT NULL,
	name TEXT NOT NULL,
	checksum TEXT NOT NULL,
	applied_at INTEGER NOT NULL
)`

var _ migrate.Driver = (*DB)(nil)

// Lock takes the engine's migration lock.
func (db *DB) Lock(ctx context.Context) (func(), error) {
	return db.dialect.LockMigrations(ctx, db.write)
}

// Applied lists applied migration steps.
func (db *DB) Applied(ctx context.Context) ([]migrate.Applied, error) {
	return applied(ctx, db, db.write)
}

func applied(ctx context.Context, db *DB, q Querier) ([]migrate.Applied, error) {
	ok, err := db.dialect.TableExists(ctx, q, "schema_migrations")
	if err != nil {
		return nil, db.wrap(err, "read schema version")
	}
	if !ok {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, db.wrap(err, "read schema version")
	}
	defer rows.Close()
	var out []migrate.Applied
	for rows.Next() {
		var a migrate.Applied
		var at int64
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum, &at); err != nil {
			return nil, db.wrap(err, "read schema version")
		}
		a.AppliedAt = time.Unix(at, 0).UTC()
		out = append(out, a)
	}
	return out, db.wrap(rows.Err(), "read schema version")
}

// Apply runs one step and records it in the same transaction.
func (db *DB) Apply(ctx context.Context, s migrate.Step, fn func(migrate.Conn) error) (bool, error) {
	tx, err := db.dialect.BeginMigration(ctx, db.write)
	if err != nil {
		return false, db.wrap(err, "begin migration")
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, migrationsTable); err != nil {
		return false, db.wrap(err, "create schema_migrations")
	}
	var n int
	if err := tx.QueryRowContext(ctx, db.bind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), s.Version).Scan(&n); err != nil {
		return false, db.wrap(err, "read schema version")
	}
	if n > 0 {
		return false, nil
	}
	if err := fn(&migrationConn{db: db, tx: tx}); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, db.bind(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`),
		s.Version, s.Name, s.Checksum, db.clock().Unix()); err != nil {
		return false, db.wrap(err, "record migration")
	}
	if err := tx.Commit(); err != nil {
		return false, db.wrap(err, "commit migration")
	}
	return true, nil
}

type migrationConn struct {
	db *DB
	tx *sql.Tx
}

func (c *migrationConn) Exec(ctx context.Context, query string) error {
	_, err := c.tx.ExecContext(ctx, query)
	return err
}

func (c *migrationConn) ColumnExists(ctx context.Context, table, column string) (bool, error) {
	return c.db.dialect.ColumnExists(ctx, c.tx, table, column)
}

func (c *migrationConn) IndexExists(ctx context.Context, name string) (bool, error) {
	return c.db.dialect.IndexExists(ctx, c.tx, name)
}

// MigrationStatus compares the database with the engine's steps.
func (db *DB) MigrationStatus(ctx context.Context) (*migrate.Report, error) {
	return migrate.Status(ctx, db, db.steps)
}

// Migrate applies pending steps up to target (0: all).
func (db *DB) Migrate(ctx context.Context, target int) ([]migrate.Step, error) {
	return migrate.Up(ctx, db, db.steps, target)
}

// DescribeSchema returns the normalized live schema.
func (db *DB) DescribeSchema(ctx context.Context) (*hypha.SchemaDescription, error) {
	d, err := describeSchema(ctx, db.dialect, db.write)
	if err != nil {
		return nil, db.wrap(err, "describe schema")
	}
	return d, nil
}

// BackupTables lists the tables a backup carries, from the live schema.
func (db *DB) BackupTables(ctx context.Context) ([]hypha.BackupTable, error) {
	return backupTables(ctx, db, db.write)
}

func backupTables(ctx context.Context, db *DB, q Querier) ([]hypha.BackupTable, error) {
	d, err := describeSchema(ctx, db.dialect, q)
	if err != nil {
		return nil, db.wrap(err, "describe schema")
	}
	var out []hypha.BackupTable
	for _, t := range d.Tables {
		if t.Name == "schema_migrations" {
			continue
		}
		if len(t.PrimaryKey) == 0 {
			return nil, fmt.Errorf("table %s has no primary key and cannot be exported", t.Name)
		}
		bt := hypha.BackupTable{Name: t.Name, Key: t.PrimaryKey}
		for _, c := range t.Columns {
			bt.Columns = append(bt.Columns, c.Name)
			bt.Types = append(bt.Types, c.Type)
		}
		out = append(out, bt)
	}
	return out, nil
}

// describeSchema introspects every table in the normalized form, the
// search tables excepted (see searchTables).
func describeSchema(ctx context.Context, d Dialect, q Querier) (*hypha.SchemaDescription, error) {
	rows, err := q.QueryContext(ctx, d.TableNames())
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		if !searchTables[n] {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := &hypha.SchemaDescription{}
	for _, name := range names {
		t, err := d.DescribeTable(ctx, q, name)
		if err != nil {
			return nil, fmt.Errorf("describe %s: %w", name, err)
		}
		out.Tables = append(out.Tables, *t)
	}
	return out, nil
}
