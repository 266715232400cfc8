-- Full-text search over the texts the semantic search embeds (reference
-- §6.2): spores.content of active spores, sessions.summary, plans.content,
-- artifacts.content and skill_records.description, the empty ones left out.
--
-- fulltext_docs holds one document per searchable record: its key and the
-- columns keyword filters apply to (NULL where the record's table has no
-- such column). fulltext_index is a contentless FTS5 index over the first
-- 100,000 characters of each text, keyed by doc_id; it stores no copy of
-- the text. Porter stemming over unicode61 words, diacritics kept, pairs
-- with PostgreSQL's 'english' configuration. Triggers on the five tables
-- keep both current in the writing transaction; an update re-indexes only
-- when the text, the key or a filter column changed.

CREATE TABLE IF NOT EXISTS fulltext_docs (
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
    created_at INTEGER
);

CREATE VIRTUAL TABLE IF NOT EXISTS fulltext_index USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 0'
);

CREATE TRIGGER IF NOT EXISTS fulltext_sessions_insert AFTER INSERT ON sessions
WHEN NEW.summary <> ''
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'sessions' AND machine_id = NEW.machine_id AND record_id = NEW.id);
    DELETE FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'sessions' AND machine_id = NEW.machine_id AND record_id = NEW.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        VALUES (NEW.grove_id, 'sessions', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NULL, NEW.created_at);
    INSERT INTO fulltext_index (rowid, body) VALUES (last_insert_rowid(), substr(NEW.summary, 1, 100000));
END;

CREATE TRIGGER IF NOT EXISTS fulltext_sessions_update AFTER UPDATE ON sessions
WHEN OLD.grove_id IS NOT NEW.grove_id OR OLD.machine_id IS NOT NEW.machine_id OR OLD.id IS NOT NEW.id OR OLD.project_id IS NOT NEW.project_id OR OLD.summary IS NOT NEW.summary OR OLD.status IS NOT NEW.status OR OLD.created_at IS NOT NEW.created_at
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'sessions' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'sessions' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        SELECT NEW.grove_id, 'sessions', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NULL, NEW.created_at WHERE NEW.summary <> '';
    INSERT INTO fulltext_index (rowid, body)
        SELECT doc_id, substr(NEW.summary, 1, 100000) FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'sessions' AND machine_id = NEW.machine_id AND record_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_sessions_delete AFTER DELETE ON sessions
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'sessions' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'sessions' AND machine_id = OLD.machine_id AND record_id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_spores_insert AFTER INSERT ON spores
WHEN NEW.status = 'active' AND NEW.content <> ''
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'spores' AND machine_id = NEW.machine_id AND record_id = NEW.id);
    DELETE FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'spores' AND machine_id = NEW.machine_id AND record_id = NEW.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        VALUES (NEW.grove_id, 'spores', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NEW.observation_type, NEW.session_id, NULL, NULL, NEW.created_at);
    INSERT INTO fulltext_index (rowid, body) VALUES (last_insert_rowid(), substr(NEW.content, 1, 100000));
END;

CREATE TRIGGER IF NOT EXISTS fulltext_spores_update AFTER UPDATE ON spores
WHEN OLD.grove_id IS NOT NEW.grove_id OR OLD.machine_id IS NOT NEW.machine_id OR OLD.id IS NOT NEW.id OR OLD.project_id IS NOT NEW.project_id OR OLD.content IS NOT NEW.content OR OLD.status IS NOT NEW.status OR OLD.observation_type IS NOT NEW.observation_type OR OLD.session_id IS NOT NEW.session_id OR OLD.created_at IS NOT NEW.created_at
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'spores' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'spores' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        SELECT NEW.grove_id, 'spores', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NEW.observation_type, NEW.session_id, NULL, NULL, NEW.created_at WHERE NEW.status = 'active' AND NEW.content <> '';
    INSERT INTO fulltext_index (rowid, body)
        SELECT doc_id, substr(NEW.content, 1, 100000) FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'spores' AND machine_id = NEW.machine_id AND record_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_spores_delete AFTER DELETE ON spores
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'spores' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'spores' AND machine_id = OLD.machine_id AND record_id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_plans_insert AFTER INSERT ON plans
WHEN NEW.content <> ''
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'plans' AND machine_id = NEW.machine_id AND record_id = NEW.id);
    DELETE FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'plans' AND machine_id = NEW.machine_id AND record_id = NEW.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        VALUES (NEW.grove_id, 'plans', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NEW.session_id, NEW.source_path, NULL, NEW.created_at);
    INSERT INTO fulltext_index (rowid, body) VALUES (last_insert_rowid(), substr(NEW.content, 1, 100000));
