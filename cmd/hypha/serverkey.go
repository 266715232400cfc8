package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// serverKeySuffix makes the default key file's name: the data directory's
// path and ".key", beside the directory rather than in it
// (./hypha-data.key for ./hypha-data/hypha.db), so a copy of the data
// directory (a backup, a volume) does not carry the key with the
// ciphertext.
const serverKeySuffix = ".key"

// oldServerKeyName is where versions before made the key file: inside the
// data directory. A start moves it to the default path.
const oldServerKeyName = "server.key"

// serverKeyPath is the key file the configuration names: server_key_file,
// else the default beside the SQLite data directory, in which case old is
// where earlier versions kept it (see moveOldServerKey). path is "" for
// PostgreSQL without server_key_file: several servers share that database,
// so a file made by one would not be the others' key.
func (m *Main) serverKeyPath() (path, old string, err error) {
	if p := strings.TrimSpace(m.Config.ServerKeyFile); p != "" {
		return p, "", nil
	}
	engine, target, err := parseDB(m.Config.DB)
	if err != nil || engine != "sqlite" {
		return "", "", err
	}
	dir := filepath.Dir(target)
	if b := filepath.Base(dir); b == "." || b == ".." {
		// The data directory is the working directory or above it: name
		// it, to put the key beside it.
		if dir, err = filepath.Abs(dir); err != nil {
			return "", "", fmt.Errorf("server key file: %w", err)
		}
	}
	if filepath.Dir(dir) == dir {
		return "", "", fmt.Errorf("the database %s is at the root of a file system, which has nothing beside it for the server key file: set server_key_file (or %s)", target, serverKeyEnv)
	}
	return dir + serverKeySuffix, filepath.Join(dir, oldServerKeyName), nil
}

// loadServerKey returns the server key: HYPHA_SERVER_KEY, else the key
// file (see serverKeyPath), created on first use. It returns nil, nil when
// none is configured (PostgreSQL without either): what needs the key then
// fails or does without, saying how to set one. The key is never logged;
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
	path, old, err := m.serverKeyPath()
	if err != nil || path == "" {
		return nil, err
	}
	if old != "" {
		if path, err = m.moveOldServerKey(old, path); err != nil {
			return nil, err
		}
	}
	k, err := seal.LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return nil, fmt.Errorf("%s", keyFileError(err))
		}
		return k, nil
	}
	if id, ok := sealedKeyID(ctx, db); ok {
		return nil, fmt.Errorf("server key file %s does not exist, but the database holds values sealed under server key %s: restore that key file (or set %s to the key) rather than start with a new key", path, id, serverKeyEnv)
	}
	k, created, err := seal.LoadOrCreateFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot create the server key file %s: %s; create that directory, or put an existing key (mode 0600) at that path, or give the key in %s", path, keyFileError(err), serverKeyEnv)
	}
	if created {
		m.Logger.Info("created the server key; back it up, apart from the database (sealed values cannot be read without it)", "path", path, "key_id", k.ID())
	}
	return k, nil
}

// moveOldServerKey moves the key file from old, inside the data directory
// where versions before made it, to path beside the directory, when path
// does not exist yet, and logs it (once: after the move old is gone). It
// returns the key file to read: path, or old when it cannot be moved (to
// another file system): the server still starts, and a warning says to
// move it. When both exist it reads path and warns about old, unless they
// hold the same key (a move cut short), in which case it removes old.
func (m *Main) moveOldServerKey(old, path string) (string, error) {
	if _, err := os.Lstat(old); errors.Is(err, fs.ErrNotExist) {
		return path, nil
	} else if err != nil {
		return "", fmt.Errorf("server key file: %w", err)
	}
	k, err := seal.LoadFile(old)
	if err != nil {
		return "", fmt.Errorf("%s", keyFileError(err))
	}
	err = seal.MoveFile(old, path)
	if errors.Is(err, fs.ErrExist) {
		if cur, cerr := seal.LoadFile(path); cerr != nil || cur.ID() != k.ID() {
			m.Logger.Warn("an old server key file is still inside the data directory, which a copy of the directory would carry; the server reads the one beside the directory: delete the old one once you have checked it is not needed",
				"old", old, "old_key_id", k.ID(), "path", path)
			return path, nil
		}
		if err := os.Remove(old); err != nil {
			return "", fmt.Errorf("server key file: %w", err)
		}
		err = nil
	}
	if err != nil {
		m.Logger.Warn("cannot move the server key file out of the data directory, so a copy of the directory carries the key; reading it where it is: move it yourself, or set server_key_file to where it is",
			"path", old, "to", path, "err", err.Error(), "key_id", k.ID())
		return old, nil
	}
	m.Logger.Warn("moved the server key file out of the data directory, so a copy of the directory no longer carries the key: back it up from its new place, apart from the database",
		"from", old, "to", path, "key_id", k.ID())
	return path, nil
}

// keyFileError is the text of a key file error: the message of a refusal
// (a bad file), the error itself otherwise (the file system's, which
// carries no secret).
func keyFileError(err error) string {
	if hypha.ErrorCode(err) == hypha.EInternal {
		return err.Error()
	}
	return hypha.ErrorMessage(err)
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
