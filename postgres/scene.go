package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/scene"
)

// The scene store keeps the file store's layout as rows of scene_files:
// one row per file a project's scenes directory would hold, named as the
// file (ep_NNN_<batch>.json, .vNNN.json, .versions.json) and holding its
// exact bytes. Every operation makes the file store's decisions with the
// same functions of package scene; the batch's flock becomes a
// transaction-scoped advisory lock on the same name, and a mutation's
// reads and writes are one transaction, so a crash leaves the old or the
// new state, never a body without its manifest.

// resolveRef validates a Ref. Errors: InvalidInput (project or batch),
// InvalidEpisode.
func resolveRef(ref scene.Ref) (scene.Batch, error) { return scene.ResolveBatch(ref) }

// sceneFiles is a project's scene_files rows as scene.Files, read and
// written in one transaction.
type sceneFiles struct {
	s       *Store
	ctx     context.Context
	tx      pgx.Tx
	project string
	cache   *fileCache // a status save group's files (nil: none)
	w       *txWrites  // the stamps written (without a cache)
}

// txWrites is what a transaction's scene writes returned: the stamp of
// every file it wrote (outside a status save group every write of a
// transaction gets the same stamp, "<xid>.0"), and of every file it read
// when read is not nil.
type txWrites struct {
	stamps map[string]string // file name -> stamp written
	read   map[string]string // file name -> stamp read
}

func (f sceneFiles) ReadFile(name string) ([]byte, bool, error) {
	if f.cache == nil {
		data, stamp, ok, err := f.s.readFile(f.ctx, f.tx, f.project, name)
		if ok && f.w != nil && f.w.read != nil {
			f.w.read[name] = stamp
		}
		return data, ok, err
	}
	k := fileKey{f.project, name}
	if data, ok, known := f.cache.read(k); known {
		return data, ok, nil
	}
	data, _, ok, err := f.s.readFile(f.ctx, f.tx, f.project, name)
	if err == nil {
		f.cache.known[k] = nil
		if ok {
			f.cache.known[k] = append([]byte{}, data...)
		}
	}
	return data, ok, err
}

func (f sceneFiles) Exists(name string) (bool, error) {
	if f.cache == nil {
		return f.s.fileExists(f.ctx, f.tx, f.project, name)
	}
	_, ok, err := f.ReadFile(name)
	return ok, err
}

func (f sceneFiles) WriteFile(name string, data []byte) error {
	if f.cache == nil {
		stamp, err := f.s.writeFile(f.ctx, f.tx, f.project, name, data, 0)
		if err == nil && f.w != nil {
			f.w.stamps[name] = stamp
		}
		return err
	}
	f.cache.write(fileKey{f.project, name}, data)
	return nil
}

// files is the batch in the engine of package scene, in transaction tx;
// w (nil: not needed) receives the stamps of its writes.
func (s *Store) files(ctx context.Context, tx pgx.Tx, b scene.Batch, w *txWrites) scene.BatchFiles {
	return scene.BatchFiles{Batch: b, Files: sceneFiles{s: s, ctx: ctx, tx: tx, project: b.Ref.Project, w: w}}
}

// lockBatch takes the batch's lock until the transaction ends.
func (s *Store) lockBatch(ctx context.Context, tx pgx.Tx, b scene.Batch) error {
	if err := xlock(ctx, tx, s.lockKey("scene", b.Ref.Project, b.Lock())); err != nil {
		return s.fail(err, "lock batch %s", b.Ref.Batch)
	}
	return nil
}

// batchTx runs fn over the batch's files in one read-write transaction
// under the batch's lock: fn's writes are committed together or not at
// all. Errors: fn's, as writeTx.
func (s *Store) batchTx(ctx context.Context, b scene.Batch, what string, fn func(scene.BatchFiles) error) error {
	return s.batchTxStamped(ctx, b, what, func(bf scene.BatchFiles, _ pgx.Tx, _ *txWrites) error { return fn(bf) })
}

// batchTxStamped is batchTx whose fn also gets the transaction and the
// stamps of the files written so far.
func (s *Store) batchTxStamped(ctx context.Context, b scene.Batch, what string, fn func(scene.BatchFiles, pgx.Tx, *txWrites) error) error {
	return s.writeTx(ctx, what, func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		w := &txWrites{stamps: map[string]string{}}
		return fn(s.files(ctx, tx, b, w), tx, w)
	})
}

