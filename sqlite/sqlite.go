// Package sqlite opens the embedded store: a SQLite file through the pure-Go
// modernc.org/sqlite driver in WAL mode, with one writer connection (SQLite
// allows one writer at a time; a single connection avoids lock contention
// inside the process) and a pool of query-only readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/migrate"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Steps returns the embedded migration steps of the SQLite engine.
func Steps() ([]migrate.Step, error) { return migrate.Load(migrationFS, "migrations") }

// Options configures Open.
type Options struct {
	// Synchronous is the PRAGMA synchronous level: "NORMAL" (default;
	// survives a process crash, may lose the last transactions on power
	// loss) or "FULL" (fsync on every commit).
	Synchronous string
	// BusyTimeout is how long a writer waits for another process's lock.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool (default: 2 × CPUs, at least 4).
	ReadConns int
	// CheckpointInterval is how often the background checkpointer copies
	// the WAL into the database file (default 250 ms).
	CheckpointInterval time.Duration
	Clock              func() time.Time
}

// Open opens (creating if needed) the SQLite database at path. It does not
// migrate; call Migrate.
func Open(ctx context.Context, path string, opts Options) (*sqlstore.DB, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "NORMAL"
	}
	sync := strings.ToUpper(opts.Synchronous)
	if sync != "NORMAL" && sync != "FULL" {
		return nil, hypha.Errorf(hypha.EInvalid, "sqlite synchronous must be NORMAL or FULL, not %q", opts.Synchronous)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.NumCPU())
	}
	steps, err := Steps()
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory %s: %w", dir, err)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a database file", path)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_synchronous=%s", opts.BusyTimeout.Milliseconds(), sync)
	// The writer checkpoints only as a safety net (every 64 MiB of WAL); a
	// background checkpointer on its own connection does the regular work,
	// so commits do not pay for copying pages back into the database file.
	// 16 KiB pages (set when the file is created) hold whole records with
	// their vectors and halve the WAL frames a commit writes.
	write, err := sql.Open("sqlite", base+common+"&_journal_mode=WAL&_txlock=immediate&_pragma=wal_autocheckpoint(4096)&_pragma=page_size(16384)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := check(ctx, write, path); err != nil {
		write.Close()
		return nil, err
	}
	// Readers map the file (up to 1 GiB) instead of reading pages with a
	// system call each: a keyword search touches thousands of index pages,
	// and the pread calls were an eighth of its time. The OS page cache is
	// shared, so the mapping costs no memory of its own; each reader also
	// keeps up to 16 MiB of pages of its own.
	read, err := sql.Open("sqlite", base+common+"&_query_only=1&_pragma=mmap_size(1073741824)&_pragma=cache_size(-16384)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(opts.ReadConns)
	read.SetMaxIdleConns(opts.ReadConns)
	ckpt, err := sql.Open("sqlite", base+common)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	stop := startCheckpointer(ckpt, opts.CheckpointInterval)
	return sqlstore.New(write, read, dialect{}, steps, sqlstore.Options{Clock: opts.Clock, OnClose: stop}), nil
}

// startCheckpointer runs PASSIVE WAL checkpoints every interval on its own
// connection (they never block the writer or readers) and returns a function
// that stops it, runs a last checkpoint and closes the connection.
func startCheckpointer(db *sql.DB, interval time.Duration) func() error {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
	return func() error {
		close(done)
		<-stopped
		_, _ = db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		return db.Close()
	}
}

// check makes sure the file is a usable SQLite database in WAL mode.
func check(ctx context.Context, db *sql.DB, path string) error {
	var mode string
	err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if err == nil {
		var n int
		err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema").Scan(&n)
	}
	if err != nil {
		var se *msqlite.Error
		if errors.As(err, &se) {
			switch se.Code() & 0xff {
			case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
				return fmt.Errorf("%s is not a SQLite database (or it is corrupt): %w", path, err)
			case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_AUTH:
				return fmt.Errorf("cannot open %s for reading and writing; check its permissions: %w", path, err)
			case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
				return fmt.Errorf("%s is locked by another process: %w", path, err)
			}
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open %s: could not switch to WAL mode (journal_mode is %s)", path, mode)
	}
	return nil
}

// dialect is the SQLite flavour of the shared store.
type dialect struct{}

func (dialect) Name() string           { return "sqlite" }
func (dialect) Rebind(q string) string { return q }

func (dialect) Classify(err error) string {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
		return hypha.EUnavailable
	case sqlite3.SQLITE_CONSTRAINT:
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return hypha.EConflict
		}
		return hypha.EInvalid
	}
	return ""
}

func (dialect) ColumnExists(ctx context.Context, q sqlstore.Querier, table, column string) (bool, error) {
	return exists(ctx, q, `SELECT COUNT(*) FROM pragma_table_xinfo(?) WHERE name = ?`, table, column)
}

func (dialect) IndexExists(ctx context.Context, q sqlstore.Querier, name string) (bool, error) {
	return exists(ctx, q, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, name)
}

func (dialect) TableExists(ctx context.Context, q sqlstore.Querier, name string) (bool, error) {
	return exists(ctx, q, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name)
}

func exists(ctx context.Context, q sqlstore.Querier, query string, args ...any) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n > 0, err
}

// LockMigrations does nothing: each step runs in a BEGIN IMMEDIATE
// transaction (the same as EXCLUSIVE in WAL mode) that re-checks whether the
// step was applied, which serialises concurrent migrators per step.
func (dialect) LockMigrations(context.Context, *sql.DB) (func(), error) { return func() {}, nil }

func (dialect) BeginMigration(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	return db.BeginTx(ctx, nil)
}

func (dialect) BeginSnapshot(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	// A deferred transaction takes its WAL snapshot at the first read.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema").Scan(&n); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

func (dialect) AfterImport(context.Context, *sql.DB, []hypha.BackupTable) error { return nil }

// LockRows needs no clause: the one writer connection serialises write
// transactions, so rows a transaction picks cannot change under it.
func (dialect) LockRows(bool) string { return "" }

// ClaimPlan needs nothing: SQLite walks the claim index on its own.
func (dialect) ClaimPlan() []string { return nil }

// Analyze needs nothing: without sqlite_stat1 SQLite plans by its
// heuristics, which already use the primary keys and indexes.
func (dialect) Analyze([]string) string { return "" }

// OpenPlain opens path as a developer would without Hypha: WAL mode, the
// same synchronous level, SQLite's default checkpointing and one connection.
// Benchmarks use it as the raw baseline the store layer is measured against.
func OpenPlain(path, synchronous string) (*sql.DB, error) {
	if synchronous == "" {
		synchronous = "NORMAL"
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_busy_timeout=10000&_journal_mode=WAL&_synchronous="+synchronous)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
