-- Core tables of the team role: groves, the project registry, the machines
-- that sync, team settings, the Workers-KV-like key-value store and stored
-- embeddings. Times are epoch seconds.

CREATE TABLE IF NOT EXISTS groves (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS projects (
    id TEXT NOT NULL PRIMARY KEY,
    grove_id TEXT NOT NULL REFERENCES groves (id),
    name TEXT,
    created_at INTEGER NOT NULL,
    last_sync_at INTEGER
);

CREATE TABLE IF NOT EXISTS nodes (
    grove_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    daemon_id TEXT,
    package_version TEXT,
    schema_version INTEGER,
    sync_protocol_version INTEGER,
    last_seen INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (grove_id, machine_id)
);

CREATE TABLE IF NOT EXISTS team_config (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- version is the KV revision of the entry's last write: revisions come from
-- one counter (kv_revision) shared by every key, so a version is never
-- reused, even after a delete or an expiry, and compare-and-set cannot be
-- fooled by a key that went away and came back.
CREATE TABLE IF NOT EXISTS kv (
    key TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL,
    metadata TEXT,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS kv_revision (
    id INTEGER NOT NULL PRIMARY KEY,
    revision INTEGER NOT NULL
);

INSERT INTO kv_revision (id, revision) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- vector holds little-endian float32 values; dims = length / 4.
CREATE TABLE IF NOT EXISTS embeddings (
    grove_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    model TEXT NOT NULL,
    dims INTEGER NOT NULL,
    vector BLOB NOT NULL,
    content_hash TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (grove_id, table_name, machine_id, record_id)
);

INSERT INTO groves (id, name, is_default, created_at) VALUES ('default', 'Default grove', 1, 0) ON CONFLICT (id) DO NOTHING;
