-- Fixture for the migration engine tests (the seed's example): the table as
-- it was before groves. The SQL is valid on both engines.
CREATE TABLE IF NOT EXISTS notifications (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT,
    PRIMARY KEY (machine_id, id)
);
