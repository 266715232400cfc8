-- Index last, in a step of its own.
CREATE INDEX IF NOT EXISTS idx_notifications_grove_machine ON notifications (grove_id, machine_id);
