-- Team Keys: org-level credentials, valid for every grove. Several may be
-- active at once so a rotation can overlap. Only the hex SHA-256 digest of
-- a key's secret is stored, never the secret. status is active or revoked
-- as written; expiry is computed from expires_at (NULL: never). Times are
-- epoch seconds.

CREATE TABLE IF NOT EXISTS team_keys (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
