package sqlstore

import (
	"context"
	"database/sql"
	"unicode/utf8"

	"github.com/hyphateam/hypha"
)

// KVGet returns a live entry.
func (q *queries) KVGet(ctx context.Context, key string) (*hypha.KVEntry, error) {
	e := &hypha.KVEntry{Key: key}
	var meta sql.NullString
	var exp sql.NullInt64
	err := q.queryRow(ctx, `SELECT value, metadata, version, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`,
		key, q.now()).Scan(&e.Value, &meta, &e.Version, &exp)
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no KV key %q", key)
	}
	if err != nil {
		return nil, q.db.wrap(err, "kv get")
	}
	if meta.Valid {
		e.Metadata = []byte(meta.String)
	}
	e.ExpiresAt = exp.Int64
	return e, nil
}

// KVPut writes an entry, optionally as a compare-and-set.
func (q *queries) KVPut(ctx context.Context, key string, value []byte, opts hypha.KVPutOptions) (int64, error) {
	if key == "" {
		return 0, hypha.Errorf(hypha.EInvalid, "KV key must not be empty")
	}
	if value == nil {
		value = []byte{}
	}
	now := q.now()
	var exp any
	if opts.TTL > 0 {
		secs := int64((opts.TTL + 999_999_999) / 1_000_000_000)
		exp = now + secs
	}
	var meta any
	if opts.Metadata != nil {
		meta = string(opts.Metadata)
	}
	// Take the next revision first: every write, successful or not, moves
	// the shared counter, so versions are unique across keys and time.
	var version int64
	if err := q.queryRow(ctx, `UPDATE kv_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&version); err != nil {
		return 0, q.db.wrap(err, "kv put")
	}
	var err error
	switch {
	case opts.IfVersion == nil:
		err = q.queryRow(ctx, `INSERT INTO kv (key, value, metadata, version, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, version = excluded.version,
				expires_at = excluded.expires_at, updated_at = excluded.updated_at
			RETURNING version`, key, value, meta, version, exp, now).Scan(&version)
	case *opts.IfVersion == 0:
		// Create only: an existing live entry is a conflict; an expired one
		// is replaced.
		err = q.queryRow(ctx, `INSERT INTO kv (key, value, metadata, version, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, version = excluded.version,
				expires_at = excluded.expires_at, updated_at = excluded.updated_at
			WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?
			RETURNING version`, key, value, meta, version, exp, now, now).Scan(&version)
	default:
		err = q.queryRow(ctx, `UPDATE kv SET value = ?, metadata = ?, version = ?, expires_at = ?, updated_at = ?
			WHERE key = ? AND version = ? AND (expires_at IS NULL OR expires_at > ?)
			RETURNING version`, value, meta, version, exp, now, key, *opts.IfVersion, now).Scan(&version)
	}
	if err == sql.ErrNoRows {
		actual := int64(0)
		if cur, gerr := q.KVGet(ctx, key); gerr == nil {
			actual = cur.Version
		}
		return 0, &hypha.ConflictError{Key: key, Expected: *opts.IfVersion, Actual: actual}
	}
	if err != nil {
		return 0, q.db.wrap(err, "kv put")
	}
	return version, nil
}

// KVList lists live keys by prefix, in key order, a page at a time.
func (q *queries) KVList(ctx context.Context, opts hypha.KVListOptions) (*hypha.KVListPage, error) {
	limit := opts.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := q.query(ctx, `SELECT key, metadata, version, expires_at FROM kv
		WHERE key >= ? AND substr(key, 1, ?) = ? AND key > ? AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY key LIMIT ?`,
		opts.Prefix, utf8.RuneCountInString(opts.Prefix), opts.Prefix, opts.Cursor, q.now(), limit+1)
	if err != nil {
		return nil, q.db.wrap(err, "kv list")
	}
	defer rows.Close()
	page := &hypha.KVListPage{}
	for rows.Next() {
		var k hypha.KVKey
		var meta sql.NullString
		var exp sql.NullInt64
		if err := rows.Scan(&k.Name, &meta, &k.Version, &exp); err != nil {
			return nil, q.db.wrap(err, "kv list")
		}
		if meta.Valid {
			k.Metadata = []byte(meta.String)
		}
		k.ExpiresAt = exp.Int64
		page.Keys = append(page.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, q.db.wrap(err, "kv list")
	}
	if len(page.Keys) > limit {
		page.Keys = page.Keys[:limit]
		page.Cursor = page.Keys[limit-1].Name
	}
	return page, nil
}

// KVDelete removes a key; a missing key is not an error.
func (q *queries) KVDelete(ctx context.Context, key string) error {
	_, err := q.exec(ctx, `DELETE FROM kv WHERE key = ?`, key)
	return q.db.wrap(err, "kv delete")
}

// KVSweep removes expired entries.
func (q *queries) KVSweep(ctx context.Context) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?`, q.now())
	if err != nil {
		return 0, q.db.wrap(err, "kv sweep")
	}
	n, _ := res.RowsAffected()
	return n, nil
}
