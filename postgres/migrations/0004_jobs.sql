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
    kind TEXT COLLATE "C" NOT NULL,
    grove_id TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    table_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    machine_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    record_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    payload TEXT COLLATE "C",
    attempts BIGINT NOT NULL DEFAULT 0,
    run_at BIGINT NOT NULL,
    lease_until BIGINT,
    generation BIGINT NOT NULL DEFAULT 1,
    last_error TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, grove_id, key)
);

-- Dead letters, as the Myco worker's team_dlq but per grove. lease_id is
-- "<table>:<id>:<machine_id>"; payload is the job's record as JSON;
-- replay_count counts the rounds that ended here (capped replays).
CREATE TABLE IF NOT EXISTS team_dlq (
    grove_id TEXT COLLATE "C" NOT NULL,
    lease_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    table_name TEXT COLLATE "C" NOT NULL,
    row_id TEXT COLLATE "C" NOT NULL,
    machine_id TEXT COLLATE "C" NOT NULL,
    operation TEXT COLLATE "C" NOT NULL,
    payload TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    replay_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grove_id, lease_id)
);

-- The Myco worker's team_sync_stats, one row per grove.
CREATE TABLE IF NOT EXISTS team_sync_stats (
    grove_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    enqueued BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    last_error TEXT COLLATE "C",
    embed_ok BIGINT NOT NULL DEFAULT 0,
    embed_failed BIGINT NOT NULL DEFAULT 0,
    last_embed_error TEXT COLLATE "C",
    last_embed_at BIGINT
);
