-- The grove's local copy of the 19 synced tables, one row per
-- (machine_id, id): the record as it was written here, as a JSON object in
-- data. The team server maps the fields to its declared columns; the local
-- store keeps them as written, so a new server column never needs a local
-- migration. Times are epoch milliseconds.

CREATE TABLE IF NOT EXISTS sessions (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS prompt_batches (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS spores (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS entities (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS graph_edges (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS entity_mentions (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS resolution_events (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS plans (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS artifacts (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS digest_extracts (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS skill_candidates (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS skill_records (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS skill_lineage (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS skill_usage (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS knowledge_release_state (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS team_members (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS okf_generations (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS okf_pages (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE IF NOT EXISTS okf_page_revisions (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT,
    content_hash TEXT,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine_id, id)
);
