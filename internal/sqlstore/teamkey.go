package sqlstore

import (
	"context"
	"database/sql"

	"github.com/hyphateam/hypha"
)

const teamKeyColumns = `id, name, digest, status, created_at, expires_at, revoked_at`

// CreateTeamKey stores a Team Key with the digest of its secret.
func (q *queries) CreateTeamKey(ctx context.Context, k *hypha.TeamKey, digest string) error {
	if k.ID == "" || digest == "" {
		return hypha.Errorf(hypha.EInvalid, "a Team Key needs an id and a digest")
	}
	if k.CreatedAt == 0 {
		k.CreatedAt = q.now()
	}
	if k.Status == "" {
		k.Status = hypha.StatusActive
	}
	if k.Status != hypha.StatusActive && k.Status != hypha.StatusRevoked {
		return hypha.Errorf(hypha.EInvalid, "a stored Team Key status is active or revoked, not %q", k.Status)
	}
	// ON CONFLICT DO NOTHING keeps a PostgreSQL transaction usable after a
	// clash, so the caller gets a conflict error rather than an aborted
	// transaction.
	res, err := q.exec(ctx, `INSERT INTO team_keys (`+teamKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		k.ID, k.Name, digest, k.Status, k.CreatedAt, nullInt(k.ExpiresAt), nullInt(k.RevokedAt))
	if err != nil {
		return q.db.wrap(err, "create team key")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hypha.Errorf(hypha.EConflict, "a Team Key with id %q or the same secret exists already", k.ID)
	}
	k.Digest = digest
	return nil
}

// FindTeamKeyByDigest returns the key whose secret has this digest.
func (q *queries) FindTeamKeyByDigest(ctx context.Context, digest string) (*hypha.TeamKey, error) {
	k, err := scanTeamKey(q.queryRow(ctx, `SELECT `+teamKeyColumns+` FROM team_keys WHERE digest = ?`, digest))
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no Team Key with this secret")
	}
	return k, q.db.wrap(err, "find team key")
}

// FindTeamKeyByID returns one key.
func (q *queries) FindTeamKeyByID(ctx context.Context, id string) (*hypha.TeamKey, error) {
	k, err := scanTeamKey(q.queryRow(ctx, `SELECT `+teamKeyColumns+` FROM team_keys WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, hypha.Errorf(hypha.ENotFound, "no Team Key %q", id)
	}
	return k, q.db.wrap(err, "find team key")
}

// ListTeamKeys lists every key, oldest first.
func (q *queries) ListTeamKeys(ctx context.Context) ([]*hypha.TeamKey, error) {
	rows, err := q.query(ctx, `SELECT `+teamKeyColumns+` FROM team_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, q.db.wrap(err, "list team keys")
	}
	defer rows.Close()
	var out []*hypha.TeamKey
	for rows.Next() {
		k, err := scanTeamKey(rows)
		if err != nil {
			return nil, q.db.wrap(err, "list team keys")
		}
		out = append(out, k)
	}
	return out, q.db.wrap(rows.Err(), "list team keys")
}

// RevokeTeamKey marks a key revoked, keeping an earlier revocation time.
func (q *queries) RevokeTeamKey(ctx context.Context, id string, at int64) error {
	res, err := q.exec(ctx, `UPDATE team_keys SET status = ?, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		hypha.StatusRevoked, at, id)
	if err != nil {
		return q.db.wrap(err, "revoke team key")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return hypha.Errorf(hypha.ENotFound, "no Team Key %q", id)
	}
	return nil
}

func scanTeamKey(row interface{ Scan(...any) error }) (*hypha.TeamKey, error) {
	k := &hypha.TeamKey{}
	var exp, rev sql.NullInt64
	if err := row.Scan(&k.ID, &k.Name, &k.Digest, &k.Status, &k.CreatedAt, &exp, &rev); err != nil {
		return nil, err
	}
	k.ExpiresAt, k.RevokedAt = exp.Int64, rev.Int64
	return k, nil
}

// The methods below make *DB a hypha.TeamKeyStore: reads on the read pool,
// writes each in their own transaction.

// CreateTeamKey stores a Team Key.
func (db *DB) CreateTeamKey(ctx context.Context, k *hypha.TeamKey, digest string) error {
	return db.writeTx(ctx, func(q *queries) error { return q.CreateTeamKey(ctx, k, digest) })
}

// FindTeamKeyByDigest finds a Team Key by the digest of its secret.
func (db *DB) FindTeamKeyByDigest(ctx context.Context, digest string) (*hypha.TeamKey, error) {
	return db.reader().FindTeamKeyByDigest(ctx, digest)
}

// FindTeamKeyByID finds a Team Key by id.
func (db *DB) FindTeamKeyByID(ctx context.Context, id string) (*hypha.TeamKey, error) {
	return db.reader().FindTeamKeyByID(ctx, id)
}

// ListTeamKeys lists Team Keys.
func (db *DB) ListTeamKeys(ctx context.Context) ([]*hypha.TeamKey, error) {
	return db.reader().ListTeamKeys(ctx)
}

// RevokeTeamKey revokes a Team Key.
func (db *DB) RevokeTeamKey(ctx context.Context, id string, at int64) error {
	return db.writeTx(ctx, func(q *queries) error { return q.RevokeTeamKey(ctx, id, at) })
}
