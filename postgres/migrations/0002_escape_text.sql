-- settle PostgreSQL schema, version 2.
--
-- The ledger's derived text columns hold their strings escaped, because
-- text cannot hold U+0000 (postgres/text.go): U+0001 is the escape
-- character, written U+0001 U+0001, and U+0000 is written U+0001 '0'.
-- Rows written before this version hold their strings as they are; a
-- string with U+0001 among them gets its escape here, so that it is still
-- found. line, the record's exact bytes, does not change.
UPDATE ledger SET
    task_id        = replace(task_id, chr(1), chr(1) || chr(1)),
    track_id       = replace(track_id, chr(1), chr(1) || chr(1)),
    batch_id       = replace(batch_id, chr(1), chr(1) || chr(1)),
    writeback_id   = replace(writeback_id, chr(1), chr(1) || chr(1)),
    conflict_id    = replace(conflict_id, chr(1), chr(1) || chr(1)),
    classification = replace(classification, chr(1), chr(1) || chr(1))
WHERE strpos(task_id || coalesce(track_id, '') || coalesce(batch_id, '') || coalesce(writeback_id, '') ||
             coalesce(conflict_id, '') || coalesce(classification, ''), chr(1)) > 0;