END;

CREATE TRIGGER IF NOT EXISTS fulltext_plans_update AFTER UPDATE ON plans
WHEN OLD.grove_id IS NOT NEW.grove_id OR OLD.machine_id IS NOT NEW.machine_id OR OLD.id IS NOT NEW.id OR OLD.project_id IS NOT NEW.project_id OR OLD.content IS NOT NEW.content OR OLD.status IS NOT NEW.status OR OLD.session_id IS NOT NEW.session_id OR OLD.source_path IS NOT NEW.source_path OR OLD.created_at IS NOT NEW.created_at
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'plans' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'plans' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        SELECT NEW.grove_id, 'plans', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NEW.session_id, NEW.source_path, NULL, NEW.created_at WHERE NEW.content <> '';
    INSERT INTO fulltext_index (rowid, body)
        SELECT doc_id, substr(NEW.content, 1, 100000) FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'plans' AND machine_id = NEW.machine_id AND record_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_plans_delete AFTER DELETE ON plans
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'plans' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'plans' AND machine_id = OLD.machine_id AND record_id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_artifacts_insert AFTER INSERT ON artifacts
WHEN NEW.content <> ''
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'artifacts' AND machine_id = NEW.machine_id AND record_id = NEW.id);
    DELETE FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'artifacts' AND machine_id = NEW.machine_id AND record_id = NEW.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        VALUES (NEW.grove_id, 'artifacts', NEW.machine_id, NEW.id, NEW.project_id, NULL, NULL, NULL, NEW.source_path, NULL, NEW.created_at);
    INSERT INTO fulltext_index (rowid, body) VALUES (last_insert_rowid(), substr(NEW.content, 1, 100000));
END;

CREATE TRIGGER IF NOT EXISTS fulltext_artifacts_update AFTER UPDATE ON artifacts
WHEN OLD.grove_id IS NOT NEW.grove_id OR OLD.machine_id IS NOT NEW.machine_id OR OLD.id IS NOT NEW.id OR OLD.project_id IS NOT NEW.project_id OR OLD.content IS NOT NEW.content OR OLD.source_path IS NOT NEW.source_path OR OLD.created_at IS NOT NEW.created_at
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'artifacts' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'artifacts' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        SELECT NEW.grove_id, 'artifacts', NEW.machine_id, NEW.id, NEW.project_id, NULL, NULL, NULL, NEW.source_path, NULL, NEW.created_at WHERE NEW.content <> '';
    INSERT INTO fulltext_index (rowid, body)
        SELECT doc_id, substr(NEW.content, 1, 100000) FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'artifacts' AND machine_id = NEW.machine_id AND record_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_artifacts_delete AFTER DELETE ON artifacts
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'artifacts' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'artifacts' AND machine_id = OLD.machine_id AND record_id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_skill_records_insert AFTER INSERT ON skill_records
WHEN NEW.description <> ''
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'skill_records' AND machine_id = NEW.machine_id AND record_id = NEW.id);
    DELETE FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'skill_records' AND machine_id = NEW.machine_id AND record_id = NEW.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        VALUES (NEW.grove_id, 'skill_records', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NEW.name, NEW.created_at);
    INSERT INTO fulltext_index (rowid, body) VALUES (last_insert_rowid(), substr(NEW.description, 1, 100000));
END;

