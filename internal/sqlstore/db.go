// Package sqlstore implements the hypha store interfaces once over
// database/sql for both engines. The sqlite and postgres packages open the
// connections, supply a Dialect (placeholders, error classes, introspection,
// locks) and their own migration files; every query here is written in the
// SQL both engines accept (ON CONFLICT, RETURNING, IS DISTINCT FROM, row
// values), with identifiers only from declared allowlists and values only as
// placeholders.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/migrate"
)

// Dialect is what differs between engines.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Rebind rewrites "?" placeholders into the engine's form.
	Rebind(query string) string
	// Classify maps a driver error to a hypha error code, or "" if unknown.
	Classify(err error) string
	ColumnExists(ctx context.Context, q Querier, table, column string) (bool, error)
	IndexExists(ctx context.Context, q Querier, name string) (bool, error)
	TableExists(ctx context.Context, q Querier, name string) (bool, error)
	// TableNames is the query that lists the database's tables by name.
	TableNames() string
	// DescribeTable introspects one table in the normalized form shared
	// by both engines; a table that does not exist has no columns.
	DescribeTable(ctx context.Context, q Querier, name string) (*hypha.TableDescription, error)
	// LockMigrations takes the cross-process migration lock.
	LockMigrations(ctx context.Context, db *sql.DB) (release func(), err error)
	// BeginMigration opens the transaction one migration step runs in.
	BeginMigration(ctx context.Context, db *sql.DB) (*sql.Tx, error)
	// BeginSnapshot opens a consistent read-only transaction for export.
	BeginSnapshot(ctx context.Context, db *sql.DB) (*sql.Tx, error)
	// AfterImport fixes derived state (sequences) after rows were imported.
	AfterImport(ctx context.Context, db *sql.DB, tables []hypha.BackupTable) error
	// LockRows is appended to a SELECT that picks rows a transaction then
	// changes: PostgreSQL locks them in the SELECT's order (" FOR UPDATE",
	// with " SKIP LOCKED" when skipLocked, so concurrent queue consumers
	// pass each other's rows); SQLite returns "": its one writer already
	// serialises write transactions.
	LockRows(skipLocked bool) string
	// ClaimPlan returns statements run in a claim's transaction before it,
	// steering the planner to walk the claim index in order instead of
	// sorting every due job (PostgreSQL picks a sort whenever the queue
	// table's statistics are stale, as after any bulk load).
	ClaimPlan() []string
	// Analyze returns the statement that refreshes planner statistics of
	// the quoted tables, or "" if the engine needs none.
	Analyze(quotedTables []string) string
	// FullText is the engine's keyword index.
	FullText() FullText
}

// Querier is the part of *sql.DB and *sql.Tx the queries use.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is a hypha.Store on one engine.
type DB struct {
	write     *sql.DB // the only connection pool that writes (SQLite: one connection)
	read      *sql.DB // read pool; the same pool as write on PostgreSQL
	dialect   Dialect
	steps     []migrate.Step
	clock     func() time.Time
	onClose   func() error
	closeOnce sync.Once
	rebind    sync.Map     // query → rebound query (at most maxRebound)
	rebound   atomic.Int64 // statements stored in rebind, or tried to be
	// stmts caches prepared statements of the separate read pool (SQLite):
	// its driver prepares a statement on every call otherwise, and parsing
	// was a fifth of a search's CPU time. PostgreSQL's driver caches its
	// own. At most maxReadStmts are kept; others run unprepared.
	stmts  sync.Map // bound query → *sql.Stmt
	nstmts atomic.Int64
}

// maxReadStmts bounds the cached statements (queries with IN lists of
// every length are distinct statements).
const maxReadStmts = 2000

var _ hypha.Store = (*DB)(nil)
var _ hypha.Backuper = (*DB)(nil)

// Options configures New.
type Options struct {
	Clock   func() time.Time // defaults to time.Now
	OnClose func() error     // engine cleanup run before the pools close
}

// New returns a store over the given pools. It takes ownership of both.
func New(write, read *sql.DB, d Dialect, steps []migrate.Step, opts Options) *DB {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &DB{write: write, read: read, dialect: d, steps: steps, clock: opts.Clock, onClose: opts.OnClose}
}

// Engine names the engine.
func (db *DB) Engine() string { return db.dialect.Name() }

// Now is the store's clock.
func (db *DB) Now() time.Time { return db.clock() }

