package scene

import (
	"context"
	"errors"
	"fmt"
	"time"

	settle "github.com/settlehq/settle"
)

// The orchestrations over a whole store, each a sequence of a backend's
// own locked operations (Load, then UpdateStatus at the loaded version),
// shared by the file and PostgreSQL stores.

// StatusStore is the part of a backend that the status orchestrations
// drive: Load and the closure form of a status write (Store.PatchStatus
// is UpdateStatus with PatchMutation).
type StatusStore interface {
	Load(ctx context.Context, ref Ref) (Loaded, error)
	// UpdateStatus is the seed's save_active_scene_status with its
	// closures (BatchFiles.UpdateStatus under the batch lock; postWrite,
	// if not nil, runs before the lock is released, and its failure
	// undoes the write). Errors: VersionConflict, StructureImmutable, NotFound,
	// mutate's or postWrite's error as is.
	UpdateStatus(ctx context.Context, ref Ref, expectedVersion int,
		mutate func(*Scene) error, postWrite func(*Scene) error) (Loaded, error)
}

// errNoStaleTakes aborts RecoverStale's status write when nothing changed.
var errNoStaleTakes = errors.New("no stale takes")

// staleAttempts is how often RecoverStale loads and writes again when the
// active version moves in between.
const staleAttempts = 5

// RecoverStale marks the active body's takes that have been running since
// before now-olderThan (olderThan <= 0: DefaultStaleAge) as stale (
// MarkStale), through st.UpdateStatus at the version it loaded (retried a
// few times if the active version moves meanwhile), and returns how many
// it changed and what that write saved (its version, fingerprint,
// revision and stamp: an event keyed by them names this write, not a
// later one); with none, nothing is written and saved is the version
// loaded. Errors: InvalidInput (a negative olderThan: every running take
// would be "older"), as Load, StructureImmutable, VersionConflict (the
// version kept moving).
func RecoverStale(ctx context.Context, st StatusStore, ref Ref, olderThan time.Duration, now time.Time) (n int, saved Loaded, err error) {
	if olderThan < 0 {
		return 0, Loaded{}, settle.Errorf(settle.InvalidInput, "older_than %s: want a positive duration", olderThan)
	}
	if olderThan == 0 {
		olderThan = DefaultStaleAge
	}
	for i := 0; i < staleAttempts; i++ {
		var ld Loaded
		ld, err = st.Load(ctx, ref)
		if err != nil {
			return 0, Loaded{}, err
		}
		n = 0
		saved, err = st.UpdateStatus(ctx, ref, ld.Version, func(sc *Scene) error {
			n = MarkStale(sc, olderThan, now)
			if n == 0 {
				return errNoStaleTakes
			}
			return nil
		}, nil)
		switch {
		case errors.Is(err, errNoStaleTakes):
			return 0, ld, nil
		case err == nil:
			return n, saved, nil
		case settle.ErrorCode(err) != settle.VersionConflict:
			return 0, Loaded{}, err
		}
	}
	return 0, Loaded{}, err
}

// StaleSaver is a store whose stale recovery also returns what its write
// saved (scene.RecoverStale's saved), so that the writer keys its event by
// that write: a Load after it could see a concurrent save instead.
type StaleSaver interface {
	RecoverStaleSaved(ctx context.Context, ref Ref, olderThan time.Duration, now time.Time) (int, Loaded, error)
}

// RecoverStaleIn runs st's stale recovery and returns how many takes it
// marked and what the write saved: from the store itself where it can tell
// (StaleSaver), else from a Load after the write (which a concurrent save
// may have overtaken).
func RecoverStaleIn(ctx context.Context, st Store, ref Ref, olderThan time.Duration, now time.Time) (int, Loaded, error) {
	if ss, ok := st.(StaleSaver); ok {
		return ss.RecoverStaleSaved(ctx, ref, olderThan, now)
	}
	n, err := st.RecoverStale(ctx, ref, olderThan, now)
	if err != nil || n == 0 {
		return n, Loaded{}, err
	}
	l, err := st.Load(ctx, ref)
	return n, l, err
}

// PlanStore is the part of a backend that InitFromPlan drives.
type PlanStore interface {
	StatusStore
	// FlatExists reports, without the batch lock, whether the batch's
	// flat body exists. Errors: as ResolveBatch.
	FlatExists(ctx context.Context, ref Ref) (bool, error)
	// CreateFlat writes sc as the batch's flat body under the batch lock
	// (BatchFiles.CreateFlat) and reports whether it did: false when the
	// flat body exists by then.
	CreateFlat(ctx context.Context, ref Ref, sc *Scene) (bool, error)
}

