-- Secondary indexes, in a step of their own (add column → backfill → index).

CREATE INDEX IF NOT EXISTS idx_projects_grove ON projects (grove_id);
CREATE INDEX IF NOT EXISTS idx_kv_expires_at ON kv (expires_at);
CREATE INDEX IF NOT EXISTS idx_sessions_grove_project_created ON sessions (grove_id, project_id, created_at);
CREATE INDEX IF NOT EXISTS idx_sessions_grove_started ON sessions (grove_id, started_at);
CREATE INDEX IF NOT EXISTS idx_prompt_batches_grove_project_created ON prompt_batches (grove_id, project_id, created_at);
CREATE INDEX IF NOT EXISTS idx_spores_grove_project ON spores (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_spores_grove_status_created ON spores (grove_id, status, created_at);
CREATE INDEX IF NOT EXISTS idx_entities_grove_project ON entities (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_graph_edges_grove_source ON graph_edges (grove_id, source_id, source_type);
CREATE INDEX IF NOT EXISTS idx_graph_edges_grove_target ON graph_edges (grove_id, target_id, target_type);
CREATE INDEX IF NOT EXISTS idx_entity_mentions_grove_project ON entity_mentions (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_resolution_events_grove_project ON resolution_events (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_plans_grove_project ON plans (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_plans_grove_updated ON plans (grove_id, updated_at);
CREATE INDEX IF NOT EXISTS idx_artifacts_grove_project ON artifacts (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_digest_extracts_grove_tier ON digest_extracts (grove_id, tier, generated_at);
CREATE INDEX IF NOT EXISTS idx_skill_candidates_grove_project ON skill_candidates (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_skill_records_grove_name ON skill_records (grove_id, name);
CREATE INDEX IF NOT EXISTS idx_skill_records_grove_usage ON skill_records (grove_id, usage_count);
CREATE INDEX IF NOT EXISTS idx_skill_lineage_grove_project ON skill_lineage (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_skill_usage_grove_skill ON skill_usage (grove_id, skill_id);
CREATE INDEX IF NOT EXISTS idx_knowledge_release_state_record ON knowledge_release_state (grove_id, namespace, record_id, machine_id);
CREATE INDEX IF NOT EXISTS idx_okf_generations_grove_project ON okf_generations (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_okf_pages_grove_project ON okf_pages (grove_id, project_id);
CREATE INDEX IF NOT EXISTS idx_okf_page_revisions_grove_project ON okf_page_revisions (grove_id, project_id);
