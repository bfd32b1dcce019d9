package file

import (
	"context"
	"errors"
	"fmt"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
)

// lockStatus resolves ref and takes the batch lock for a status writer
// under c. A refusal of a batch that has no scene (no manifest, no flat
// body) creates nothing, not even the scenes directory or the lock file:
// such a batch is first tried with dry, the write over no files, without
// the lock, and only a write that would create the batch takes (and so
// creates) the lock. Errors: Unavailable, as resolve, dry's.
func (s *Scenes) lockStatus(ctx context.Context, ref scene.Ref, dry func(scene.BatchFiles) error) (sceneBatch, *durable.Lock, error) {
	if err := s.writable(ctx); err != nil {
		return sceneBatch{}, nil, err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return sceneBatch{}, nil, err
	}
	exists, err := s.files(b).Exists()
	if err != nil {
		return sceneBatch{}, nil, err
	}
	if !exists {
		// The dry run's refusal is the answer as of this check, when
		// the batch had no scene.
		if err := dry(scene.BatchFiles{Batch: b.Batch, Files: noFiles{}}); err != nil {
			return sceneBatch{}, nil, err
		}
	}
	l, err := s.lockBatch(ctx, b)
	if err != nil {
		return sceneBatch{}, nil, err
	}
	return b, l, nil
}

// noFiles is an empty scenes directory whose writes go nowhere: the dry
// run of a write to a batch without a scene.
type noFiles struct{}

func (noFiles) ReadFile(string) ([]byte, bool, error) { return nil, false, nil }
func (noFiles) Exists(string) (bool, error)           { return false, nil }
func (noFiles) WriteFile(string, []byte) error        { return nil }

// UpdateStatus is the seed's save_active_scene_status with its closures:
// under the batch lock, (1) the active version must still be
// expectedVersion (no manifest: it must be 1), else VersionConflict and
// nothing is written; (2) an existing active body is loaded fresh, mutate
// changes it, and a change of its structure fingerprint is refused with
// StructureImmutable, nothing written; a registered body that is missing is
// NotFound; a batch with neither manifest nor flat body is cold-started
// from {scene_id: batch, beats: [], scene_metadata: {}} without the
// structure guard; (3) the body is written, then postWrite (if not nil)
// runs before the lock is released: if it fails, the previous body bytes
// are restored (a cold-started body is removed) and its error returned.
// An error from mutate is returned as is, nothing written. mutate runs
// once: a refusal that a batch without a scene meets before mutate
// creates nothing, but a mutate or postWrite failing on a cold start
// leaves the batch's lock file (lock files are never deleted).
func (s *Scenes) UpdateStatus(ctx context.Context, ref scene.Ref, expectedVersion int,
	mutate func(*scene.Scene) error, postWrite func(*scene.Scene) error) (scene.Loaded, error) {
	// mutate is the caller's and may not be pure: the dry run of a batch
	// without a scene checks the conditions with a mutation that does
	// nothing.
	if mutate == nil {
		return scene.Loaded{}, settle.Errorf(settle.InvalidInput, "no status mutation")
	}
	noop := func(*scene.Scene) error { return nil }
	c := scene.Cond{Version: expectedVersion, AnyRevision: true}
	return s.updateStatus(ctx, ref, c, func(bf scene.BatchFiles, dry bool) (scene.StatusWrite, error) {
		if dry {
			return bf.UpdateStatusIf(c, noop)
		}
		return bf.UpdateStatusIf(c, mutate)
	}, postWrite)
}

