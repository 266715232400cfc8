-- Core tables of the team role: groves, the project registry, the machines
-- that sync, team settings, the Workers-KV-like key-value store and stored
-- embeddings. Times are epoch seconds.

CREATE TABLE IF NOT EXISTS groves (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS projects (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    grove_id TEXT COLLATE "C" NOT NULL REFERENCES groves (id),
    name TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    last_sync_at BIGINT
);

CREATE TABLE IF NOT EXISTS nodes (
    grove_id TEXT COLLATE "C" NOT NULL,
    machine_id TEXT COLLATE "C" NOT NULL,
    daemon_id TEXT COLLATE "C",
    package_version TEXT COLLATE "C",
    schema_version BIGINT,
    sync_protocol_version BIGINT,
    last_seen BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (grove_id, machine_id)
);

CREATE TABLE IF NOT EXISTS team_config (
    key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

-- version is the KV revision of the entry's last write: revisions come from
-- one counter (kv_revision) shared by every key, so a version is never
-- reused, even after a delete or an expiry, and compare-and-set cannot be
-- fooled by a key that went away and came back.
CREATE TABLE IF NOT EXISTS kv (
    key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL,
    metadata TEXT COLLATE "C",
    version BIGINT NOT NULL,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS kv_revision (
    id BIGINT NOT NULL PRIMARY KEY,
    revision BIGINT NOT NULL
);

INSERT INTO kv_revision (id, revision) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

-- vector holds little-endian float32 values; dims = length / 4.
CREATE TABLE IF NOT EXISTS embeddings (
    grove_id TEXT COLLATE "C" NOT NULL,
    table_name TEXT COLLATE "C" NOT NULL,
    machine_id TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    dims BIGINT NOT NULL,
    vector BYTEA NOT NULL,
    content_hash TEXT COLLATE "C",
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (grove_id, table_name, machine_id, record_id)
);

INSERT INTO groves (id, name, is_default, created_at) VALUES ('default', 'Default grove', 1, 0) ON CONFLICT (id) DO NOTHING;
