-- The outbox: one row per record waiting for the team server, at most one
-- per (table_name, machine_id, record_id). A local write replaces the
-- pending row of its record in the same transaction as the table write,
-- with a new seq, so the flusher (which deletes only the seqs it sent and
-- the server accepted) can never drop a write made while a batch was in
-- flight. payload is the SyncRecord sent to /enqueue. Times are epoch ms.
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (table_name, machine_id, record_id)
);

-- Records the team server refused (a per-record rejection of /enqueue, or a
-- record too large to send alone). They leave the outbox, are kept here to
-- be shown by `hypha daemon status`, and are never sent again by
-- themselves (a later write of the record is).
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    rejected_at INTEGER NOT NULL
);

-- Failed calls to the team server (flushes, /connect), kept 24 hours for
-- the "failures in the last 24 h" of the status.
CREATE TABLE IF NOT EXISTS sync_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    stage TEXT NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL
);

-- Small named values: last_success_at (epoch ms of the last accepted batch).
CREATE TABLE IF NOT EXISTS sync_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