// updateStatus runs write under the batch lock (dry: the dry run of a
// batch without a scene, see lockStatus), then postWrite.
func (s *Scenes) updateStatus(ctx context.Context, ref scene.Ref, c scene.Cond,
	write func(bf scene.BatchFiles, dry bool) (scene.StatusWrite, error), postWrite func(*scene.Scene) error) (scene.Loaded, error) {
	b, l, err := s.lockStatus(ctx, ref, func(bf scene.BatchFiles) error {
		_, err := write(bf, true)
		return err
	})
	if err != nil {
		return scene.Loaded{}, err
	}
	defer s.unlock(l, b)

	w, err := write(s.files(b), false)
	if err != nil {
		return scene.Loaded{}, err
	}
	if postWrite != nil {
		if herr := postWrite(w.Loaded.Scene); herr != nil {
			var rerr error
			if w.Cold {
				rerr = s.removeFile(b.path(w.Name))
			} else {
				rerr = s.writeFile(b.path(w.Name), w.Prev)
			}
			if rerr != nil {
				return scene.Loaded{}, errors.Join(herr, fmt.Errorf("roll back batch %s: %w", ref.Batch, rerr))
			}
			s.log.Info("scene status write rolled back", "batch", ref.Batch, "version", c.Version, "err", herr)
			return scene.Loaded{}, herr
		}
	}
	s.log.Debug("scene status written", "batch", ref.Batch, "version", c.Version, "cold_start", w.Cold)
	// Under the lock the body is still the one written.
	w.Loaded.Stamp = pathStamp(b.path(w.Name))
	w.Loaded.Created = w.Cold
	return w.Loaded, nil
}

// PatchStatus applies an RFC 6902 JSON Patch to the active body's scene
// JSON inside UpdateStatus (the seed's mutate closure). Errors:
// VersionConflict, StructureImmutable, InvalidInput (a malformed or failing patch, or
// a result that is not a scene), NotFound, as Load, Unavailable.
func (s *Scenes) PatchStatus(ctx context.Context, ref scene.Ref, expectedVersion int, patch []byte) (scene.Loaded, error) {
	return s.PatchStatusIf(ctx, ref, scene.Cond{Version: expectedVersion, AnyRevision: true}, patch)
}

// PatchStatusIf is PatchStatus under c (scene.CondWriter). A patch
// refused on a batch without a scene (c.NoCreate, or a patch that does not
// apply to the empty scene of a cold start) leaves no file behind.
func (s *Scenes) PatchStatusIf(ctx context.Context, ref scene.Ref, c scene.Cond, patch []byte) (scene.Loaded, error) {
	return s.updateStatus(ctx, ref, c, func(bf scene.BatchFiles, _ bool) (scene.StatusWrite, error) {
		return bf.PatchStatusIf(c, patch)
	}, nil)
}

// SaveRunner is the seed's writer-1 save_active_scene, at the raw JSON
// level: under the batch lock, the active version must still be
// expectedVersion and the body still expectedRevision (its
// Loaded.Revision; "": no body), else VersionConflict; a batch with
// neither manifest nor flat body gets the runner's whole scene as its flat
// body; a registered body that is missing is NotFound; otherwise a
// structural difference between the disk body and the runner's scene (see
// scene.StructuralMutations) is refused with StructureImmutable, and the runner's
// takes, primary take, phantom recovery count and selected beat metadata
// are overlaid on the disk body (absent structural metadata is enriched
// only for a batch without manifest). The returned Loaded.Scene is nil if
// the merged body does not hydrate as a Scene. Errors: VersionConflict,
// StructureImmutable, NotFound, as Load, Unavailable.
func (s *Scenes) SaveRunner(ctx context.Context, ref scene.Ref, expectedVersion int, expectedRevision string, runner *scene.Scene) (scene.Loaded, error) {
	return s.SaveRunnerIf(ctx, ref, scene.Cond{Version: expectedVersion, Revision: expectedRevision}, runner)
}

// SaveRunnerIf is SaveRunner under c (scene.CondWriter).
func (s *Scenes) SaveRunnerIf(ctx context.Context, ref scene.Ref, c scene.Cond, runner *scene.Scene) (scene.Loaded, error) {
	if runner == nil {
		return scene.Loaded{}, settle.Errorf(settle.InvalidInput, "no runner scene")
	}
	b, l, err := s.lockStatus(ctx, ref, func(bf scene.BatchFiles) error {
		_, _, err := bf.SaveRunner(c, runner)
		return err
	})
	if err != nil {
		return scene.Loaded{}, err
	}
	defer s.unlock(l, b)

	ld, cold, err := s.files(b).SaveRunner(c, runner)
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene runner status written", "batch", ref.Batch, "version", c.Version, "cold_start", cold)
	if t, err := s.files(b).Recheck(ld.Version); err == nil {
		ld.Stamp = pathStamp(b.path(t.Name))
	}
	ld.Created = cold
	return ld, nil
}

