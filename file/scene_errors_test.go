package file_test

import (
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scFixture is the state a refusal case starts from.
type scFixture struct {
	root string
	s    *file.Scenes
	rng  *rand.Rand
}

func (f *scFixture) tree(batch string) *pyjson.Object { return scGenTree(f.rng, batch, 3) }

// flat writes a flat body for batch with the store (SaveGuarded).
func (f *scFixture) flat(t *testing.T, batch string) *pyjson.Object {
	t.Helper()
	tree := f.tree(batch)
	storetest.OK(t, f.s.SaveGuarded(scCtx, storetest.Ref(batch), storetest.Hydrate(t, tree)))
	return tree
}

// versioned gives batch a manifest with v1 (flat, materialized) and an
// active v2 body with another structure.
func (f *scFixture) versioned(t *testing.T, batch string) {
	t.Helper()
	tree := f.flat(t, batch)
	sc := storetest.Hydrate(t, tree)
	sc.Beats = sc.Beats[:2]
	v, err := f.s.WriteCandidate(scCtx, storetest.Ref(batch), sc, "rederive", true)
	storetest.OK(t, err)
	if v != 2 {
		t.Fatalf("candidate version = %d, want 2", v)
	}
}

// scene is a generated scene of batch (panics on a model error).
func (f *scFixture) scene(batch string) *scene.Scene {
	sc, err := scene.FromTree(f.tree(batch))
	if err != nil {
		panic(err)
	}
	return sc
}

func scPlanTree(text string) *pyjson.Object {
	v, err := pyjson.Parse([]byte(text))
	if err != nil {
		panic(err)
	}
	return v.(*pyjson.Object)
}

func (f *scFixture) raw(t *testing.T, name, text string) { scWriteRaw(t, f.root, name, text) }

func (f *scFixture) manifest(t *testing.T, batch string, active int, entries ...string) {
	t.Helper()
	text := fmt.Sprintf(`{"active_version": %d, "batch_id": %q, "schema_version": 1, "versions": [`, active, batch)
	for i, e := range entries {
		if i > 0 {
			text += ", "
		}
		text += e
	}
	f.raw(t, storetest.Token+"_"+batch+".versions.json", text+"]}")
}

func scEntry(v int, artifact string) string {
	return fmt.Sprintf(`{"artifact": %q, "created_at": null, "reason": "", "structure_fingerprint": "x", "version": %d}`, artifact, v)
}

// TestScenesRefusalCodes checks every error code the scene store raises,
// and that a refusal writes nothing (the directory is byte-identical
// before and after; only the empty lock file, which the seed creates too,
// may appear).
func TestScenesRefusalCodes(t *testing.T) {
	okPatch := `[{"op": "replace", "path": "/beats/0/approved", "value": true}]`
	schema2 := `{"schema_version": 2, "scene_id": "B", "beats": []}`
	otherManifest := `{"schema_version": 1, "batch_id": "C", "active_version": 1, "versions": []}`
	onePlan := `{"sequences": {"B": {"shots": []}}}`
	// The setups and operations most cases share.
	flatB := func(t *testing.T, f *scFixture) { f.flat(t, "B") }
	versionedB := func(t *testing.T, f *scFixture) { f.versioned(t, "B") }
	raw := func(name, text string) func(t *testing.T, f *scFixture) {
		return func(t *testing.T, f *scFixture) { f.raw(t, storetest.Token+"_"+name, text) }
	}
	load := func(ref scene.Ref) func(f *scFixture) error {
		return func(f *scFixture) error { _, err := f.s.Load(scCtx, ref); return err }
	}
	patch := func(v int, p string) func(f *scFixture) error {
		return func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), v, []byte(p))
			return err
		}
	}
	activate := func(v int) func(f *scFixture) error {
		return func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), v) }
	}
	candidate := func(ref scene.Ref, sceneID string, activate bool) func(f *scFixture) error {
		return func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, ref, f.scene(sceneID), "", activate)
			return err
		}
	}
	initPlan := func(episode, plan string, maxTakes int) func(f *scFixture) error {
		return func(f *scFixture) error {
			_, err := f.s.InitFromPlan(scCtx, storetest.Project, episode, scene.Plan{Root: scPlanTree(plan)}, maxTakes, false)
			return err
		}
	}
	refB := storetest.Ref("B")
	inEpisode := func(episode string) scene.Ref {
		return scene.Ref{Project: storetest.Project, Episode: episode, Batch: "B"}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, f *scFixture)
		op    func(f *scFixture) error
		code  settle.Code
	}{
		// NOT_FOUND
		{"load/nothing", nil, load(refB), settle.NotFound},
		{"load/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, load(refB), settle.NotFound},
		{"load/active not registered", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.manifest(t, "B", 7, scEntry(1, storetest.Token+"_B.json"))
		}, load(refB), settle.NotFound},
		{"load version/unregistered", versionedB,
			func(f *scFixture) error { _, err := f.s.LoadVersion(scCtx, refB, 3); return err }, settle.NotFound},
		{"load version/v2 of flat only", flatB,
			func(f *scFixture) error { _, err := f.s.LoadVersion(scCtx, refB, 2); return err }, settle.NotFound},
		{"versions/nothing", nil, func(f *scFixture) error { _, err := f.s.Versions(scCtx, refB); return err }, settle.NotFound},
		{"activate/unregistered", versionedB, activate(9), settle.NotFound},
		{"activate/nothing at all", nil, activate(1), settle.NotFound},
		{"activate/registered body missing", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.manifest(t, "B", 2, scEntry(1, storetest.Token+"_B.json"), scEntry(2, storetest.Token+"_B.v002.json"), scEntry(3, storetest.Token+"_B.v003.json"))
		}, activate(3), settle.NotFound},
		{"patch/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, patch(1, okPatch), settle.NotFound},
		{"save runner/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, func(f *scFixture) error {
			_, err := f.s.SaveRunner(scCtx, refB, 1, "", f.scene("B"))
			return err
		}, settle.NotFound},
		{"recover stale/nothing", nil, func(f *scFixture) error {
			_, err := f.s.RecoverStale(scCtx, refB, 0, time.Now())
			return err
		}, settle.NotFound},

		// SCHEMA_MISMATCH
		{"load/flat schema 2", raw("B.json", schema2), load(refB), settle.SchemaMismatch},
		{"load/flat without schema", raw("B.json", `{"scene_id": "B", "beats": []}`), load(refB), settle.SchemaMismatch},
		{"load/manifest schema 2", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 2, "batch_id": "B", "active_version": 1, "versions": []}`)
		}, load(refB), settle.SchemaMismatch},
		{"patch/flat schema 2", raw("B.json", schema2), patch(1, `[]`), settle.SchemaMismatch},
		{"candidate/materializing a flat of schema 2", raw("B.json", schema2), candidate(refB, "B", false), settle.SchemaMismatch},
		{"save runner/flat schema 2", raw("B.json", schema2), func(f *scFixture) error {
			_, err := f.s.SaveRunner(scCtx, refB, 1, scene.Revision([]byte(schema2)), f.scene("B"))
			return err
		}, settle.SchemaMismatch},

		// CORRUPT
		{"load/flat not JSON", raw("B.json", `{"schema_version": 1, "scene_id": "B", `), load(refB), settle.Corrupt},
		{"load/flat empty file", raw("B.json", ``), load(refB), settle.Corrupt},
		{"load/manifest not JSON", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 1,`)
		}, load(refB), settle.Corrupt},
		{"patch/manifest not JSON", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `nope`)
		}, patch(1, okPatch), settle.Corrupt},
		{"activate/body not JSON", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.raw(t, storetest.Token+"_B.v002.json", `{"schema_version": 1, "scene_id": "B", "beats": [`)
		}, activate(2), settle.Corrupt},

		// INVALID_EPISODE
		{"load/episode ep_1", nil, load(inEpisode("ep_1")), settle.InvalidEpisode},
		{"load/episode -1", nil, load(inEpisode("-1")), settle.InvalidEpisode},
		{"candidate/episode abc", nil, candidate(inEpisode("abc"), "B", true), settle.InvalidEpisode},
		{"list/episode empty", nil, func(f *scFixture) error { _, err := f.s.List(scCtx, storetest.Project, ""); return err }, settle.InvalidEpisode},
		{"init/episode 1_BATCH", nil, initPlan("1_BATCH", onePlan, 3), settle.InvalidEpisode},

		// UNSAFE_ARTIFACT
		{"load/artifact ../", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, "../"+storetest.Token+"_B.json"))
		}, load(refB), settle.UnsafeArtifact},
		{"load/artifact absolute", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, "/etc/passwd"))
		}, load(refB), settle.UnsafeArtifact},
		{"patch/artifact with dot dot", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, "x..json"))
		}, patch(1, okPatch), settle.UnsafeArtifact},
		{"activate/artifact empty", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.json"), scEntry(2, ""))
		}, activate(2), settle.UnsafeArtifact},

		// MANIFEST_IDENTITY
		{"load/manifest of another batch", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", otherManifest)
		}, load(refB), settle.ManifestIdentity},
		{"load/active body of another batch", func(t *testing.T, f *scFixture) {
			f.flat(t, "C")
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_C.json"))
		}, load(refB), settle.ManifestIdentity},
		{"activate/body of another batch", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.flat(t, "C")
			f.manifest(t, "B", 2, scEntry(1, storetest.Token+"_B.json"), scEntry(2, storetest.Token+"_B.v002.json"), scEntry(3, storetest.Token+"_C.json"))
		}, activate(3), settle.ManifestIdentity},
		{"candidate/manifest of another batch", raw("B.versions.json", otherManifest), candidate(refB, "B", false), settle.ManifestIdentity},

		// SCENE_LOCKED
		{"save guarded/locked flat", func(t *testing.T, f *scFixture) {
			tree := f.tree("B")
			tree.Set("locked", true)
			tree.Set("lock_reason", "approved cut")
			f.raw(t, storetest.Token+"_B.json", scBodyText(t, tree))
		}, func(f *scFixture) error { return f.s.SaveGuarded(scCtx, refB, f.scene("B")) }, settle.SceneLocked},

		// STRUCTURE_IMMUTABLE
		{"patch/reorder beats", flatB, patch(1, `[{"op": "move", "from": "/beats/0", "path": "/beats/2"}]`), settle.StructureImmutable},
		{"patch/beat id", versionedB, patch(2, `[{"op": "replace", "path": "/beats/1/beat_id", "value": "X"}]`), settle.StructureImmutable},
		{"patch/plan shot", flatB, patch(1, `[{"op": "add", "path": "/beats/0/beat_metadata/plan_shot/duration_s", "value": 9}]`), settle.StructureImmutable},
		{"patch/add beat", flatB, patch(1, `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "NEW"}}]`), settle.StructureImmutable},
		{"update status/remove beat", flatB, func(f *scFixture) error {
			_, err := f.s.UpdateStatus(scCtx, refB, 1, func(sc *scene.Scene) error { sc.Beats = sc.Beats[1:]; return nil }, nil)
			return err
		}, settle.StructureImmutable},
		{"save runner/beat topology", flatB, func(f *scFixture) error {
			sc := f.scene("B")
			sc.Beats = sc.Beats[:1]
			ld, err := f.s.Load(scCtx, refB)
			if err != nil {
				return err
			}
			_, err = f.s.SaveRunner(scCtx, refB, 1, ld.Revision, sc)
			return err
		}, settle.StructureImmutable},
		{"save runner/changed prompt directive", versionedB, func(f *scFixture) error {
			ld, err := f.s.Load(scCtx, refB)
			if err != nil {
				return err
			}
			ld.Scene.Beats[0].BeatMetadata.Set("prompt_directive", "make it cold")
			_, err = f.s.SaveRunner(scCtx, refB, 2, ld.Revision, ld.Scene)
			return err
		}, settle.StructureImmutable},

		// VERSION_CONFLICT
		{"patch/expected 2 on a flat batch", flatB, patch(2, okPatch), settle.VersionConflict},
		{"patch/expected 1 when v2 is active", versionedB, patch(1, okPatch), settle.VersionConflict},
		{"patch/cold start expecting 2", nil, patch(2, okPatch), settle.VersionConflict},
		{"save runner/expected 1 when v2 is active", versionedB, func(f *scFixture) error {
			_, err := f.s.SaveRunner(scCtx, refB, 1, "", f.scene("B"))
			return err
		}, settle.VersionConflict},

		// IDENTITY_MISMATCH
		{"candidate/other scene id on a new batch", nil, candidate(refB, "B_RENUMBERED", true), settle.IdentityMismatch},
		{"candidate/other scene id on a versioned batch", versionedB, candidate(refB, "C", true), settle.IdentityMismatch},

		// INVALID_INPUT
		{"patch/not JSON", flatB, patch(1, `[{"op": `), settle.InvalidInput},
		{"patch/not an array", flatB, patch(1, `{"op": "remove", "path": "/locked"}`), settle.InvalidInput},
		{"patch/failing test op", flatB, patch(1, `[{"op": "replace", "path": "/locked", "value": true}, {"op": "test", "path": "/scene_id", "value": "C"}]`), settle.InvalidInput},
		{"patch/unknown op", flatB, patch(1, `[{"op": "merge", "path": "/locked", "value": true}]`), settle.InvalidInput},
		{"patch/missing path", flatB, patch(1, `[{"op": "remove", "path": "/beats/0/nope"}]`), settle.InvalidInput},
		{"patch/result is not a scene", flatB, patch(1, `[{"op": "remove", "path": "/beats/0/takes"}, {"op": "replace", "path": "/beats/0/approved", "value": "yes"}]`), settle.InvalidInput},
		{"patch/cold start with a failing patch", nil, patch(1, `[{"op": "remove", "path": "/beats/0"}]`), settle.InvalidInput},
		{"load/project with a slash", nil, load(scene.Ref{Project: "../x", Episode: storetest.Episode, Batch: "B"}), settle.InvalidInput},
		{"candidate/batch with a slash", nil, candidate(scene.Ref{Project: storetest.Project, Episode: storetest.Episode, Batch: "a/b"}, "a/b", true), settle.InvalidInput},
		{"candidate/batch naming a sidecar", nil, candidate(storetest.Ref("B.v002"), "B.v002", true), settle.InvalidInput},
		{"init/negative max takes", nil, initPlan(storetest.Episode, onePlan, -1), settle.InvalidInput},
		{"init/second plan sequence id with a slash", nil,
			initPlan(storetest.Episode, `{"sequences": {"GOOD": {"shots": [{"shot_id": "S"}]}, "../B": {"shots": []}}}`, 3), settle.InvalidInput},
		{"update status/mutate error", flatB, func(f *scFixture) error {
			_, err := f.s.UpdateStatus(scCtx, refB, 1, func(sc *scene.Scene) error {
				sc.Locked = true
				return settle.Errorf(settle.InvalidInput, "refused by the caller")
			}, nil)
			return err
		}, settle.InvalidInput},
	}
	// These refusals come from a closure that runs only under the lock, on
	// a batch with nothing on disk: the scenes directory (empty but for the
	// lock) is made first, as the seed makes it.
	mkdirOK := map[string]bool{"patch/cold start with a failing patch": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			f := &scFixture{root: root, s: scOpen(t, root), rng: rand.New(rand.NewSource(7))}
			if tc.setup != nil {
				tc.setup(t, f)
			}
			before := scSnapshot(t, root)
			err := tc.op(f)
			storetest.WantCode(t, err, tc.code)
			after := scSnapshot(t, root)
			if mkdirOK[tc.name] {
				for k, v := range after {
					if _, ok := before[k]; !ok && v == "dir" {
						delete(after, k)
					}
				}
			}
			storetest.SameSnapshot(t, before, after)
			if tc.code == settle.IdentityMismatch && tc.setup == nil {
				if _, err := os.Stat(scDir(root)); !os.IsNotExist(err) {
					t.Errorf("identity refusal created the scenes directory (lock side effect): %v", err)
				}
			}
			// A refusal never poisons the store: it still writes.
			if _, err := f.s.WriteCandidate(scCtx, storetest.Ref("OTHER"), storetest.Hydrate(t, f.tree("OTHER")), "", true); err != nil {
				t.Errorf("store unusable after a refusal: %v", err)
			}
		})
	}
}