CREATE TRIGGER IF NOT EXISTS fulltext_skill_records_update AFTER UPDATE ON skill_records
WHEN OLD.grove_id IS NOT NEW.grove_id OR OLD.machine_id IS NOT NEW.machine_id OR OLD.id IS NOT NEW.id OR OLD.project_id IS NOT NEW.project_id OR OLD.description IS NOT NEW.description OR OLD.status IS NOT NEW.status OR OLD.name IS NOT NEW.name OR OLD.created_at IS NOT NEW.created_at
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'skill_records' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'skill_records' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
        SELECT NEW.grove_id, 'skill_records', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NEW.name, NEW.created_at WHERE NEW.description <> '';
    INSERT INTO fulltext_index (rowid, body)
        SELECT doc_id, substr(NEW.description, 1, 100000) FROM fulltext_docs WHERE grove_id = NEW.grove_id AND table_name = 'skill_records' AND machine_id = NEW.machine_id AND record_id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS fulltext_skill_records_delete AFTER DELETE ON skill_records
BEGIN
    DELETE FROM fulltext_index WHERE rowid = (SELECT doc_id FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'skill_records' AND machine_id = OLD.machine_id AND record_id = OLD.id);
    DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'skill_records' AND machine_id = OLD.machine_id AND record_id = OLD.id;
END;

-- Backfill: the records already present. Both statements skip what is
-- indexed already, so running the step again adds nothing.
INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at)
SELECT * FROM (
    SELECT grove_id, 'sessions' AS table_name, machine_id, id AS record_id, project_id, status, NULL AS observation_type, NULL AS session_id, NULL AS source_path, NULL AS name, created_at FROM sessions WHERE summary <> ''
    UNION ALL
    SELECT grove_id, 'spores', machine_id, id, project_id, status, observation_type, session_id, NULL, NULL, created_at FROM spores WHERE status = 'active' AND content <> ''
    UNION ALL
    SELECT grove_id, 'plans', machine_id, id, project_id, status, NULL, session_id, source_path, NULL, created_at FROM plans WHERE content <> ''
    UNION ALL
    SELECT grove_id, 'artifacts', machine_id, id, project_id, NULL, NULL, NULL, source_path, NULL, created_at FROM artifacts WHERE content <> ''
    UNION ALL
    SELECT grove_id, 'skill_records', machine_id, id, project_id, status, NULL, NULL, NULL, name, created_at FROM skill_records WHERE description <> ''
) AS src
WHERE NOT EXISTS (SELECT 1 FROM fulltext_docs AS d WHERE d.grove_id = src.grove_id AND d.table_name = src.table_name
    AND d.machine_id = src.machine_id AND d.record_id = src.record_id);

INSERT INTO fulltext_index (rowid, body)
SELECT * FROM (
    SELECT d.doc_id, substr(s.summary, 1, 100000) FROM fulltext_docs AS d
        JOIN sessions AS s ON s.grove_id = d.grove_id AND s.machine_id = d.machine_id AND s.id = d.record_id
        WHERE d.table_name = 'sessions'
    UNION ALL
    SELECT d.doc_id, substr(s.content, 1, 100000) FROM fulltext_docs AS d
        JOIN spores AS s ON s.grove_id = d.grove_id AND s.machine_id = d.machine_id AND s.id = d.record_id
        WHERE d.table_name = 'spores'
    UNION ALL
    SELECT d.doc_id, substr(s.content, 1, 100000) FROM fulltext_docs AS d
        JOIN plans AS s ON s.grove_id = d.grove_id AND s.machine_id = d.machine_id AND s.id = d.record_id
        WHERE d.table_name = 'plans'
    UNION ALL
    SELECT d.doc_id, substr(s.content, 1, 100000) FROM fulltext_docs AS d
        JOIN artifacts AS s ON s.grove_id = d.grove_id AND s.machine_id = d.machine_id AND s.id = d.record_id
        WHERE d.table_name = 'artifacts'
    UNION ALL
    SELECT d.doc_id, substr(s.description, 1, 100000) FROM fulltext_docs AS d
        JOIN skill_records AS s ON s.grove_id = d.grove_id AND s.machine_id = d.machine_id AND s.id = d.record_id
        WHERE d.table_name = 'skill_records'
) AS src
WHERE src.doc_id NOT IN (SELECT rowid FROM fulltext_index);
