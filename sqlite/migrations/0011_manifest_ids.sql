-- /manifest pages the tables whose ids are INTEGER upstream in upstream's
-- order: ids that are integers (digits, no leading zero) as numbers, that
-- is by length and then bytewise, and every other id after them, bytewise
-- (hypha.ManifestIDClass). These indexes serve that order for one
-- machine's partition, so a page reads its rows in order instead of
-- sorting the partition. The expression is the store's
-- manifestIDClassSQL, verbatim: SQLite uses an index on an expression
-- only for the same expression.
CREATE INDEX IF NOT EXISTS idx_prompt_batches_manifest ON prompt_batches (grove_id, machine_id, (CASE WHEN id <> '' AND LTRIM(id, '0123456789') = '' AND (id = '0' OR SUBSTR(id, 1, 1) <> '0') THEN LENGTH(id) ELSE 1000000 END), id);
CREATE INDEX IF NOT EXISTS idx_digest_extracts_manifest ON digest_extracts (grove_id, machine_id, (CASE WHEN id <> '' AND LTRIM(id, '0123456789') = '' AND (id = '0' OR SUBSTR(id, 1, 1) <> '0') THEN LENGTH(id) ELSE 1000000 END), id);
CREATE INDEX IF NOT EXISTS idx_knowledge_release_state_manifest ON knowledge_release_state (grove_id, machine_id, (CASE WHEN id <> '' AND LTRIM(id, '0123456789') = '' AND (id = '0' OR SUBSTR(id, 1, 1) <> '0') THEN LENGTH(id) ELSE 1000000 END), id);
