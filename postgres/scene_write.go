package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// UpdateStatus is the seed's save_active_scene_status with its closures,
// in one transaction under the batch lock: (1) the active version must
// still be expectedVersion (EVERSIONCONFLICT, nothing written); (2) the
// active body is loaded fresh, mutate changes it, and a change of its
// structure fingerprint is refused (ESTRUCTURE); a registered body that is
// missing is ENOTFOUND; a batch with neither manifest nor flat body is
// cold-started from an empty scene; (3) the body is written, then
// postWrite (if not nil) runs before the commit: if it fails, nothing is
// committed and its error is returned. An error from mutate is returned
// as is, nothing written.
func (s *Store) UpdateStatus(ctx context.Context, ref scene.Ref, expectedVersion int,
	mutate func(*scene.Scene) error, postWrite func(*scene.Scene) error) (scene.Loaded, error) {
	if mutate == nil {
		return scene.Loaded{}, settle.Errorf(settle.EINVALID, "no status mutation")
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
	err = s.writeTx(ctx, "save scene status", func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		w, err := s.files(ctx, tx, b).UpdateStatus(expectedVersion, func(sc *scene.Scene) error {
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
		return nil
	})
	var ue userError
	if errors.As(err, &ue) {
		return scene.Loaded{}, ue.err
	}
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene status written", "batch", ref.Batch, "version", expectedVersion, "cold_start", cold)
	return out, nil
}

// userError carries a caller's closure error through a transaction
// unchanged.
type userError struct{ err error }

func (u userError) Error() string { return u.err.Error() }

// PatchStatus implements scene.Store: an RFC 6902 patch applied to the
// active body inside UpdateStatus. Errors: EVERSIONCONFLICT, ESTRUCTURE,
// EINVALID, ENOTFOUND, as Load.
func (s *Store) PatchStatus(ctx context.Context, ref scene.Ref, expectedVersion int, patch []byte) (scene.Loaded, error) {
	return s.UpdateStatus(ctx, ref, expectedVersion, scene.PatchMutation(patch), nil)
}

// SaveRunner implements scene.Store (writer-1 save_active_scene) at the
// raw JSON level, under the batch lock: after the active-version recheck,
// a batch with neither manifest nor flat body gets the runner's whole
// scene as its flat body; a registered body that is missing is
// ENOTFOUND; otherwise a structural difference is refused (ESTRUCTURE)
// and the runner's status is overlaid on the stored body. Loaded.Scene is
// nil if the merged body does not hydrate as a Scene.
func (s *Store) SaveRunner(ctx context.Context, ref scene.Ref, expectedVersion int, runner *scene.Scene) (scene.Loaded, error) {
	if runner == nil {
		return scene.Loaded{}, settle.Errorf(settle.EINVALID, "no runner scene")
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
	err = s.writeTx(ctx, "save runner scene", func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		var err error
		ld, cold, err = s.files(ctx, tx, b).SaveRunner(expectedVersion, runner)
		return err
	})
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene runner status written", "batch", ref.Batch, "version", expectedVersion, "cold_start", cold)
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
// is locked (ESCENELOCKED, nothing written).
func (s *Store) SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	return s.saveFlat(ctx, ref, sc, true)
}

// saveFlat replaces the flat body under the batch lock; guard applies
// scene.CheckNotLocked to the existing body first.
func (s *Store) saveFlat(ctx context.Context, ref scene.Ref, sc *scene.Scene, guard bool) error {
	if sc == nil {
		return settle.Errorf(settle.EINVALID, "no scene")
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
		return settle.Wrap(settle.EINVALID, err, "encode scene")
	}
	return s.writeTx(ctx, "save scene", func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		return s.files(ctx, tx, b).SaveFlat(data, guard)
	})
}

// errNoStaleTakes aborts RecoverStale's status write when nothing changed.
var errNoStaleTakes = errors.New("no stale takes")

// RecoverStale implements scene.Store: takes running since before
// now-olderThan (olderThan <= 0: scene.DefaultStaleAge) become stale
// through UpdateStatus at the loaded version (retried a few times if the
// active version moves meanwhile); with none, nothing is written.
func (s *Store) RecoverStale(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, error) {
	if olderThan <= 0 {
		olderThan = scene.DefaultStaleAge
	}
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		var ld scene.Loaded
		ld, err = s.Load(ctx, ref)
		if err != nil {
			return 0, err
		}
		n := 0
		_, err = s.UpdateStatus(ctx, ref, ld.Version, func(sc *scene.Scene) error {
			n = scene.MarkStale(sc, olderThan, now)
			if n == 0 {
				return errNoStaleTakes
			}
			return nil
		}, nil)
		switch {
		case errors.Is(err, errNoStaleTakes):
			return 0, nil
		case err == nil:
			s.log.Info("stale takes recovered", "batch", ref.Batch, "version", ld.Version, "count", n)
			return n, nil
		case settle.ErrorCode(err) != settle.EVERSIONCONFLICT:
			return 0, err
		}
	}
	return 0, err
}

