package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/pyjson"
	"github.com/settlehq/settle/scene"
)

// statusTarget is the body a status writer may write, found under the
// lock by the seed's active-version recheck.
type statusTarget struct {
	name     string
	manifest *scene.Manifest // nil: an un-versioned batch (flat body)
}

// recheck is steps (1) and (2) of save_active_scene_status: the active
// version must still be expectedVersion (1 for a batch without manifest)
// — the compare-and-set of a status save — and the body to write is that
// version's artifact or the flat body.
func (s *Store) recheck(ctx context.Context, tx pgx.Tx, b scene.Batch, expectedVersion int) (statusTarget, error) {
	m, err := s.files(ctx, tx, b).LoadManifest()
	if err != nil {
		return statusTarget{}, err
	}
	if m == nil {
		if expectedVersion != 1 {
			return statusTarget{}, versionConflict(b, expectedVersion, 1)
		}
		return statusTarget{name: b.Flat()}, nil
	}
	if m.ActiveVersion != expectedVersion {
		return statusTarget{}, versionConflict(b, expectedVersion, m.ActiveVersion)
	}
	name, err := b.ArtifactName(m, expectedVersion)
	if err != nil {
		return statusTarget{}, err
	}
	return statusTarget{name: name, manifest: m}, nil
}

func versionConflict(b scene.Batch, expected, actual int) error {
	return settle.Errorf(settle.EVERSIONCONFLICT,
		"active version for batch %s moved from expected v%d to v%d between load and save", b.Ref.Batch, expected, actual)
}

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
		t, err := s.recheck(ctx, tx, b, expectedVersion)
		if err != nil {
			return err
		}
		sc, _, err := s.loadBody(ctx, tx, b.Ref.Project, t.name)
		var fp string
		switch {
		case err == nil:
			cold = false
			// The seed's guard (as the file store's: the fingerprints
			// before and after mutate, computed strictly).
			before, err := scene.FingerprintStrict(sc)
			if err != nil {
				return err
			}
			if err := mutate(sc); err != nil {
				return userError{err}
			}
			if fp, err = scene.FingerprintStrict(sc); err != nil {
				return err
			}
			if fp != before {
				return settle.Errorf(settle.ESTRUCTURE,
					"status save for batch %s v%d would change the shot STRUCTURE of an immutable version body (structure_fingerprint changed)",
					ref.Batch, expectedVersion)
			}
		case settle.ErrorCode(err) != settle.ENOTFOUND:
			return err
		case t.manifest != nil:
			return settle.Errorf(settle.ENOTFOUND,
				"registered scene body missing for batch %s v%d: %s", ref.Batch, expectedVersion, t.name)
		default:
			// Cold start: no prior structure to guard.
			cold = true
			sc = &scene.Scene{SceneID: ref.Batch, Beats: []*scene.Beat{}, SceneMetadata: pyjson.NewObject()}
			if err := mutate(sc); err != nil {
				return userError{err}
			}
			if fp, err = scene.FingerprintStrict(sc); err != nil {
				return err
			}
		}
		data, err := scene.EncodeBody(sc)
		if err != nil {
			return settle.Wrap(settle.EINVALID, err, "encode scene of batch %s", ref.Batch)
		}
		if err := s.writeFile(ctx, tx, b.Ref.Project, t.name, data); err != nil {
			return err
		}
		if postWrite != nil {
			if err := postWrite(sc); err != nil {
				return userError{err}
			}
		}
		out = scene.Loaded{Scene: sc, Version: expectedVersion, Fingerprint: fp}
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
	return s.UpdateStatus(ctx, ref, expectedVersion, func(sc *scene.Scene) error {
		out, err := scene.ApplyPatch(sc, patch)
		if err != nil {
			return err
		}
		*sc = *out
		return nil
	}, nil)
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
	runnerRaw := runner.ToTree()
	var merged *pyjson.Object
	cold := false
	err = s.writeTx(ctx, "save runner scene", func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		t, err := s.recheck(ctx, tx, b, expectedVersion)
		if err != nil {
			return err
		}
		data, ok, err := s.readFile(ctx, tx, b.Ref.Project, t.name)
		if err != nil {
			return err
		}
		cold = !ok
		switch {
		case !ok && t.manifest != nil:
			return settle.Errorf(settle.ENOTFOUND,
				"registered scene body missing for batch %s v%d: %s", ref.Batch, expectedVersion, t.name)
		case !ok:
			merged = runnerRaw
		default:
			disk, err := scene.DecodeBodyTree(data)
			if err != nil {
				return fmt.Errorf("scene body of batch %s v%d: %w", ref.Batch, expectedVersion, err)
			}
			muts, err := scene.StructuralMutationsStrict(disk, runnerRaw)
			if err != nil {
				return fmt.Errorf("runner save for batch %s v%d: %w", ref.Batch, expectedVersion, err)
			}
			if len(muts) > 0 {
				return settle.Errorf(settle.ESTRUCTURE,
					"runner save for batch %s v%d would change the shot structure: %v", ref.Batch, expectedVersion, muts)
			}
			merged, err = scene.Writer1Overlay(disk, runnerRaw, t.manifest == nil)
			if err != nil {
				return fmt.Errorf("runner save for batch %s v%d: %w", ref.Batch, expectedVersion, err)
			}
		}
		out, err := scene.EncodeBodyTree(merged)
		if err != nil {
			return settle.Wrap(settle.EINVALID, err, "encode scene of batch %s", ref.Batch)
		}
		return s.writeFile(ctx, tx, b.Ref.Project, t.name, out)
	})
	if err != nil {
		return scene.Loaded{}, err
	}
	s.log.Debug("scene runner status written", "batch", ref.Batch, "version", expectedVersion, "cold_start", cold)
	ld := scene.Loaded{Version: expectedVersion, Fingerprint: scene.FingerprintTree(merged)}
	if sc, err := scene.FromTree(merged); err == nil {
		ld.Scene = sc
	}
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
		if guard {
			existing, _, err := s.loadBody(ctx, tx, b.Ref.Project, b.Flat())
			if err != nil && settle.ErrorCode(err) != settle.ENOTFOUND {
				return err
			}
			if err := scene.CheckNotLocked(existing); err != nil {
				return err
			}
		}
		return s.writeFile(ctx, tx, b.Ref.Project, b.Flat(), data)
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
