package scene

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// The mutations of a batch, each called with the batch's lock held over
// BatchFiles.Files for the whole call. What happens when a write fails
// half-way (a poisoned file store, a rolled-back transaction) is the
// backend's: the engine writes bodies before the manifest that registers
// them, as the seed does.

// VersionConflict is the VersionConflict of a status write whose batch's
// active version moved from expected to actual.
func VersionConflict(batch string, expected, actual int) error {
	return settle.Errorf(settle.VersionConflict,
		"active version for batch %s moved from expected v%d to v%d between load and save", batch, expected, actual)
}

// StatusTarget is the body a status writer may write, found under the lock
// by the seed's active-version recheck.
type StatusTarget struct {
	Name     string
	Manifest *Manifest // nil: an un-versioned batch (flat body)
}

// Recheck is steps (1) and (2) of save_active_scene_status: the active
// version must still be expectedVersion (1 for a batch without manifest),
// the compare-and-set of a status write (VersionConflict), and the body
// to write is that version's artifact or the flat body.
func (bf BatchFiles) Recheck(expectedVersion int) (StatusTarget, error) {
	m, err := bf.LoadManifest()
	if err != nil {
		return StatusTarget{}, err
	}
	if m == nil {
		if expectedVersion != 1 {
			return StatusTarget{}, VersionConflict(bf.Batch.Ref.Batch, expectedVersion, 1)
		}
		return StatusTarget{Name: bf.Batch.Flat()}, nil
	}
	if m.ActiveVersion != expectedVersion {
		return StatusTarget{}, VersionConflict(bf.Batch.Ref.Batch, expectedVersion, m.ActiveVersion)
	}
	name, err := bf.Batch.ArtifactName(m, expectedVersion)
	if err != nil {
		return StatusTarget{}, err
	}
	return StatusTarget{Name: name, Manifest: m}, nil
}

// registeredMissing is the NotFound of a registered body that is absent.
// It names the manifest's artifact, never the store's path (a server would
// show its directories to the client).
func (bf BatchFiles) registeredMissing(v int, name string) error {
	return settle.Errorf(settle.NotFound,
		"registered scene body missing for batch %s v%d: artifact %s", bf.Batch.Ref.Batch, v, name)
}