// Save is the seed's save_scene on the batch's flat body: an atomic,
// durable replacement, under the batch lock but without any guard (it
// replaces a locked scene too; SaveGuarded refuses that). Errors: InvalidInput,
// InvalidEpisode, Unavailable.
func (s *Scenes) Save(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	return s.saveFlat(ctx, ref, sc, false)
}

// SaveGuarded is the seed's save_scene_guarded on the batch's flat body,
// under the batch lock: the scene is written unless an existing flat body
// is locked (SceneLocked, nothing written). Errors: SceneLocked,
// Corrupt, SchemaMismatch (an unreadable existing body), Unavailable.
func (s *Scenes) SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	return s.saveFlat(ctx, ref, sc, true)
}

// saveFlat replaces the flat body under the batch lock; guard applies
// scene.CheckNotLocked to the existing body first.
func (s *Scenes) saveFlat(ctx context.Context, ref scene.Ref, sc *scene.Scene, guard bool) error {
	if sc == nil {
		return settle.Errorf(settle.InvalidInput, "no scene")
	}
	if err := s.writable(ctx); err != nil {
		return err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return err
	}
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return settle.Wrap(settle.InvalidInput, err, "encode scene")
	}
	l, err := s.lockBatch(ctx, b)
	if err != nil {
		return err
	}
	defer s.unlock(l, b)
	return s.files(b).SaveFlat(data, guard)
}

// RecoverStale marks the active body's takes that have been running since
// before now-olderThan (olderThan <= 0: scene.DefaultStaleAge) as stale,
// through UpdateStatus at the version it loaded (retried a few times if the
// active version moves meanwhile), and returns how many it changed; with
// none, nothing is written. Errors: as Load, StructureImmutable, VersionConflict
// (the version kept moving), Unavailable.
func (s *Scenes) RecoverStale(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, error) {
	n, _, err := s.RecoverStaleSaved(ctx, ref, olderThan, now)
	return n, err
}

// RecoverStaleSaved implements scene.StaleSaver: RecoverStale, with what
// its write saved.
func (s *Scenes) RecoverStaleSaved(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, scene.Loaded, error) {
	n, saved, err := scene.RecoverStale(ctx, s, ref, olderThan, now)
	if err == nil && n > 0 {
		s.log.Info("stale takes recovered", "batch", ref.Batch, "version", saved.Version, "count", n)
	}
	return n, saved, err
}

// InitFromPlan is the seed's init_scenes_from_plan (scene.InitFromPlan):
// for every plan sequence, in plan order, a batch whose flat body exists is
// re-stamped with maxTakes on its active body (Load, then UpdateStatus at
// the loaded version); any other gets a new flat scene whose beats are the
// sequence's shots. The create is made under the batch lock and only if the
// flat body is still absent. dryRun builds the same result and writes
// nothing. Errors: InvalidInput (plan, sequence id, negative maxTakes),
// InvalidEpisode, as Load, StructureImmutable, VersionConflict, Unavailable.
func (s *Scenes) InitFromPlan(ctx context.Context, project, episode string, plan scene.Plan, maxTakes int, dryRun bool) ([]scene.InitResult, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	return scene.InitFromPlan(ctx, planScenes{s}, project, episode, plan, maxTakes, dryRun)
}

// planScenes is the store as scene.PlanStore.
type planScenes struct{ *Scenes }

func (p planScenes) FlatExists(_ context.Context, ref scene.Ref) (bool, error) {
	b, err := p.resolve(ref)
	if err != nil {
		return false, err
	}
	return sceneFileExists(b.flat())
}

// CreateFlat writes sc as the batch's flat body under the batch lock unless
// the flat body exists by then.
func (p planScenes) CreateFlat(ctx context.Context, ref scene.Ref, sc *scene.Scene) (bool, error) {
	s := p.Scenes
	b, err := s.resolve(ref)
	if err != nil {
		return false, err
	}
	if err := s.writable(ctx); err != nil {
		return false, err
	}
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return false, settle.Wrap(settle.InvalidInput, err, "encode scene")
	}
	l, err := s.lockBatch(ctx, b)
	if err != nil {
		return false, err
	}
	defer s.unlock(l, b)
	created, err := s.files(b).CreateFlat(data)
	if created {
		s.log.Info("scene created from plan", "batch", ref.Batch, "beats", len(sc.Beats))
	}
	return created, err
}
