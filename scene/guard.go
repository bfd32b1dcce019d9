package scene

import (
	"fmt"
	"strconv"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// AssertBatchIdentity is the seed's assert_batch_identity: a candidate
// whose scene_id is not the requested batch is a renumber, never a version
// of it (IdentityMismatch; nothing may be written).
func AssertBatchIdentity(requested string, sc *Scene) error {
	if sc == nil || sc.SceneID != requested {
		got := "None"
		if sc != nil {
			got = pyjson.Repr(sc.SceneID)
		}
		return settle.Errorf(settle.IdentityMismatch,
			"scene identity mismatch: re-derive of requested batch %s generated scene_id %s: a renumber is a new identity, never a version",
			pyjson.Repr(requested), got)
	}
	return nil
}

// StatusGuard is save_active_scene_status's structure guard: a status
// write may change anything but the structure fingerprint (StructureImmutable).
func StatusGuard(before, after *Scene) error {
	fb, err := FingerprintStrict(before)
	if err != nil {
		return err
	}
	fa, err := FingerprintStrict(after)
	if err != nil {
		return err
	}
	if fb != fa {
		return settle.Errorf(settle.StructureImmutable,
			"status save for batch %s would change the shot STRUCTURE of an immutable version body (structure_fingerprint changed)",
			pyjson.Repr(before.SceneID))
	}
	return nil
}

// RestampMaxTakes sets max_takes on every beat (the seed's
// _restamp_beats_max_takes; not structural).
func RestampMaxTakes(sc *Scene, n int) {
	for _, b := range sc.Beats {
		b.MaxTakes = pyjson.Int(strconv.Itoa(n))
	}
}

// canonicalShot is canonical_shot_identity without copying the values.
func canonicalShot(shot *pyjson.Object) *pyjson.Object {
	out := pyjson.NewObject()
	for _, k := range shot.Keys() {
		if BuilderVariantShotKeys[k] {
			continue
		}
		v, _ := shot.Get(k)
		out.Set(k, v)
	}
	return out
}

// CanonicalShotIdentity is the seed's canonical_shot_identity: a copy of
// the shot without the builder-variant keys (is_env_only, aspect_ratio,
// raw). A nil shot gives an empty object.
func CanonicalShotIdentity(shot *pyjson.Object) *pyjson.Object {
	return canonicalShot(shot).Clone()
}

// projectStructural is the seed's _project_structural_metadata_value.
func projectStructural(key string, v any) any {
	switch key {
	case "shot":
		if o, ok := v.(*pyjson.Object); ok {
			return canonicalShot(o)
		}
	case "batch_shots":
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, item := range l {
				if o, ok := item.(*pyjson.Object); ok {
					out[i] = canonicalShot(o)
				} else {
					out[i] = item
				}
			}
			return out
		}
	}
	return v
}

// StructuralMutationsStrict is the seed's structural_mutations on raw
// scene objects (disk body, runner rebuild), returning in addition the
// inputs on which the seed raises: Corrupt for the disk side, InvalidInput
// for the rebuild side (beats truthy but not a list, a beat that is not an
// object, a beat_metadata the seed cannot index). A nil object is an
// empty one.
//
// The mutations are the seed's strings: "scene_id", "beat_topology" (the
// beat id lists differ; nothing else is compared then), and for each beat
// and structural key "<beat_id>.<key>:removed" or ":changed" (beat_id as
// Python's str(), the index when the beat has none). A key the rebuild
// adds is enrichment, not a mutation; shot and batch_shots are compared
// without their builder-variant keys. Equality is Python's == on
// json.loads values (pyjson.Equal).
func StructuralMutationsStrict(disk, rebuild *pyjson.Object) ([]string, error) {
	diskErr := func(format string, args ...any) error {
		return settle.Errorf(settle.Corrupt, "structural mutations: disk "+format, args...)
	}
	rebuildErr := func(format string, args ...any) error {
		return settle.Errorf(settle.InvalidInput, "structural mutations: rebuild "+format, args...)
	}
	mutations := []string{}
	ds, _ := disk.Get("scene_id")
	rs, _ := rebuild.Get("scene_id")
	if !pyjson.Equal(ds, rs) {
		mutations = append(mutations, "scene_id")
	}
	// In the seed's order: the disk ids, then the rebuild ids.
	diskBeats, diskIDs, err := beatIDs(disk, diskErr)
	if err != nil {
		return nil, err
	}
	rebuildBeats, rebuildIDs, err := beatIDs(rebuild, rebuildErr)
	if err != nil {
		return nil, err
	}
	if !pyjson.Equal(diskIDs, rebuildIDs) { // list != list: elements by identity-or-==
		return append(mutations, "beat_topology"), nil
	}
	for i := range diskBeats {
		dmv, _, _ := pyGet(diskBeats[i], "beat_metadata")
		rmv, _, _ := pyGet(rebuildBeats[i], "beat_metadata")
		diskMD, rebuildMD := orEmpty(dmv), orEmpty(rmv)
		label := strconv.Itoa(i)
		if id, ok, _ := pyGet(diskBeats[i], "beat_id"); ok {
			label = pyjson.Str(id)
		}
		for _, key := range StructuralBeatMetadataKeys {
			diskHas, err := pyContains(diskMD, key)
			if err != nil {
				return nil, mdNotDict(diskErr, i, diskMD)
			}
			rebuildHas, err := pyContains(rebuildMD, key)
			if err != nil {
				return nil, mdNotDict(rebuildErr, i, rebuildMD)
			}
			switch {
			case !diskHas:
				continue // enrichment, or absent on both
			case !rebuildHas:
				mutations = append(mutations, label+"."+key+":removed")
				continue
			}
			dv, err := pyGetItem(diskMD, key)
			if err != nil {
				return nil, mdNotDict(diskErr, i, diskMD)
			}
			rv, err := pyGetItem(rebuildMD, key)
			if err != nil {
				return nil, mdNotDict(rebuildErr, i, rebuildMD)
			}
			if !pyjson.Equal(projectStructural(key, dv), projectStructural(key, rv)) {
				mutations = append(mutations, label+"."+key+":changed")
			}
		}
	}
	return mutations, nil
}

