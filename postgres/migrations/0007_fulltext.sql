-- Full-text search over the texts the semantic search embeds (reference
-- §6.2): spores.content of active spores, sessions.summary, plans.content,
-- artifacts.content and skill_records.description, the empty ones left out.
--
-- fulltext_docs holds one document per searchable record: its key, the
-- columns keyword filters apply to (NULL where the record's table has no
-- such column) and the tsvector of the first 100,000 characters of its
-- text in the 'english' configuration (a tsvector holds at most 1 MiB, so
-- a longer text must not fail its record's write), GIN-indexed in the next
-- step. Trigger functions on the five tables keep it current in the
-- writing transaction; an update re-indexes only when the text, the key or
-- a filter column changed. The triggers have the names of SQLite's.

CREATE TABLE IF NOT EXISTS fulltext_docs (
    grove_id TEXT COLLATE "C" NOT NULL,
    table_name TEXT COLLATE "C" NOT NULL,
    machine_id TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C",
    status TEXT COLLATE "C",
    observation_type TEXT COLLATE "C",
    session_id TEXT COLLATE "C",
    source_path TEXT COLLATE "C",
    name TEXT COLLATE "C",
    created_at BIGINT,
    document TSVECTOR NOT NULL,
    PRIMARY KEY (grove_id, table_name, machine_id, record_id)
);

CREATE OR REPLACE FUNCTION fulltext_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'sessions' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.summary <> '' THEN
            INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
            VALUES (NEW.grove_id, 'sessions', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NULL, NEW.created_at, to_tsvector('english', left(NEW.summary, 100000)))
            ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type, session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at, document = excluded.document;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER fulltext_sessions_insert AFTER INSERT ON sessions FOR EACH ROW
    WHEN (NEW.summary <> '') EXECUTE FUNCTION fulltext_sessions();
CREATE OR REPLACE TRIGGER fulltext_sessions_update AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.grove_id IS DISTINCT FROM NEW.grove_id OR OLD.machine_id IS DISTINCT FROM NEW.machine_id OR OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.summary IS DISTINCT FROM NEW.summary OR OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION fulltext_sessions();
CREATE OR REPLACE TRIGGER fulltext_sessions_delete AFTER DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION fulltext_sessions();

CREATE OR REPLACE FUNCTION fulltext_spores() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'spores' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status = 'active' AND NEW.content <> '' THEN
            INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
            VALUES (NEW.grove_id, 'spores', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NEW.observation_type, NEW.session_id, NULL, NULL, NEW.created_at, to_tsvector('english', left(NEW.content, 100000)))
            ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type, session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at, document = excluded.document;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER fulltext_spores_insert AFTER INSERT ON spores FOR EACH ROW
    WHEN (NEW.status = 'active' AND NEW.content <> '') EXECUTE FUNCTION fulltext_spores();
CREATE OR REPLACE TRIGGER fulltext_spores_update AFTER UPDATE ON spores FOR EACH ROW
    WHEN (OLD.grove_id IS DISTINCT FROM NEW.grove_id OR OLD.machine_id IS DISTINCT FROM NEW.machine_id OR OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.content IS DISTINCT FROM NEW.content OR OLD.status IS DISTINCT FROM NEW.status OR OLD.observation_type IS DISTINCT FROM NEW.observation_type OR OLD.session_id IS DISTINCT FROM NEW.session_id OR OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION fulltext_spores();
CREATE OR REPLACE TRIGGER fulltext_spores_delete AFTER DELETE ON spores FOR EACH ROW EXECUTE FUNCTION fulltext_spores();

CREATE OR REPLACE FUNCTION fulltext_plans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'plans' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.content <> '' THEN
            INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
            VALUES (NEW.grove_id, 'plans', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NEW.session_id, NEW.source_path, NULL, NEW.created_at, to_tsvector('english', left(NEW.content, 100000)))
            ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type, session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at, document = excluded.document;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER fulltext_plans_insert AFTER INSERT ON plans FOR EACH ROW
    WHEN (NEW.content <> '') EXECUTE FUNCTION fulltext_plans();
CREATE OR REPLACE TRIGGER fulltext_plans_update AFTER UPDATE ON plans FOR EACH ROW
    WHEN (OLD.grove_id IS DISTINCT FROM NEW.grove_id OR OLD.machine_id IS DISTINCT FROM NEW.machine_id OR OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.content IS DISTINCT FROM NEW.content OR OLD.status IS DISTINCT FROM NEW.status OR OLD.session_id IS DISTINCT FROM NEW.session_id OR OLD.source_path IS DISTINCT FROM NEW.source_path OR OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION fulltext_plans();
CREATE OR REPLACE TRIGGER fulltext_plans_delete AFTER DELETE ON plans FOR EACH ROW EXECUTE FUNCTION fulltext_plans();

CREATE OR REPLACE FUNCTION fulltext_artifacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'artifacts' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.content <> '' THEN
            INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
            VALUES (NEW.grove_id, 'artifacts', NEW.machine_id, NEW.id, NEW.project_id, NULL, NULL, NULL, NEW.source_path, NULL, NEW.created_at, to_tsvector('english', left(NEW.content, 100000)))
            ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type, session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at, document = excluded.document;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER fulltext_artifacts_insert AFTER INSERT ON artifacts FOR EACH ROW
    WHEN (NEW.content <> '') EXECUTE FUNCTION fulltext_artifacts();
CREATE OR REPLACE TRIGGER fulltext_artifacts_update AFTER UPDATE ON artifacts FOR EACH ROW
    WHEN (OLD.grove_id IS DISTINCT FROM NEW.grove_id OR OLD.machine_id IS DISTINCT FROM NEW.machine_id OR OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.content IS DISTINCT FROM NEW.content OR OLD.source_path IS DISTINCT FROM NEW.source_path OR OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION fulltext_artifacts();
CREATE OR REPLACE TRIGGER fulltext_artifacts_delete AFTER DELETE ON artifacts FOR EACH ROW EXECUTE FUNCTION fulltext_artifacts();

CREATE OR REPLACE FUNCTION fulltext_skill_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM fulltext_docs WHERE grove_id = OLD.grove_id AND table_name = 'skill_records' AND machine_id = OLD.machine_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.description <> '' THEN
            INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
            VALUES (NEW.grove_id, 'skill_records', NEW.machine_id, NEW.id, NEW.project_id, NEW.status, NULL, NULL, NULL, NEW.name, NEW.created_at, to_tsvector('english', left(NEW.description, 100000)))
            ON CONFLICT (grove_id, table_name, machine_id, record_id) DO UPDATE SET project_id = excluded.project_id, status = excluded.status, observation_type = excluded.observation_type, session_id = excluded.session_id, source_path = excluded.source_path, name = excluded.name, created_at = excluded.created_at, document = excluded.document;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER fulltext_skill_records_insert AFTER INSERT ON skill_records FOR EACH ROW
    WHEN (NEW.description <> '') EXECUTE FUNCTION fulltext_skill_records();
CREATE OR REPLACE TRIGGER fulltext_skill_records_update AFTER UPDATE ON skill_records FOR EACH ROW
    WHEN (OLD.grove_id IS DISTINCT FROM NEW.grove_id OR OLD.machine_id IS DISTINCT FROM NEW.machine_id OR OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.description IS DISTINCT FROM NEW.description OR OLD.status IS DISTINCT FROM NEW.status OR OLD.name IS DISTINCT FROM NEW.name OR OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION fulltext_skill_records();
CREATE OR REPLACE TRIGGER fulltext_skill_records_delete AFTER DELETE ON skill_records FOR EACH ROW EXECUTE FUNCTION fulltext_skill_records();

-- Backfill: the records already present; running the step again adds
-- nothing.
INSERT INTO fulltext_docs (grove_id, table_name, machine_id, record_id, project_id, status, observation_type, session_id, source_path, name, created_at, document)
SELECT grove_id, 'sessions', machine_id, id, project_id, status, NULL, NULL, NULL, NULL, created_at, to_tsvector('english', left(summary, 100000)) FROM sessions WHERE summary <> ''
UNION ALL
SELECT grove_id, 'spores', machine_id, id, project_id, status, observation_type, session_id, NULL, NULL, created_at, to_tsvector('english', left(content, 100000)) FROM spores WHERE status = 'active' AND content <> ''
UNION ALL
SELECT grove_id, 'plans', machine_id, id, project_id, status, NULL, session_id, source_path, NULL, created_at, to_tsvector('english', left(content, 100000)) FROM plans WHERE content <> ''
UNION ALL
SELECT grove_id, 'artifacts', machine_id, id, project_id, NULL, NULL, NULL, source_path, NULL, created_at, to_tsvector('english', left(content, 100000)) FROM artifacts WHERE content <> ''
UNION ALL
SELECT grove_id, 'skill_records', machine_id, id, project_id, status, NULL, NULL, NULL, name, created_at, to_tsvector('english', left(description, 100000)) FROM skill_records WHERE description <> ''
ON CONFLICT (grove_id, table_name, machine_id, record_id) DO NOTHING;