// Steps returns the engine's migration steps.
func (db *DB) Steps() []migrate.Step { return db.steps }

// WriteDB returns the writing pool, for benchmarks and tests that measure
// the raw engine beside the store.
func (db *DB) WriteDB() *sql.DB { return db.write }

// Close closes both pools; calling it again does nothing.
func (db *DB) Close() error {
	err := errClosed
	db.closeOnce.Do(func() { err = db.close() })
	if err == errClosed {
		return nil
	}
	return err
}

var errClosed = errors.New("already closed")

func (db *DB) close() error {
	db.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	var err error
	if db.onClose != nil {
		err = db.onClose()
	}
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Analyze refreshes planner statistics of tables (names from allowlists).
func (db *DB) Analyze(ctx context.Context, tables []string) error {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = quote(t)
	}
	stmt := db.dialect.Analyze(quoted)
	if stmt == "" || len(tables) == 0 {
		return nil
	}
	_, err := db.write.ExecContext(ctx, stmt)
	return db.wrap(err, "analyze")
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return db.wrap(err, "ping database")
	}
	return nil
}

// InTx runs fn in one read-write transaction.
func (db *DB) InTx(ctx context.Context, fn func(hypha.Queries) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(err, "begin transaction")
	}
	committed := false
	defer func() {
		// A panic in fn must not keep the transaction (on SQLite the one
		// writer connection) open until ctx ends: roll back, then let the
		// panic go on.
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&queries{db: db, q: tx}); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return db.wrap(err, "commit")
	}
	return nil
}

// reader returns queries on the read pool.
func (db *DB) reader() *queries { return &queries{db: db, q: db.read} }

// writeTx runs fn in a write transaction, for single store calls.
func (db *DB) writeTx(ctx context.Context, fn func(q *queries) error) error {
	return db.InTx(ctx, func(tx hypha.Queries) error { return fn(tx.(*queries)) })
}

// queries implements hypha.Queries on a pool or a transaction.
type queries struct {
	db *DB
	q  Querier
	// searchSeq is the search change sequence number this transaction
	// took (nextSearchSeq), 0 until it takes one.
	searchSeq int64
}

func (q *queries) now() int64 { return q.db.clock().Unix() }

func (q *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.q.ExecContext(ctx, q.db.bind(query), args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = q.db.bind(query)
	if st := q.readStmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.q.QueryContext(ctx, query, args...)
}

func (q *queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = q.db.bind(query)
	if st := q.readStmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.q.QueryRowContext(ctx, query, args...)
}

// readStmt returns the cached prepared statement of a bound query when q
// runs on a read pool of its own, nil otherwise (or when the cache is full,
// or preparing failed: the unprepared call then reports the error).
func (q *queries) readStmt(ctx context.Context, query string) *sql.Stmt {
	db := q.db
	if db.read == db.write || q.q != Querier(db.read) {
		return nil
	}
	if v, ok := db.stmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	if db.nstmts.Load() >= maxReadStmts {
		return nil
	}
	st, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	db.nstmts.Add(1)
	return st
}

func (db *DB) bind(query string) string {
	if v, ok := db.rebind.Load(query); ok {
		return v.(string)
	}
	r := db.dialect.Rebind(query)
	// Multi-row statements differ by their row count, so the distinct
	// texts are many (~90 MiB over every table and batch size): remember
	// the first maxRebound, rebind the rest each time (a string scan).
	if db.rebound.Add(1) <= maxRebound {
		db.rebind.Store(query, r)
	}
	return r
}

// maxRebound bounds the statements whose rebound text is remembered.
const maxRebound = 2048

// wrap translates a driver error into a hypha error with a short context.
func (db *DB) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var he *hypha.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return hypha.WrapError(hypha.ENotFound, what+": not found", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch code := db.dialect.Classify(err); code {
	case "":
		return fmt.Errorf("%s: %w", what, err)
	case hypha.EUnavailable:
		return hypha.WrapError(code, what+": database unavailable", err)
	default:
		return hypha.WrapError(code, what, err)
	}
}

// quote quotes an identifier from a declared allowlist.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// placeholders returns "(?, ?, …)" with n marks.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// valuesRows returns n copies of one VALUES row such as "(?, ?)", joined
// with commas, for multi-row inserts.
func valuesRows(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// chunks calls fn with successive index ranges of at most size items.
func chunks(n, size int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		if err := fn(lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// nullString maps "" to NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullInt maps 0 to NULL.
func nullInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
