package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// UpdateStatus is the seed's save_active_scene_status with its closures,
// in one transaction under the batch lock: (1) the active version must
// still be expectedVersion (VersionConflict, nothing written); (2) the
// active body is loaded fresh, mutate changes it, and a change of its
// structure fingerprint is refused (StructureImmutable); a registered body that is
// missing is NotFound; a batch with neither manifest nor flat body is
// cold-started from an empty scene; (3) the body is written, then
// postWrite (if not nil) runs before the commit: if it fails, nothing is
// committed and its error is returned. An error from mutate is returned
// as is, nothing written.
func (s *Store) UpdateStatus(ctx context.Context, ref scene.Ref, expectedVersion int,
	mutate func(*scene.Scene) error, postWrite func(*scene.Scene) error) (scene.Loaded, error) {
	return s.updateStatus(ctx, ref, scene.Cond{Version: expectedVersion, AnyRevision: true}, mutate, postWrite, false)
}

// updateStatus saves under c; grouped (for a mutate that never blocks)
// lets concurrent saves share a transaction.
func (s *Store) updateStatus(ctx context.Context, ref scene.Ref, c scene.Cond,
	mutate func(*scene.Scene) error, postWrite func(*scene.Scene) error, grouped bool) (scene.Loaded, error) {
	if mutate == nil {
		return scene.Loaded{}, settle.Errorf(settle.InvalidInput, "no status mutation")
	}
	if err := s.usable(ctx); err != nil {
		return scene.Loaded{}, err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	var out scene.Loaded
	cold := false
	if grouped && postWrite == nil {
		// Concurrent saves share a transaction: one commit for many.
		var done bool
		out, cold, done, err = s.saveStatusGrouped(ctx, b, c, mutate)
		if err != nil {
			return scene.Loaded{}, err
		}
		if done {
			s.log.Debug("scene status written", "batch", ref.Batch, "version", c.Version, "cold_start", cold, "grouped", true)
			out.Created = cold
			return out, nil
		}
	}
	err = s.batchTxStamped(ctx, b, "save scene status", func(bf scene.BatchFiles, _ pgx.Tx, tw *txWrites) error {
		w, err := bf.UpdateStatusIf(c, func(sc *scene.Scene) error {
			if err := mutate(sc); err != nil {
				return userError{err}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if postWrite != nil {
			if err := postWrite(w.Loaded.Scene); err != nil {
				return userError{err}
			}
		}
		out, cold = w.Loaded, w.Cold
		out.Stamp = tw.stamps[w.Name]
		return nil
	})
	var ue userError
	if errors.As(err, &ue) {
		return scene.Loaded{}, ue.err
	}
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene status written", "batch", ref.Batch, "version", c.Version, "cold_start", cold)
	out.Created = cold
	return out, nil
}

// userError carries a caller's closure error through a transaction
// unchanged.
type userError struct{ err error }

func (u userError) Error() string { return u.err.Error() }

// PatchStatus implements scene.Store: an RFC 6902 patch applied to the
// active body inside UpdateStatus. Errors: VersionConflict, StructureImmutable,
// InvalidInput, NotFound, as Load.
func (s *Store) PatchStatus(ctx context.Context, ref scene.Ref, expectedVersion int, patch []byte) (scene.Loaded, error) {
	return s.PatchStatusIf(ctx, ref, scene.Cond{Version: expectedVersion, AnyRevision: true}, patch)
}

// PatchStatusIf implements scene.CondWriter: PatchStatus under c.
func (s *Store) PatchStatusIf(ctx context.Context, ref scene.Ref, c scene.Cond, patch []byte) (scene.Loaded, error) {
	return s.updateStatus(ctx, ref, c, scene.PatchMutation(patch), nil, true)
}

// SaveRunner implements scene.Store (writer-1 save_active_scene) at the
// raw JSON level, under the batch lock: the active version must still be
// expectedVersion and the body still expectedRevision ("": no body), else
// VersionConflict; a batch with neither manifest nor flat body gets the
// runner's whole scene as its flat body; a registered body that is
// missing is NotFound; otherwise a structural difference is refused
// (StructureImmutable) and the runner's status is overlaid on the stored body.
// Loaded.Scene is nil if the merged body does not hydrate as a Scene.
func (s *Store) SaveRunner(ctx context.Context, ref scene.Ref, expectedVersion int, expectedRevision string, runner *scene.Scene) (scene.Loaded, error) {
	return s.SaveRunnerIf(ctx, ref, scene.Cond{Version: expectedVersion, Revision: expectedRevision}, runner)
}

// SaveRunnerIf implements scene.CondWriter: SaveRunner under c.
func (s *Store) SaveRunnerIf(ctx context.Context, ref scene.Ref, c scene.Cond, runner *scene.Scene) (scene.Loaded, error) {
	if runner == nil {
		return scene.Loaded{}, settle.Errorf(settle.InvalidInput, "no runner scene")
	}
	if err := s.usable(ctx); err != nil {
		return scene.Loaded{}, err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	var ld scene.Loaded
	cold := false
	err = s.batchTxStamped(ctx, b, "save runner scene", func(bf scene.BatchFiles, _ pgx.Tx, w *txWrites) error {
		var err error
		if ld, cold, err = bf.SaveRunner(c, runner); err != nil {
			return err
		}
		// A runner save writes one file, its body.
		for _, st := range w.stamps {
			ld.Stamp = st
		}
		return nil
	})
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene runner status written", "batch", ref.Batch, "version", c.Version, "cold_start", cold)
	ld.Created = cold
	return ld, nil
}

// Save is the seed's save_scene on the batch's flat body: a replacement
// under the batch lock without any guard (it replaces a locked scene too;
// SaveGuarded refuses that).
func (s *Store) Save(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	return s.saveFlat(ctx, ref, sc, false)
}

// SaveGuarded is the seed's save_scene_guarded on the batch's flat body,
// under the batch lock: the scene is written unless an existing flat body
// is locked (SceneLocked, nothing written).
func (s *Store) SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	return s.saveFlat(ctx, ref, sc, true)
}

// saveFlat replaces the flat body under the batch lock; guard applies
// scene.CheckNotLocked to the existing body first.
func (s *Store) saveFlat(ctx context.Context, ref scene.Ref, sc *scene.Scene, guard bool) error {
	if sc == nil {
		return settle.Errorf(settle.InvalidInput, "no scene")
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return err
	}
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return settle.Wrap(settle.InvalidInput, err, "encode scene")
	}
	return s.batchTx(ctx, b, "save scene", func(bf scene.BatchFiles) error {
		return bf.SaveFlat(data, guard)
	})
}

// RecoverStale implements scene.Store (scene.RecoverStale): takes running
// since before now-olderThan (olderThan <= 0: scene.DefaultStaleAge)
// become stale through UpdateStatus at the loaded version (retried a few
// times if the active version moves meanwhile); with none, nothing is
// written.
func (s *Store) RecoverStale(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, error) {
	n, _, err := s.RecoverStaleSaved(ctx, ref, olderThan, now)
	return n, err
}

// RecoverStaleSaved implements scene.StaleSaver: RecoverStale, with what
// its write saved.
func (s *Store) RecoverStaleSaved(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, scene.Loaded, error) {
	n, saved, err := scene.RecoverStale(ctx, s, ref, olderThan, now)
	if err == nil && n > 0 {
		s.log.Info("stale takes recovered", "batch", ref.Batch, "version", saved.Version, "count", n)
	}
	return n, saved, err
}

// InitFromPlan implements scene.Store (scene.InitFromPlan): for every
// plan sequence, in plan order, a batch whose flat body exists is
// re-stamped with maxTakes on its active body; any other gets a new flat
// scene (created under the batch lock only if still absent). dryRun
// writes nothing.
func (s *Store) InitFromPlan(ctx context.Context, project, episode string, plan scene.Plan, maxTakes int, dryRun bool) ([]scene.InitResult, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	return scene.InitFromPlan(ctx, planStore{s}, project, episode, plan, maxTakes, dryRun)
}

// planStore is the store as scene.PlanStore.
type planStore struct{ *Store }

func (p planStore) FlatExists(ctx context.Context, ref scene.Ref) (bool, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return false, err
	}
	return p.fileExists(ctx, p.pool, b.Ref.Project, b.Flat())
}

// CreateFlat writes sc as the batch's flat body under the batch lock
// unless the flat body exists by then.
func (p planStore) CreateFlat(ctx context.Context, ref scene.Ref, sc *scene.Scene) (bool, error) {
	s := p.Store
	b, err := resolveRef(ref)
	if err != nil {
		return false, err
	}
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return false, settle.Wrap(settle.InvalidInput, err, "encode scene")
	}
	created := false
	err = s.batchTx(ctx, b, "create scene", func(bf scene.BatchFiles) error {
		var err error
		created, err = bf.CreateFlat(data)
		return err
	})
	created = created && err == nil
	if created {
		s.log.Info("scene created from plan", "batch", ref.Batch, "beats", len(sc.Beats))
	}
	return created, err
}
