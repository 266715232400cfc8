-- The search index's durable half: one document per searchable record
-- (reference §6.2: spores.content of active spores, sessions.summary,
-- plans.content, artifacts.content, skill_records.description, the empty
-- ones left out), written by the job consumer after ingest, never by the
-- ingest transaction itself, so keyword indexing costs the sync path
-- nothing.
--
-- search_docs holds a document's key, the columns search filters apply to
-- (NULL where the record's table has no such column), its sharing policy
-- and seq, the search change sequence number of the transaction that last
-- wrote it. search_fts is a contentless FTS5 index over the first 100,000
-- characters of each text, keyed by doc_id; it stores no copy of the text.
-- Porter stemming over unicode61 words pairs with PostgreSQL's 'english'
-- configuration.
--
-- search_tombstones remembers documents removed (with the seq of the
-- removal) so every server sharing the database can catch its in-memory
-- vector index up from a change sequence; search_seq is that sequence's
-- counter, one row, bumped once per writing transaction. Its row lock
-- orders the writers, so a reader that saw seq N has seen every change up
-- to N. pruned_seq is the highest seq of tombstones pruned: a reader behind
-- it rebuilds from the documents instead.

CREATE TABLE IF NOT EXISTS search_docs (
    doc_id INTEGER PRIMARY KEY,
    grove_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    project_id TEXT,
    status TEXT,
    observation_type TEXT,
    session_id TEXT,
    source_path TEXT,
    name TEXT,
    created_at INTEGER,
    sharing_policy TEXT,
    seq INTEGER NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE TABLE IF NOT EXISTS search_tombstones (
    grove_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (grove_id, table_name, machine_id, record_id)
);

CREATE TABLE IF NOT EXISTS search_seq (
    id INTEGER NOT NULL PRIMARY KEY,
    seq INTEGER NOT NULL,
    pruned_seq INTEGER NOT NULL
);

INSERT INTO search_seq (id, seq, pruned_seq) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING;
