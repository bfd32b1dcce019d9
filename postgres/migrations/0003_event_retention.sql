-- Event log retention: event_head.floor is the id of the last event a
-- compaction removed (0: none). A compaction deletes the removed events and
-- keeps the hashes of their keys (the first 16 bytes of sha256 of the key),
-- so an AppendOnce of a removed key still appends nothing.
ALTER TABLE event_head ADD COLUMN floor bigint NOT NULL DEFAULT 0 CHECK (floor >= 0);
CREATE TABLE event_removed_keys (
    hash bytea PRIMARY KEY CHECK (length(hash) = 16)
);
