-- Event log retention: event_head.floor is the id of the last event a
-- compaction removed (0: none). Removed events without a key are deleted;
-- a removed keyed event keeps its row with empty data, so its key still
-- makes an AppendOnce of it append nothing.
ALTER TABLE event_head ADD COLUMN floor bigint NOT NULL DEFAULT 0 CHECK (floor >= 0);
