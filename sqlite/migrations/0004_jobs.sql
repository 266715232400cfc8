-- The durable job queue (asynchronous embedding), its dead letters and the
-- per-grove sync statistics of /queue-stats. Times are epoch seconds.
--
-- A job is keyed by (kind, grove_id, key), so enqueueing the same work
-- again while it waits or runs merges into one row and no sequence is
-- needed. generation grows on every such merge: a consumer that finishes
-- an older generation releases the job instead of deleting it, so the
-- newer content is processed too. lease_until is set while a consumer
-- holds the job; an expired lease makes the job claimable again.
CREATE TABLE IF NOT EXISTS jobs (
    kind TEXT NOT NULL,
    grove_id TEXT NOT NULL,
    key TEXT NOT NULL,
    table_name TEXT NOT NULL DEFAULT '',
    machine_id TEXT NOT NULL DEFAULT '',
    record_id TEXT NOT NULL DEFAULT '',
    payload TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at INTEGER NOT NULL,
    lease_until INTEGER,
    generation INTEGER NOT NULL DEFAULT 1,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, grove_id, key)
);

-- Dead letters, as the Myco worker's team_dlq but per grove. lease_id is
-- "<table>:<id>:<machine_id>"; payload is the job's record as JSON;
-- replay_count counts the rounds that ended here (capped replays).
CREATE TABLE IF NOT EXISTS team_dlq (
    grove_id TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    payload TEXT NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL,
    replay_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grove_id, lease_id)
);

-- The Myco worker's team_sync_stats, one row per grove.
CREATE TABLE IF NOT EXISTS team_sync_stats (
    grove_id TEXT NOT NULL PRIMARY KEY,
    enqueued INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    last_run_at INTEGER,
    last_error TEXT,
    embed_ok INTEGER NOT NULL DEFAULT 0,
    embed_failed INTEGER NOT NULL DEFAULT 0,
    last_embed_error TEXT,
    last_embed_at INTEGER
);