// errorf makes the error of one side (disk or rebuild/runner) of a check
// where the seed raises.
type errorf func(format string, args ...any) error

// sceneBeats is the seed's `for b in (scene.get("beats") or [])`.
func sceneBeats(scene *pyjson.Object, sideErr errorf) ([]any, error) {
	bv, _ := scene.Get("beats")
	beats, err := pyIterList(bv)
	if err != nil {
		return nil, sideErr("beats is %s, not a list", pyjson.TypeName(bv))
	}
	return beats, nil
}

// keyedBeat is beats[i] used as a dict and its beat_id as a dict key.
func keyedBeat(b any, i int, sideErr errorf) (*pyjson.Object, any, error) {
	bo, ok := b.(*pyjson.Object)
	if !ok {
		return nil, nil, sideErr("beats[%d] is %s, not a dict", i, pyjson.TypeName(b))
	}
	id, _ := bo.Get("beat_id")
	if !pyjson.Hashable(id) {
		return nil, nil, sideErr("beats[%d].beat_id is an unhashable %s", i, pyjson.TypeName(id))
	}
	return bo, id, nil
}

// mdNotDict is the error for beats[i].beat_metadata md where the seed
// uses it as a dict and it is not one.
func mdNotDict(sideErr errorf, i int, md any) error {
	return sideErr("beats[%d].beat_metadata is %s, not a dict", i, pyjson.TypeName(md))
}

// beatIDs lists the beats of a scene object and their beat_ids (the
// seed's `(scene.get("beats") or [])` and b.get("beat_id")); sideErr makes
// the error where the seed raises.
func beatIDs(scene *pyjson.Object, sideErr errorf) (beats, ids []any, err error) {
	if beats, err = sceneBeats(scene, sideErr); err != nil {
		return nil, nil, err
	}
	ids = make([]any, len(beats))
	for i, b := range beats {
		if ids[i], _, err = pyGet(b, "beat_id"); err != nil {
			return nil, nil, sideErr("beats[%d] is %s, not a dict", i, pyjson.TypeName(b))
		}
	}
	return beats, ids, nil
}

// StructuralMutations is the seed's structural_mutations (see
// StructuralMutationsStrict). Where the seed raises, it fails closed: the
// result ends with "malformed: <reason>", so a caller refusing any
// mutation refuses the write.
func StructuralMutations(disk, rebuild *pyjson.Object) []string {
	m, err := StructuralMutationsStrict(disk, rebuild)
	if err != nil {
		return []string{"malformed: " + settle.ErrorMessage(err)}
	}
	return m
}