// InitFromPlan implements scene.Store (init_scenes_from_plan): for every
// plan sequence, in plan order, a batch whose flat body exists is
// re-stamped with maxTakes on its active body; any other gets a new flat
// scene (created under the batch lock only if still absent). dryRun
// writes nothing.
func (s *Store) InitFromPlan(ctx context.Context, project, episode string, plan scene.Plan, maxTakes int, dryRun bool) ([]scene.InitResult, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if maxTakes < 0 {
		return nil, settle.Errorf(settle.EINVALID, "max_takes %d is negative", maxTakes)
	}
	if err := scene.ValidateProject(project); err != nil {
		return nil, err
	}
	if _, err := scene.CanonicalEpisode(episode); err != nil {
		return nil, err
	}
	seqs, err := scene.PlanSequences(plan)
	if err != nil {
		return nil, err
	}
	out := make([]scene.InitResult, 0, len(seqs))
	for _, seq := range seqs {
		ref := scene.Ref{Project: project, Episode: episode, Batch: seq.ID}
		res, err := s.initSequence(ctx, ref, seq, maxTakes, dryRun)
		if err != nil {
			return out, fmt.Errorf("init sequence %s: %w", seq.ID, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (s *Store) initSequence(ctx context.Context, ref scene.Ref, seq scene.PlanSequence, maxTakes int, dryRun bool) (scene.InitResult, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return scene.InitResult{}, err
	}
	exists, err := s.fileExists(ctx, s.pool, b.Ref.Project, b.Flat())
	if err != nil {
		return scene.InitResult{}, err
	}
	if !exists {
		sc, err := scene.NewSceneFromPlanSequence(ref.Project, ref.Episode, seq.ID, seq.Spec, maxTakes)
		if err != nil {
			return scene.InitResult{}, err
		}
		if dryRun {
			return scene.InitResult{Batch: seq.ID, Created: true, Scene: sc}, nil
		}
		created, err := s.createFlat(ctx, b, sc)
		if err != nil {
			return scene.InitResult{}, err
		}
		if created {
			s.log.Info("scene created from plan", "batch", seq.ID, "beats", len(sc.Beats))
			return scene.InitResult{Batch: seq.ID, Created: true, Scene: sc}, nil
		}
		// Another writer created it meanwhile: re-stamp it instead.
	}
	ld, err := s.Load(ctx, ref)
	if err != nil {
		return scene.InitResult{}, err
	}
	restamp := func(sc *scene.Scene) error {
		scene.RestampMaxTakes(sc, maxTakes)
		return nil
	}
	if dryRun {
		_ = restamp(ld.Scene)
		return scene.InitResult{Batch: seq.ID, Created: false, Scene: ld.Scene}, nil
	}
	saved, err := s.UpdateStatus(ctx, ref, ld.Version, restamp, nil)
	if err != nil {
		return scene.InitResult{}, err
	}
	return scene.InitResult{Batch: seq.ID, Created: false, Scene: saved.Scene}, nil
}

// createFlat writes sc as the batch's flat body under the batch lock
// unless the flat body exists by then.
func (s *Store) createFlat(ctx context.Context, b scene.Batch, sc *scene.Scene) (bool, error) {
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return false, settle.Wrap(settle.EINVALID, err, "encode scene")
	}
	created := false
	err = s.writeTx(ctx, "create scene", func(tx pgx.Tx) error {
		created = false
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		exists, err := s.fileExists(ctx, tx, b.Ref.Project, b.Flat())
		if err != nil || exists {
			return err
		}
		created = true
		return s.writeFile(ctx, tx, b.Ref.Project, b.Flat(), data)
	})
	return created && err == nil, err
}