// Revision is the revision of a stored body: the hex sha256 of its bytes.
// A status save keeps a body's version but changes its revision, so the
// revision is what tells a whole-body writer that the body moved.
func Revision(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Cond is what a status write or runner save was prepared against, and
// whether it may create the batch.
type Cond struct {
	// Version is the active version the change was prepared against (the
	// seed's expected_version; 1 for a batch without manifest).
	Version int
	// Revision is the revision (Loaded.Revision) of the body the change
	// was prepared against; "" is a batch with no body yet. The write is
	// refused with VersionConflict when the body is another.
	Revision string
	// AnyRevision skips the revision check: the write merges onto the
	// latest body of Version, as the seed's save_active_scene_status does.
	// Only status writes may; a runner save always names its revision.
	AnyRevision bool
	// NoCreate refuses a write to a batch with neither manifest nor flat
	// body (NotFound) instead of the seed's cold start.
	NoCreate bool
}

// Exists reports whether the batch has a scene: a manifest or a flat
// body.
func (bf BatchFiles) Exists() (bool, error) {
	for _, name := range []string{bf.Batch.Manifest(), bf.Batch.Flat()} {
		ok, err := bf.Files.Exists(name)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// checkExists is the NoCreate refusal of a batch without a scene.
func (bf BatchFiles) checkExists(c Cond) error {
	if !c.NoCreate {
		return nil
	}
	ok, err := bf.Exists()
	if err != nil {
		return err
	}
	if !ok {
		ref := bf.Batch.Ref
		return settle.Errorf(settle.NotFound,
			"no scene for batch %s (episode %s): this write does not create one", ref.Batch, ref.Episode)
	}
	return nil
}

// checkRevision refuses, with VersionConflict, a write prepared against
// another body than the one stored (body nil: none is).
func (bf BatchFiles) checkRevision(c Cond, body []byte, exists bool) error {
	if c.AnyRevision {
		return nil
	}
	cur := ""
	if exists {
		cur = Revision(body)
	}
	if cur == c.Revision {
		return nil
	}
	batch := bf.Batch.Ref.Batch
	switch {
	case c.Revision == "":
		return settle.Errorf(settle.VersionConflict,
			"batch %s v%d has a body (revision %s) but the change was prepared against none: load it and send its revision", batch, c.Version, cur)
	case cur == "":
		return settle.Errorf(settle.VersionConflict,
			"batch %s v%d has no body but the change was prepared against revision %s", batch, c.Version, c.Revision)
	}
	return settle.Errorf(settle.VersionConflict,
		"body of batch %s v%d moved from revision %s to %s since it was read", batch, c.Version, c.Revision, cur)
}

// StatusWrite is what UpdateStatus wrote.
type StatusWrite struct {
	Name   string // the body written
	Cold   bool   // a cold start: the body did not exist before
	Prev   []byte // the body's bytes before the write (nil on a cold start)
	Loaded Loaded // the scene written, at expectedVersion
}

// UpdateStatus is the seed's save_active_scene_status with its mutate
// closure: UpdateStatusIf with Cond{Version: expectedVersion,
// AnyRevision: true}.
func (bf BatchFiles) UpdateStatus(expectedVersion int, mutate func(*Scene) error) (StatusWrite, error) {
	return bf.UpdateStatusIf(Cond{Version: expectedVersion, AnyRevision: true}, mutate)
}

// UpdateStatusIf is the seed's save_active_scene_status under c: (0) with
// c.NoCreate, a batch without a scene is NotFound; (1) the active version
// must still be c.Version (Recheck, VersionConflict, nothing written),
// and unless c.AnyRevision the body must still be c.Revision
// (VersionConflict); (2) an existing active body is loaded fresh, mutate
// changes it, and a change of its structure fingerprint is refused with
// StructureImmutable, nothing written; a registered body that is missing is
// NotFound; a batch with neither manifest nor flat body is cold-started
// from {scene_id: batch, beats: [], scene_metadata: {}} without the
// structure guard; (3) the body is written. An error from mutate is
// returned as is, nothing written.
func (bf BatchFiles) UpdateStatusIf(c Cond, mutate func(*Scene) error) (StatusWrite, error) {
	return bf.updateStatus(c, statusChange{fn: mutate})
}

// PatchStatusIf is UpdateStatusIf with PatchMutation(patch), the patch
// decoded once and applied without copying what it does not change.
func (bf BatchFiles) PatchStatusIf(c Cond, patch []byte) (StatusWrite, error) {
	return bf.updateStatus(c, statusChange{patch: patch, isPatch: true})
}

// statusChange is a status write's mutation: a closure, or a JSON Patch
// (decoded when applied, so that the write's other refusals come first,
// as with PatchMutation).
type statusChange struct {
	fn      func(*Scene) error
	patch   []byte
	isPatch bool
}

// apply returns the changed scene. base is not changed when shared (the
// cache's): a closure gets a copy, a patch copies only what it changes.
func (m statusChange) apply(base *Scene, shared bool) (*Scene, error) {
	if m.isPatch {
		ops, err := decodePatch(m.patch)
		if err != nil {
			return nil, err
		}
		return applyPatchOps(base, ops)
	}
	sc := base
	if shared {
		sc = base.Clone()
	}
	if err := m.fn(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// statusBody is the active body a status write starts from.
type statusBody struct {
	sc     *Scene
	data   []byte
	fp     string
	shared bool       // sc is the cache's, not to be changed
	beats  []beatSpan // where sc's beats lie in data (nil: unknown)
}

// loadStatusBody is LoadBody through the cache, with the body's structure
// fingerprint.
func (bf BatchFiles) loadStatusBody(name string) (statusBody, error) {
	data, ok, err := bf.Files.ReadFile(name)
	if err != nil {
		return statusBody{}, err
	}
	if !ok {
		return statusBody{}, settle.Errorf(settle.NotFound, "scene body not found: %s", name)
	}
	if e, ok := bf.Cache.get(bf.cacheKey(name), data); ok {
		return statusBody{sc: e.sc, data: data, fp: e.fp, shared: true, beats: e.beats}, nil
	}
	sc, err := DecodeBody(data)
	if err != nil {
		return statusBody{}, fmt.Errorf("scene body %s: %w", name, err)
	}
	fp, err := FingerprintStrict(sc)
	if err != nil {
		return statusBody{}, err
	}
	return statusBody{sc: sc, data: data, fp: fp}, nil
}

func (bf BatchFiles) cacheKey(name string) string { return bf.CacheKey + "\x00" + name }

func (bf BatchFiles) updateStatus(c Cond, m statusChange) (StatusWrite, error) {
	ref := bf.Batch.Ref
	expectedVersion := c.Version
	if err := bf.checkExists(c); err != nil {
		return StatusWrite{}, err
	}
	t, err := bf.Recheck(expectedVersion)
	if err != nil {
		return StatusWrite{}, err
	}
	body, err := bf.loadStatusBody(t.Name)
	var sc *Scene
	var fp string
	var prev []byte
	cold := false
	switch {
	case err == nil:
		prev = body.data
		if err := bf.checkRevision(c, prev, true); err != nil {
			return StatusWrite{}, err
		}
		// The seed's guard, inline (StatusGuard compares the same two
		// fingerprints, but needs a copy of the scene from before mutate).
		before := body.fp
		if t.Manifest != nil {
			if err := CheckRegisteredBody(ref.Batch, t.Manifest, expectedVersion, body.sc.SceneID, before); err != nil {
				return StatusWrite{}, err
			}
		}
		if sc, err = m.apply(body.sc, body.shared); err != nil {
			return StatusWrite{}, err
		}
		// A body that kept its structural values as they were keeps its
		// fingerprint: only a change is hashed again. The unchanged body
		// is there to compare with when it is the cache's or the patch's
		// base (a closure changes a fresh body in place).
		if (body.shared || m.isPatch) && sameStructure(body.sc, sc) {
			fp = before
		} else if fp, err = FingerprintStrict(sc); err != nil {
			return StatusWrite{}, err
		}
		if fp != before {
			return StatusWrite{}, settle.Errorf(settle.StructureImmutable,
				"status save for batch %s v%d would change the shot STRUCTURE of an immutable version body (structure_fingerprint changed)",
				ref.Batch, expectedVersion)
		}
	case settle.ErrorCode(err) != settle.NotFound:
		return StatusWrite{}, err
	case t.Manifest != nil:
		return StatusWrite{}, bf.registeredMissing(expectedVersion, t.Name)
	default:
		if err := bf.checkRevision(c, nil, false); err != nil {
			return StatusWrite{}, err
		}
		// Cold start: no prior structure to guard.
		cold = true
		sc = &Scene{SceneID: ref.Batch, Beats: []*Beat{}, SceneMetadata: pyjson.NewObject()}
		if sc, err = m.apply(sc, false); err != nil {
			return StatusWrite{}, err
		}
		if fp, err = FingerprintStrict(sc); err != nil {
			return StatusWrite{}, err
		}
	}
	// A beat written as the cached body's is copied from its bytes, not
	// encoded again (a status write changes a take or two).
	var same []bool
	var reuse func(i int) []byte
	if body.shared && body.beats != nil {
		same = make([]bool, len(sc.Beats))
		reuse = func(i int) []byte {
			if i >= len(body.sc.Beats) || !sameBeat(body.sc.Beats[i], sc.Beats[i]) {
				return nil
			}
			same[i] = true
			return body.data[body.beats[i].start:body.beats[i].end]
		}
	}
	data, spans, err := encodeBodyBeats(sc, len(prev), reuse)
	if err != nil {
		return StatusWrite{}, settle.Wrap(settle.InvalidInput, err, "encode scene of batch %s", ref.Batch)
	}
	key := bf.cacheKey(t.Name)
	if err := bf.Files.WriteFile(t.Name, data); err != nil {
		bf.Cache.drop(key)
		return StatusWrite{}, err
	}
	if bf.Cache != nil {
		// The caller gets a scene of its own; the cache keeps one that
		// shares nothing with it.
		var own *Scene
		switch {
		case body.shared && m.isPatch:
			// The patched scene shares what the patch did not change
			// with the cached one: the cache keeps it, the caller a copy.
			own, sc = sc, sc.Clone()
		case same != nil:
			// The closure changed a copy: the cache keeps its own
			// beats that are written as before, and copies the others.
			own = sc.cloneTop()
			for i, b := range sc.Beats {
				if same[i] {
					own.Beats[i] = body.sc.Beats[i]
				} else {
					own.Beats[i] = b.Clone()
				}
			}
		default:
			own = sc.Clone()
		}
		bf.Cache.put(key, data, own, fp, spans)
	}
	return StatusWrite{
		Name:   t.Name,
		Cold:   cold,
		Prev:   prev,
		Loaded: Loaded{Scene: sc, Version: expectedVersion, Fingerprint: fp, Revision: Revision(data)},
	}, nil
}

// PatchMutation is the mutate closure of a status write that applies an
// RFC 6902 JSON Patch to the body (ApplyPatch).
func PatchMutation(patch []byte) func(*Scene) error {
	return func(sc *Scene) error {
		out, err := ApplyPatch(sc, patch)
		if err != nil {
			return err
		}
		*sc = *out
		return nil
	}
}

// SaveRunner is the seed's writer-1 save_active_scene, at the raw JSON
// level, under c: with c.NoCreate a batch without a scene is NotFound;
// the active version must still be c.Version and the body still
// c.Revision ("": no body), else VersionConflict, nothing written. The
// seed checks only the version, which a status save does not move, so two
// runners saving from one body both succeed and the second replaces the
// first's takes; the revision refuses the second instead. Then a batch
// with neither manifest nor flat body gets the runner's whole scene as its
// flat body (cold); a registered body that is missing is NotFound;
// otherwise a structural difference between the stored body and the
// runner's scene (StructuralMutationsStrict) is refused with StructureImmutable,
// and the runner's status is overlaid on the stored body (Writer1Overlay;
// absent structural metadata is enriched only for a batch without
// manifest). The returned Loaded.Scene is nil if the merged body does not
// hydrate as a Scene. Errors: InvalidInput (c.AnyRevision), VersionConflict,
// StructureImmutable, NotFound, as LoadActive.
func (bf BatchFiles) SaveRunner(c Cond, runner *Scene) (ld Loaded, cold bool, err error) {
	ref := bf.Batch.Ref
	expectedVersion := c.Version
	if c.AnyRevision {
		return Loaded{}, false, settle.Errorf(settle.InvalidInput, "runner save for batch %s: a runner save names the revision of the body it was based on", ref.Batch)
	}
	if err := bf.checkExists(c); err != nil {
		return Loaded{}, false, err
	}
	runnerRaw := runner.ToTree()
	t, err := bf.Recheck(expectedVersion)
	if err != nil {
		return Loaded{}, false, err
	}
	data, ok, err := bf.Files.ReadFile(t.Name)
	if err != nil {
		return Loaded{}, false, err
	}
	if !ok && t.Manifest != nil {
		return Loaded{}, false, bf.registeredMissing(expectedVersion, t.Name)
	}
	if err := bf.checkRevision(c, data, ok); err != nil {
		return Loaded{}, false, err
	}
	var merged *pyjson.Object
	if !ok {
		merged = runnerRaw
	} else {
		disk, err := DecodeBodyTree(data)
		if err != nil {
			return Loaded{}, false, fmt.Errorf("scene body of batch %s v%d: %w", ref.Batch, expectedVersion, err)
		}
		if t.Manifest != nil {
			id, _ := disk.GetString("scene_id")
			fp, err := FingerprintTreeStrict(disk)
			if err != nil {
				return Loaded{}, false, fmt.Errorf("scene body of batch %s v%d: %w", ref.Batch, expectedVersion, err)
			}
			if err := CheckRegisteredBody(ref.Batch, t.Manifest, expectedVersion, id, fp); err != nil {
				return Loaded{}, false, err
			}
		}
		muts, err := StructuralMutationsStrict(disk, runnerRaw)
		if err != nil {
			return Loaded{}, false, fmt.Errorf("runner save for batch %s v%d: %w", ref.Batch, expectedVersion, err)
		}
		if len(muts) > 0 {
			return Loaded{}, false, settle.Errorf(settle.StructureImmutable,
				"runner save for batch %s v%d would change the shot structure: %v", ref.Batch, expectedVersion, muts)
		}
		merged, err = Writer1Overlay(disk, runnerRaw, t.Manifest == nil)
		if err != nil {
			return Loaded{}, false, fmt.Errorf("runner save for batch %s v%d: %w", ref.Batch, expectedVersion, err)
		}
	}
	out, err := EncodeBodyTree(merged)
	if err != nil {
		return Loaded{}, false, settle.Wrap(settle.InvalidInput, err, "encode scene of batch %s", ref.Batch)
	}
	if err := bf.Files.WriteFile(t.Name, out); err != nil {
		return Loaded{}, false, err
	}
	ld = Loaded{Version: expectedVersion, Fingerprint: FingerprintTree(merged), Revision: Revision(out)}
	if sc, err := FromTree(merged); err == nil {
		ld.Scene = sc
	}
	return ld, !ok, nil
}

// SaveFlat is the seed's save_scene (guard false) or save_scene_guarded
// (guard true) on the batch's flat body: data replaces it, unless guard
// and an existing flat body is locked (CheckNotLocked: SceneLocked,
// nothing written). Errors: SceneLocked, Corrupt, SchemaMismatch (an unreadable
// existing body, with guard).
func (bf BatchFiles) SaveFlat(data []byte, guard bool) error {
	if guard {
		existing, _, err := LoadBody(bf.Files, bf.Batch.Flat())
		if err != nil && settle.ErrorCode(err) != settle.NotFound {
			return err
		}
		if err := CheckNotLocked(existing); err != nil {
			return err
		}
	}
	return bf.Files.WriteFile(bf.Batch.Flat(), data)
}

// WriteManifest writes the batch's manifest (EncodeManifest).
func (bf BatchFiles) WriteManifest(m *Manifest) error {
	data, err := EncodeManifest(m)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "encode manifest of batch %s", bf.Batch.Ref.Batch)
	}
	return bf.Files.WriteFile(bf.Batch.Manifest(), data)
}

// Candidate is what WriteCandidate did.
type Candidate struct {
	Version   int  // the version written, or the registered one of equal structure
	Created   bool // a new version's body and manifest entry were written
	Activated bool // the version is active now and was not before
}

// CheckCandidate is write_scene_candidate's first guard, before anything
// else: a candidate (InvalidInput when nil) whose scene_id is not batch is
// refused (AssertBatchIdentity, IdentityMismatch).
func CheckCandidate(batch string, sc *Scene) error {
	if sc == nil {
		return settle.Errorf(settle.InvalidInput, "no candidate scene")
	}
	return AssertBatchIdentity(batch, sc)
}

// EncodeCandidate is a candidate's body (EncodeBody; InvalidInput) and strict
// structure fingerprint (FingerprintStrict), the inputs of WriteCandidate.
func EncodeCandidate(sc *Scene) (body []byte, fp string, err error) {
	body, err = EncodeBody(sc)
	if err != nil {
		return nil, "", settle.Wrap(settle.InvalidInput, err, "encode candidate scene")
	}
	fp, err = FingerprintStrict(sc)
	if err != nil {
		return nil, "", err
	}
	return body, fp, nil
}

// LogEvent is what a store logs (at info level) for what WriteCandidate
// did to batch: a created version, or a registered one activated by
// dedupe; msg is "" when nothing changed.
func (c Candidate) LogEvent(batch, reason string) (msg string, args []any) {
	switch {
	case c.Created:
		return "scene version created", []any{"batch", batch, "version", c.Version, "active", c.Activated, "reason", reason}
	case c.Activated:
		return "scene version activated", []any{"batch", batch, "version", c.Version, "dedupe", true}
	}
	return "", nil
}

// WriteCandidate is SceneVersionStore.write_scene_candidate after the
// identity guard, for the candidate's encoded body and strict structure
// fingerprint fp: a missing manifest over a flat body is materialized as
// v1 (active); a candidate whose fingerprint equals a registered
// version's returns that version (activating it if asked; the
// materialized manifest is written only then); otherwise the body is
// written as VersionName(highest registered + 1), created_at now, then
// the manifest. A new batch's first version is active. Errors: as
// LoadActive, as Files.WriteFile.
func (bf BatchFiles) WriteCandidate(body []byte, fp, reason string, activate bool, now time.Time) (Candidate, error) {
	m, hasActive, err := bf.ManifestOrMaterialize()
	if err != nil {
		return Candidate{}, err
	}
	for _, e := range m.Versions {
		if e.StructureFingerprint != fp {
			continue
		}
		if activate && m.ActiveVersion != e.Version {
			m.ActiveVersion = e.Version
			if err := bf.WriteManifest(m); err != nil {
				return Candidate{}, err
			}
			return Candidate{Version: e.Version, Activated: true}, nil
		}
		return Candidate{Version: e.Version}, nil
	}
	v := m.MaxVersion() + 1
	name := bf.Batch.Version(v)
	if err := bf.Files.WriteFile(name, body); err != nil {
		return Candidate{}, err
	}
	created := PyISOFormat(now.UTC())
	m.Versions = append(m.Versions, ManifestEntry{
		Version:              v,
		Artifact:             name,
		StructureFingerprint: fp,
		CreatedAt:            &created,
		Reason:               reason,
	})
	if activate || !hasActive {
		m.ActiveVersion = v
	}
	if err := bf.WriteManifest(m); err != nil {
		return Candidate{}, err
	}
	return Candidate{Version: v, Created: true, Activated: m.ActiveVersion == v}, nil
}

// Activate is SceneVersionStore.activate: the version must be registered
// (a flat-only batch is materialized first), its body present and its
// scene_id the batch; then the manifest's active pointer moves (the
// manifest is written even when it already pointed there). It returns the
// previously active version. Errors: NotFound (not registered, body
// missing), ManifestIdentity, UnsafeArtifact, as LoadActive.
func (bf BatchFiles) Activate(version int) (prev int, err error) {
	return bf.ActivateIf(version, 0)
}

// ActivateIf is Activate refused with VERSION_CONFLICT, writing nothing,
// when expected > 0 and the active version is not expected (checked with
// the move, under the caller's batch lock).
func (bf BatchFiles) ActivateIf(version, expected int) (prev int, err error) {
	m, _, err := bf.ManifestOrMaterialize()
	if err != nil {
		return 0, err
	}
	if expected > 0 && m.ActiveVersion != expected {
		return 0, settle.Errorf(settle.VersionConflict, "active version for batch %s moved from expected v%d to v%d; nothing was activated", bf.Batch.Ref.Batch, expected, m.ActiveVersion)
	}
	name, err := bf.Batch.ArtifactName(m, version)
	if err != nil {
		return 0, err
	}
	sc, _, err := LoadBody(bf.Files, name)
	if err != nil {
		return 0, err
	}
	if sc.SceneID != bf.Batch.Ref.Batch {
		return 0, settle.Errorf(settle.ManifestIdentity, "body of v%d carries scene_id %q, not batch %s", version, sc.SceneID, bf.Batch.Ref.Batch)
	}
	prev = m.ActiveVersion
	m.ActiveVersion = version
	if err := bf.WriteManifest(m); err != nil {
		return 0, fmt.Errorf("activate v%d: %w", version, err)
	}
	return prev, nil
}