// Writer1Overlay is the seed's _writer1_overlay_scene_dict: a copy of the
// disk body with, for every disk beat, the runner beat of the same
// beat_id's takes (`or []`), primary_take_id and phantom_recovery_count
// (the disk's, then 0, when the runner beat has none) and its
// beat_metadata inputs_fingerprint and reroll_cleared_stale when present;
// with allowStructuralEnrichment, structural keys the disk beat lacks are
// copied from the runner (shot and batch_shots without builder-variant
// keys). Everything else on disk (boards, approval, unknown members) is
// kept; nothing of the inputs is aliased.
//
// Where the seed raises: a disk beat with no runner beat of its beat_id
// (KeyError) is StructureImmutable (callers run StructuralMutations first, which
// reports it as beat_topology); malformed disk shapes are Corrupt and
// malformed runner shapes InvalidInput (beats not a list, a beat not an
// object, an unhashable beat_id, a beat_metadata that is not a dict where
// one is read or written). One deliberate difference: a disk
// beat_metadata of null that has to receive a key is replaced by an object
// (the seed raises TypeError there; the fingerprint is the same either
// way).
func Writer1Overlay(disk, runner *pyjson.Object, allowStructuralEnrichment bool) (*pyjson.Object, error) {
	diskErr := func(format string, args ...any) error {
		return settle.Errorf(settle.Corrupt, "writer-1 overlay: disk "+format, args...)
	}
	runnerErr := func(format string, args ...any) error {
		return settle.Errorf(settle.InvalidInput, "writer-1 overlay: runner "+format, args...)
	}
	if disk == nil {
		return nil, diskErr("body is not an object")
	}
	merged := disk.Clone()

	// runner_by_beat_id: later beats win; string ids through a map.
	runnerBeats, err := sceneBeats(runner, runnerErr)
	if err != nil {
		return nil, err
	}
	byString := map[string]*pyjson.Object{}
	type otherKey struct {
		id   any
		beat *pyjson.Object
	}
	var others []otherKey
	for i, b := range runnerBeats {
		bo, id, err := keyedBeat(b, i, runnerErr)
		if err != nil {
			return nil, err
		}
		if s, ok := id.(string); ok {
			byString[s] = bo
			continue
		}
		replaced := false
		for j := range others {
			if pyjson.SameKey(others[j].id, id) {
				others[j].beat = bo
				replaced = true
				break
			}
		}
		if !replaced {
			others = append(others, otherKey{id, bo})
		}
	}
	lookup := func(id any) *pyjson.Object {
		if s, ok := id.(string); ok {
			return byString[s]
		}
		for _, o := range others {
			if pyjson.SameKey(o.id, id) {
				return o.beat
			}
		}
		return nil
	}

	diskBeats, err := sceneBeats(merged, diskErr)
	if err != nil {
		return nil, err
	}
	for i, b := range diskBeats {
		db, id, err := keyedBeat(b, i, diskErr)
		if err != nil {
			return nil, err
		}
		rb := lookup(id)
		if rb == nil {
			return nil, settle.Errorf(settle.StructureImmutable,
				"writer-1 overlay: disk beat %s has no runner beat", pyjson.Repr(id))
		}

		takes, _ := rb.Get("takes")
		if !pyjson.Truthy(takes) {
			takes = []any{}
		}
		db.Set("takes", pyjson.DeepCopy(takes))
		primary, _ := rb.Get("primary_take_id")
		db.Set("primary_take_id", pyjson.DeepCopy(primary))
		phantom, ok := rb.Get("phantom_recovery_count")
		if !ok {
			if phantom, ok = db.Get("phantom_recovery_count"); !ok {
				phantom = pyjson.Int("0")
			}
		}
		db.Set("phantom_recovery_count", pyjson.DeepCopy(phantom))

		var diskMD any
		if v, ok := db.Get("beat_metadata"); ok {
			diskMD = v
		} else {
			diskMD = pyjson.NewObject()
			db.Set("beat_metadata", diskMD)
		}
		// asObject returns the disk beat_metadata for a write or a
		// membership test, replacing a null by an object.
		asMD := func() any {
			if diskMD == nil {
				diskMD = pyjson.NewObject()
				db.Set("beat_metadata", diskMD)
			}
			return diskMD
		}
		rmv, _ := rb.Get("beat_metadata")
		runnerMD := orEmpty(rmv)
		// copyKey copies the runner beat_metadata's key, if it has it, into
		// the disk's: as it is, or as a structural enrichment (the seed's
		// _stable_structural_enrichment_value).
		copyKey := func(key string, enrichment bool) error {
			v, has, err := pyLookup(runnerMD, key)
			if err != nil {
				return mdNotDict(runnerErr, i, runnerMD)
			}
			if !has {
				return nil
			}
			md, ok := asMD().(*pyjson.Object)
			if !ok {
				return mdNotDict(diskErr, i, diskMD)
			}
			if enrichment {
				v = projectStructural(key, v)
			}
			md.Set(key, pyjson.DeepCopy(v))
			return nil
		}
		for _, key := range []string{"inputs_fingerprint", "reroll_cleared_stale"} {
			if err := copyKey(key, false); err != nil {
				return nil, err
			}
		}
		if !allowStructuralEnrichment {
			continue
		}
		for _, key := range StructuralBeatMetadataKeys {
			diskHas, err := pyContains(asMD(), key)
			if err != nil {
				return nil, mdNotDict(diskErr, i, diskMD)
			}
			if diskHas {
				continue
			}
			if err := copyKey(key, true); err != nil {
				return nil, err
			}
		}
	}
	return merged, nil
}

// CheckNotLocked is save_scene_guarded's rule: an existing scene that is
// locked may not be replaced. existing nil (no body yet) passes.
// Errors: SceneLocked.
func CheckNotLocked(existing *Scene) error {
	if existing == nil || !existing.Locked {
		return nil
	}
	reason := "None"
	if existing.LockReason != nil {
		reason = fmt.Sprintf("%q", *existing.LockReason)
	}
	return settle.Errorf(settle.SceneLocked, "scene %s is locked; lock_reason=%s", existing.SceneID, reason)
}