// InitFromPlan is the seed's init_scenes_from_plan: for every plan
// sequence, in plan order, a batch whose flat body exists is re-stamped
// with maxTakes on its active body (Load, then UpdateStatus at the loaded
// version); any other gets a new flat scene whose beats are the
// sequence's shots (NewSceneFromPlanSequence), created only if the flat
// body is still absent under the lock (else it is re-stamped). dryRun
// builds the same result and writes nothing. Errors: InvalidInput (plan,
// sequence id, project, negative maxTakes, a plan without sequences),
// InvalidEpisode, as Load, StructureImmutable, VersionConflict.
func InitFromPlan(ctx context.Context, st PlanStore, project, episode string, plan Plan, maxTakes int, dryRun bool) ([]InitResult, error) {
	if maxTakes < 0 {
		return nil, settle.Errorf(settle.InvalidInput, "max_takes %d is negative", maxTakes)
	}
	if err := ValidateProject(project); err != nil {
		return nil, err
	}
	token, err := CanonicalEpisode(episode)
	if err != nil {
		return nil, err
	}
	if err := CheckEpisodeToken(token); err != nil {
		return nil, err
	}
	seqs, err := PlanSequences(plan) // refuses a bad id before anything is written
	if err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		// The seed returns an empty result; a plan that inits nothing is
		// almost always a mistake the caller wants to hear about.
		return nil, settle.Errorf(settle.InvalidInput, "sequences: the plan has no sequences to init")
	}
	// A scene over the body limits is refused before any sequence is
	// written; other errors of a sequence surface in plan order, as the
	// seed raises them.
	for _, seq := range seqs {
		sc, err := NewSceneFromPlanSequence(project, episode, seq.ID, seq.Spec, maxTakes)
		if err != nil {
			continue
		}
		if _, err := EncodeBody(sc); err != nil {
			return nil, fmt.Errorf("init sequence %s: %w", seq.ID, err)
		}
	}
	out := make([]InitResult, 0, len(seqs))
	for _, seq := range seqs {
		ref := Ref{Project: project, Episode: episode, Batch: seq.ID}
		res, err := initSequence(ctx, st, ref, seq, maxTakes, dryRun)
		if err != nil {
			return out, fmt.Errorf("init sequence %s: %w", seq.ID, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func initSequence(ctx context.Context, st PlanStore, ref Ref, seq PlanSequence, maxTakes int, dryRun bool) (InitResult, error) {
	exists, err := st.FlatExists(ctx, ref)
	if err != nil {
		return InitResult{}, err
	}
	if !exists {
		sc, err := NewSceneFromPlanSequence(ref.Project, ref.Episode, seq.ID, seq.Spec, maxTakes)
		if err != nil {
			return InitResult{}, err
		}
		if dryRun {
			return InitResult{Batch: seq.ID, Created: true, Scene: sc}, nil
		}
		created, err := st.CreateFlat(ctx, ref, sc)
		if err != nil {
			return InitResult{}, err
		}
		if created {
			return InitResult{Batch: seq.ID, Created: true, Scene: sc}, nil
		}
		// Another writer created it meanwhile: re-stamp it instead.
	}
	ld, err := st.Load(ctx, ref)
	if err != nil {
		return InitResult{}, err
	}
	restamp := func(sc *Scene) error {
		RestampMaxTakes(sc, maxTakes)
		return nil
	}
	if dryRun {
		_ = restamp(ld.Scene)
		return InitResult{Batch: seq.ID, Created: false, Scene: ld.Scene}, nil
	}
	saved, err := st.UpdateStatus(ctx, ref, ld.Version, restamp, nil)
	if err != nil {
		return InitResult{}, err
	}
	return InitResult{Batch: seq.ID, Created: false, Scene: saved.Scene}, nil
}

// CreateFlat writes data as the batch's flat body unless one exists (as
// Files.Exists) and reports whether it did.
func (bf BatchFiles) CreateFlat(data []byte) (bool, error) {
	exists, err := bf.Files.Exists(bf.Batch.Flat())
	if err != nil || exists {
		return false, err
	}
	if err := bf.Files.WriteFile(bf.Batch.Flat(), data); err != nil {
		return false, err
	}
	return true, nil
}
