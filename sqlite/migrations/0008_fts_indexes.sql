-- The key of fulltext_docs, which the triggers look documents up by.

CREATE UNIQUE INDEX IF NOT EXISTS fulltext_docs_key ON fulltext_docs (grove_id, table_name, machine_id, record_id);
