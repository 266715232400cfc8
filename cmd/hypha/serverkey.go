package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/seal"
	"github.com/hyphateam/hypha/internal/sqlstore"
)

// serverKeyEnv holds the server key itself (base64 or hex). It is read from
// the environment only, never from a flag (visible in the process list) or
// the config file.
const serverKeyEnv = "HYPHA_SERVER_KEY"

// serverKeyName is the key file's name beside the SQLite database.
const serverKeyName = "server.key"

// serverKeyPath is the key file the configuration names: server_key_file,
// else server.key beside the SQLite file. It is "" for PostgreSQL without
// server_key_file: several servers share that database, so a file made by
// one would not be the others' key.
func (m *Main) serverKeyPath() (string, error) {
	if p := strings.TrimSpace(m.Config.ServerKeyFile); p != "" {
		return p, nil
	}
	engine, target, err := parseDB(m.Config.DB)
	if err != nil || engine != "sqlite" {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), serverKeyName), nil
}

// loadServerKey returns the server key: HYPHA_SERVER_KEY, else the key
// file (see serverKeyPath), created on first use. It returns nil, nil when
// none is configured (PostgreSQL without either): what needs the key then
// fails with a message saying how to set one. The key is never logged;
// its id is.
//
// A missing key file is not created for a database that already holds
// sealed values: those were sealed under a key that is now lost or
// elsewhere, and a new one would hide that until the values are read.
func (m *Main) loadServerKey(ctx context.Context, db *sqlstore.DB) (*seal.Key, error) {
	env := strings.TrimSpace(m.Getenv(serverKeyEnv))
	if env != "" && strings.TrimSpace(m.Config.ServerKeyFile) != "" {
		return nil, fmt.Errorf("both %s and server_key_file are set: give the server key one way", serverKeyEnv)
	}
	if env != "" {
		k, err := seal.Parse(env)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", serverKeyEnv, hypha.ErrorMessage(err))
		}
		return k, nil
	}
	path, err := m.serverKeyPath()
	if err != nil || path == "" {
		return nil, err
	}
	k, err := seal.LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return nil, fmt.Errorf("%s", hypha.ErrorMessage(err))
		}
		return k, nil
	}
	if id, ok := sealedKeyID(ctx, db); ok {
		return nil, fmt.Errorf("server key file %s does not exist, but the database holds values sealed under server key %s: restore that key file (or set %s to the key) rather than start with a new key", path, id, serverKeyEnv)
	}
	k, created, err := seal.LoadOrCreateFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s", hypha.ErrorMessage(err))
	}
	if created {
		m.Logger.Info("created the server key; back it up with the database (sealed values cannot be read without it)", "path", path, "key_id", k.ID())
	}
	return k, nil
}

// sealedKeyID returns the key id of one sealed value in the database, and
// whether there is one. A database it cannot read (not migrated yet) holds
// none as far as it can tell.
func sealedKeyID(ctx context.Context, db *sqlstore.DB) (string, bool) {
	page, err := db.KVList(ctx, hypha.KVListOptions{Prefix: hypha.SealedPrefix, Limit: 1})
	if err != nil || len(page.Keys) == 0 {
		return "", false
	}
	e, err := db.KVGet(ctx, page.Keys[0].Name)
	if err != nil {
		return "unknown", true
	}
	if id := seal.KeyIDOf(string(e.Value)); id != "" {
		return id, true
	}
	return "unknown", true
}
