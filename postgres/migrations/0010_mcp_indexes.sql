-- Indexes of the MCP list tools, in a step of their own: myco_spores
-- lists a grove's spores newest first (reference §7), which without this
-- index is a scan and a sort of every spore of the grove. The key columns
-- follow, so the whole order (created_at, machine_id, id, all descending)
-- is read from the index.
CREATE INDEX IF NOT EXISTS idx_spores_grove_created ON spores (grove_id, created_at, machine_id, id);
