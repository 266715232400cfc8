-- Indexes of the job queue, in a step of their own.

-- Claiming: due jobs of a kind in the claim order (run_at, grove, key), so
-- a claim reads only the rows it takes instead of sorting every due job.
CREATE INDEX IF NOT EXISTS idx_jobs_claim ON jobs (kind, run_at, grove_id, key);
-- Per-grove counts and /rebuild's per-machine deletes.
CREATE INDEX IF NOT EXISTS idx_jobs_grove_machine ON jobs (grove_id, machine_id);
-- /dlq lists a grove's dead letters newest first.
CREATE INDEX IF NOT EXISTS idx_team_dlq_grove_created ON team_dlq (grove_id, created_at);
