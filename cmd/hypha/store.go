package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/postgres"
	"github.com/hyphateam/hypha/sqlite"
)

// parseDB tells the engine from the --db value: postgres:// and
// postgresql:// URLs are PostgreSQL; sqlite:// or file: URLs and plain paths
// are SQLite files. It returns the engine and the path or URL to open.
func parseDB(db string) (engine, target string, err error) {
	lower := strings.ToLower(db)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		if _, err := url.Parse(db); err != nil {
			return "", "", fmt.Errorf("invalid PostgreSQL URL: %v", err)
		}
		return "postgres", db, nil
	case strings.HasPrefix(lower, "sqlite://"):
		return "sqlite", db[len("sqlite://"):], nil
	case strings.HasPrefix(lower, "file:"):
		u, err := url.Parse(db)
		if err != nil {
			return "", "", fmt.Errorf("invalid file URL: %v", err)
		}
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		return "sqlite", p, nil
	}
	if i := strings.Index(db, "://"); i > 0 && !strings.ContainsAny(db[:i], `/\.`) {
		return "", "", fmt.Errorf("unknown database scheme %q: use a file path for SQLite (e.g. ./hypha-data/hypha.db) or postgres://user@host:5432/db for PostgreSQL", db[:i])
	}
	return "sqlite", db, nil
}

// openStore opens the configured database without migrating it. Commands
// that only read refuse a SQLite file that does not exist rather than create
// an empty one.
func (m *Main) openStore(ctx context.Context) (*sqlstore.DB, string, error) {
	return m.openStoreMode(ctx, false)
}

// openStoreForWrite opens the configured database, creating a SQLite file
// if there is none.
func (m *Main) openStoreForWrite(ctx context.Context) (*sqlstore.DB, string, error) {
	return m.openStoreMode(ctx, true)
}

func (m *Main) openStoreMode(ctx context.Context, create bool) (*sqlstore.DB, string, error) {
	engine, target, err := parseDB(m.Config.DB)
	if err != nil {
		return nil, "", err
	}
	if engine == "sqlite" && !create {
		if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no database at %s: start 'hypha serve' or run 'hypha migrate up' to create it, or point --db at an existing one", target)
		}
	}
	switch engine {
	case "postgres":
		db, err := postgres.Open(ctx, target, postgres.Options{})
		return db, engine, err
	default:
		db, err := sqlite.Open(ctx, target, sqlite.Options{Synchronous: m.Config.SQLiteSynchronous})
		return db, engine, err
	}
}

// withStore opens the configured database (creating a SQLite file only when
// write is set), runs fn and closes it.
func (m *Main) withStore(ctx context.Context, write bool, fn func(db *sqlstore.DB, engine string) error) error {
	db, engine, err := m.openStoreMode(ctx, write)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db, engine)
}
