package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hyphateam/hypha"
)

// snapshot is a consistent read-only transaction over the whole database.
type snapshot struct {
	db      *DB
	tx      *sql.Tx
	version int
	tables  []hypha.BackupTable
}

// Snapshot opens a consistent view for export.
func (db *DB) Snapshot(ctx context.Context) (hypha.Snapshot, error) {
	tx, err := db.dialect.BeginSnapshot(ctx, db.read)
	if err != nil {
		return nil, db.wrap(err, "begin snapshot")
	}
	s := &snapshot{db: db, tx: tx}
	applied, err := applied(ctx, db, tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	for _, a := range applied {
		s.version = max(s.version, a.Version)
	}
	if s.tables, err = backupTables(ctx, db, tx); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return s, nil
}

func (s *snapshot) SchemaVersion() int          { return s.version }
func (s *snapshot) Tables() []hypha.BackupTable { return s.tables }
func (s *snapshot) Close() error                { return s.tx.Rollback() }

// Scan streams one table's rows in primary-key order.
func (s *snapshot) Scan(ctx context.Context, table string, fn func(row []any) error) error {
	var t *hypha.BackupTable
	for i := range s.tables {
		if s.tables[i].Name == table {
			t = &s.tables[i]
		}
	}
	if t == nil {
		return hypha.Errorf(hypha.ENotFound, "no table %q in the snapshot", table)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c)
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = quote(k)
	}
	rows, err := s.tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(cols, ", "), quote(t.Name), strings.Join(keys, ", ")))
	if err != nil {
		return s.db.wrap(err, "export "+table)
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return s.db.wrap(err, "export "+table)
		}
		for i, typ := range t.Types {
			vals[i] = portable(typ, vals[i])
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return s.db.wrap(rows.Err(), "export "+table)
}

// importMerges are the conflict clauses of tables whose existing row an
// import raises instead of keeping: kv_revision is a counter that must never
// go back, and the migrations already create it at 0.
var importMerges = map[string]string{
	"kv_revision": " ON CONFLICT (id) DO UPDATE SET revision = excluded.revision WHERE kv_revision.revision < excluded.revision",
}

// ImportRows inserts rows in one transaction, skipping existing keys.
func (db *DB) ImportRows(ctx context.Context, table string, columns []string, rows [][]any) (int64, error) {
	// Describe only this table: describing the whole schema for every
	// batch cost about 20 ms a call on PostgreSQL.
	t, err := db.dialect.DescribeTable(ctx, db.write, table)
	if err != nil {
		return 0, db.wrap(err, "describe "+table)
	}
	// The same tables as BackupTables lists: with a primary key (no views),
	// neither the migrations' bookkeeping nor SQLite's own.
	if table == "schema_migrations" || strings.HasPrefix(table, "sqlite_") || searchTables[table] || len(t.Columns) == 0 || len(t.PrimaryKey) == 0 {
		return 0, hypha.Errorf(hypha.EInvalid, "the database has no table %q: is it older than the export?", table)
	}
	known := map[string]hypha.ColumnType{}
	for _, c := range t.Columns {
		known[c.Name] = c.Type
	}
	quoted := make([]string, len(columns))
	types := make([]hypha.ColumnType, len(columns))
	for i, c := range columns {
		typ, ok := known[c]
		if !ok {
			return 0, hypha.Errorf(hypha.EInvalid, "the database has no column %s.%s: is it older than the export?", table, c)
		}
		quoted[i], types[i] = quote(c), typ
	}
	var inserted int64
	err = db.InTx(ctx, func(tx hypha.Queries) error {
		q := tx.(*queries)
		per := max(1, maxParams/len(columns))
		return chunks(len(rows), per, func(lo, hi int) error {
			var b strings.Builder
			fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", quote(table), strings.Join(quoted, ", "))
			args := make([]any, 0, (hi-lo)*len(columns))
			b.WriteString(valuesRows(hi-lo, placeholders(len(columns))))
			for j := lo; j < hi; j++ {
				if len(rows[j]) != len(columns) {
					return hypha.Errorf(hypha.EInvalid, "row of %s has %d values for %d columns", table, len(rows[j]), len(columns))
				}
				for i, v := range rows[j] {
					args = append(args, portable(types[i], v))
				}
			}
			if merge, ok := importMerges[table]; ok {
				b.WriteString(merge)
			} else {
				b.WriteString(" ON CONFLICT DO NOTHING")
			}
			res, err := q.exec(ctx, b.String(), args...)
			if err != nil {
				return db.wrap(err, "import "+table)
			}
			n, _ := res.RowsAffected()
			inserted += n
			return nil
		})
	})
	return inserted, err
}

// FinishImport updates derived engine state after an import.
func (db *DB) FinishImport(ctx context.Context) error {
	tables, err := db.BackupTables(ctx)
	if err != nil {
		return err
	}
	if err := db.dialect.AfterImport(ctx, db.write, tables); err != nil {
		return db.wrap(err, "finish import")
	}
	// A backup without kv_revision (or with one behind its entries) must
	// not let new writes reuse a restored version.
	_, err = db.write.ExecContext(ctx, `UPDATE kv_revision SET revision = (SELECT MAX(version) FROM kv)
		WHERE id = 1 AND revision < (SELECT MAX(version) FROM kv)`)
	return db.wrap(err, "finish import")
}
