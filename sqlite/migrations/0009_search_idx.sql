-- Indexes of the search tables, in a step of their own.

-- A document is found by its record's key (upserts, removals).
CREATE UNIQUE INDEX IF NOT EXISTS idx_search_docs_key ON search_docs (grove_id, table_name, machine_id, record_id);
-- Catching up from the change sequence reads the documents written since.
CREATE INDEX IF NOT EXISTS idx_search_docs_seq ON search_docs (seq);
CREATE INDEX IF NOT EXISTS idx_search_tombstones_seq ON search_tombstones (seq);