// batchRead runs fn over the batch's files on one snapshot, without the
// lock. Errors: fn's, as readTx.
func (s *Store) batchRead(ctx context.Context, b scene.Batch, what string, fn func(scene.BatchFiles) error) error {
	return s.readTx(ctx, what, func(tx pgx.Tx) error { return fn(s.files(ctx, tx, b, nil)) })
}

// readFile reads a scene file and its stamp; ok is false when it does
// not exist.
func (s *Store) readFile(ctx context.Context, q querier, project, name string) (data []byte, stamp string, ok bool, err error) {
	err = q.QueryRow(ctx, "SELECT data, stamp FROM scene_files WHERE project = $1 AND name = $2", project, name).Scan(&data, &stamp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, s.fail(err, "read %s", name)
	}
	return data, stamp, true, nil
}

// writeFile creates or replaces a scene file and returns the stamp it
// wrote: "<xid>.<ord>", or "" when ord < 0 (a copy of a file whose
// writer announced it, such as a migration's).
func (s *Store) writeFile(ctx context.Context, tx pgx.Tx, project, name string, data []byte, ord int) (string, error) {
	var stamp string
	err := tx.QueryRow(ctx, `INSERT INTO scene_files (project, name, data, xid, stamp)
		VALUES ($1, $2, $3, pg_current_xact_id()::text::bigint,
			CASE WHEN $4::int < 0 THEN '' ELSE pg_current_xact_id()::text || '.' || $4::int END)
		ON CONFLICT (project, name) DO UPDATE SET data = excluded.data, updated_at = now(),
			xid = excluded.xid, stamp = excluded.stamp
		RETURNING stamp`, project, name, data, ord).Scan(&stamp)
	return stamp, s.fail(err, "write %s", name)
}

// rowStamp returns a scene file's stamp ("" when it does not exist).
func (s *Store) rowStamp(ctx context.Context, q querier, project, name string) (string, error) {
	var stamp string
	err := q.QueryRow(ctx, "SELECT stamp FROM scene_files WHERE project = $1 AND name = $2", project, name).Scan(&stamp)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return stamp, s.fail(err, "read the stamp of %s", name)
}

// fileExists reports whether a scene file exists.
func (s *Store) fileExists(ctx context.Context, q querier, project, name string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM scene_files WHERE project = $1 AND name = $2)", project, name).Scan(&ok)
	return ok, s.fail(err, "stat %s", name)
}

// Load implements scene.Store (load_scene_active_with_version), on one
// snapshot. Errors: NotFound, SchemaMismatch, Corrupt, InvalidEpisode,
// UnsafeArtifact, ManifestIdentity, InvalidInput.
func (s *Store) Load(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	return s.loadStamped(ctx, b, "load scene", scene.BatchFiles.LoadActive)
}

// LoadVersion implements scene.Store: a registered version's body;
// without a manifest only version 1, the flat body, exists.
func (s *Store) LoadVersion(ctx context.Context, ref scene.Ref, version int) (scene.Loaded, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	return s.loadStamped(ctx, b, "load scene version", func(bf scene.BatchFiles) (scene.Loaded, error) { return bf.LoadVersion(version) })
}

// loadStamped runs a load on one snapshot and sets the Stamp of the body
// it read, as a status save returns it.
func (s *Store) loadStamped(ctx context.Context, b scene.Batch, what string, load func(scene.BatchFiles) (scene.Loaded, error)) (scene.Loaded, error) {
	var ld scene.Loaded
	err := s.readTx(ctx, what, func(tx pgx.Tx) error {
		w := &txWrites{read: map[string]string{}}
		var err error
		if ld, err = load(s.files(ctx, tx, b, w)); err != nil {
			return err
		}
		for name, st := range w.read {
			if name != b.Manifest() {
				ld.Stamp = st
			}
		}
		return nil
	})
	return ld, err
}

// Versions implements scene.Store: the registered versions in manifest
// order; a flat-only batch lists the version 1 a materialization would
// record.
func (s *Store) Versions(ctx context.Context, ref scene.Ref) ([]scene.VersionInfo, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return nil, err
	}
	var out []scene.VersionInfo
	err = s.batchRead(ctx, b, "scene versions", func(bf scene.BatchFiles) error {
		var err error
		out, err = bf.Versions()
		return err
	})
	return out, err
}

