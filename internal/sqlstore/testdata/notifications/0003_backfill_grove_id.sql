-- Backfill rows written before groves existed.
UPDATE notifications SET grove_id = 'user_primary' WHERE grove_id IS NULL;
