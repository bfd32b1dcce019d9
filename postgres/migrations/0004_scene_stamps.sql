-- Scene file stamps. Every write of a scene_files row by a settle writer
-- sets xid, the writing transaction's id (pg_current_xact_id), and stamp,
-- "<xid>.<n>" with n the write's place in a status save group (0 outside
-- one): it tells apart two writes of the same bytes, like the file
-- store's file identity. The writer returns it (scene.Loaded.Stamp,
-- scene.StampedActivator) to key its scene.status_saved and
-- scene.activated events, and a follower of the rows (SceneScanner) keys
-- the events it derives by the same stamp, so each is appended once.
-- A follower reads the rows whose xid is not below the oldest transaction
-- still running at its previous read (pg_snapshot_xmin), so a row whose
-- transaction commits after a later one is never skipped.
--
-- Rows written before this version, and rows a migration copies in
-- (PutSceneFile), get stamp '': their writers announced their events, so
-- a follower derives no save or activation from them. The data bytes do
-- not change.
ALTER TABLE scene_files ADD COLUMN xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE scene_files ADD COLUMN stamp text NOT NULL DEFAULT '';
CREATE INDEX scene_files_xid ON scene_files (xid);