// List implements scene.Store (list_scenes): the sorted names of the
// episode's flat scene files. Errors: InvalidEpisode, InvalidInput.
func (s *Store) List(ctx context.Context, project, episode string) ([]string, error) {
	if err := scene.ValidateProject(project); err != nil {
		return nil, err
	}
	token, err := scene.CanonicalEpisode(episode)
	if err != nil {
		return nil, err
	}
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	prefix := token + "_"
	rows, err := s.pool.Query(ctx,
		"SELECT name FROM scene_files WHERE project = $1 AND left(name, $2) = $3", project, len([]rune(prefix)), prefix)
	if err != nil {
		return nil, s.fail(err, "list scenes")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.fail(err, "list scenes")
	}
	return scene.ListedScenes(names, token, nil), nil
}

// WriteCandidate implements scene.Store (write_scene_candidate): the
// identity guard first (IdentityMismatch, nothing written); under the batch lock
// a flat-only batch is materialized as v1; a candidate whose structure
// fingerprint equals a registered version's returns that version
// (activating it if asked); otherwise the body is stored as .vNNN.json
// with its manifest entry, in one transaction. A new batch's first
// version is active.
func (s *Store) WriteCandidate(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, error) {
	v, _, err := s.WriteCandidateStamped(ctx, ref, sc, reason, activate)
	return v, err
}

// WriteCandidateStamped implements scene.StampedActivator: WriteCandidate,
// returning the stamp of the manifest after the write, read in its
// transaction.
func (s *Store) WriteCandidateStamped(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, string, error) {
	if err := scene.CheckCandidate(ref.Batch, sc); err != nil {
		return 0, "", err
	}
	if err := s.usable(ctx); err != nil {
		return 0, "", err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return 0, "", err
	}
	body, fp, err := scene.EncodeCandidate(sc)
	if err != nil {
		return 0, "", err
	}
	var c scene.Candidate
	stamp := ""
	err = s.batchTxStamped(ctx, b, "write scene candidate", func(bf scene.BatchFiles, tx pgx.Tx, w *txWrites) error {
		var err error
		if c, err = bf.WriteCandidate(body, fp, reason, activate, s.now()); err != nil {
			return err
		}
		stamp, err = s.manifestStamp(ctx, tx, b, w)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	if msg, args := c.LogEvent(ref.Batch, reason); msg != "" {
		s.log.Info(msg, args...)
	}
	return c.Version, stamp, nil
}

// manifestStamp is the stamp of b's manifest in tx: the one written, or
// the stored one when the transaction did not write it.
func (s *Store) manifestStamp(ctx context.Context, tx pgx.Tx, b scene.Batch, w *txWrites) (string, error) {
	if st, ok := w.stamps[b.Manifest()]; ok {
		return st, nil
	}
	return s.rowStamp(ctx, tx, b.Ref.Project, b.Manifest())
}

// Activate implements scene.Store: under the batch lock the version must
// be registered (a flat-only batch is materialized first), its body
// present and its scene_id the batch; then the manifest's pointer moves.
// Errors: NotFound, ManifestIdentity, UnsafeArtifact, as Load.
func (s *Store) Activate(ctx context.Context, ref scene.Ref, version int) error {
	return s.ActivateIf(ctx, ref, version, 0)
}

// ActivateIf implements scene.CondActivator: Activate, refused with
// VERSION_CONFLICT in the batch's transaction when expected > 0 and the
// active version is not expected.
func (s *Store) ActivateIf(ctx context.Context, ref scene.Ref, version, expected int) error {
	_, err := s.ActivateStamped(ctx, ref, version, expected)
	return err
}

// ActivateStamped implements scene.StampedActivator: ActivateIf,
// returning the stamp of the manifest it wrote.
func (s *Store) ActivateStamped(ctx context.Context, ref scene.Ref, version, expected int) (string, error) {
	if err := s.usable(ctx); err != nil {
		return "", err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return "", err
	}
	prev := 0
	stamp := ""
	err = s.batchTxStamped(ctx, b, "activate scene version", func(bf scene.BatchFiles, tx pgx.Tx, w *txWrites) error {
		var err error
		if prev, err = bf.ActivateIf(version, expected); err != nil {
			return err
		}
		stamp, err = s.manifestStamp(ctx, tx, b, w)
		return err
	})
	if err != nil {
		return "", err
	}
	s.log.Info("scene version activated", "batch", ref.Batch, "version", version, "previous", prev)
	return stamp, nil
}

var (
	_ scene.CondActivator    = (*Store)(nil)
	_ scene.StampedActivator = (*Store)(nil)
)
