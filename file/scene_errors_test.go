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
	cases := []struct {
		name  string
		setup func(t *testing.T, f *scFixture)
		op    func(f *scFixture) error
		code  settle.Code
	}{
		// NOT_FOUND
		{"load/nothing", nil, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.NotFound},
		{"load/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.NotFound},
		{"load/active not registered", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.manifest(t, "B", 7, scEntry(1, storetest.Token+"_B.json"))
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.NotFound},
		{"load version/unregistered", func(t *testing.T, f *scFixture) { f.versioned(t, "B") },
			func(f *scFixture) error { _, err := f.s.LoadVersion(scCtx, storetest.Ref("B"), 3); return err }, settle.NotFound},
		{"load version/v2 of flat only", func(t *testing.T, f *scFixture) { f.flat(t, "B") },
			func(f *scFixture) error { _, err := f.s.LoadVersion(scCtx, storetest.Ref("B"), 2); return err }, settle.NotFound},
		{"versions/nothing", nil, func(f *scFixture) error { _, err := f.s.Versions(scCtx, storetest.Ref("B")); return err }, settle.NotFound},
		{"activate/unregistered", func(t *testing.T, f *scFixture) { f.versioned(t, "B") },
			func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 9) }, settle.NotFound},
		{"activate/nothing at all", nil,
			func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 1) }, settle.NotFound},
		{"activate/registered body missing", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.manifest(t, "B", 2, scEntry(1, storetest.Token+"_B.json"), scEntry(2, storetest.Token+"_B.v002.json"), scEntry(3, storetest.Token+"_B.v003.json"))
		}, func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 3) }, settle.NotFound},
		{"patch/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(okPatch))
			return err
		}, settle.NotFound},
		{"save runner/registered body missing", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.v001.json"))
		}, func(f *scFixture) error {
			_, err := f.s.SaveRunner(scCtx, storetest.Ref("B"), 1, "", f.scene("B"))
			return err
		}, settle.NotFound},
		{"recover stale/nothing", nil, func(f *scFixture) error {
			_, err := f.s.RecoverStale(scCtx, storetest.Ref("B"), 0, time.Now())
			return err
		}, settle.NotFound},

		// SCHEMA_MISMATCH
		{"load/flat schema 2", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`)
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.SchemaMismatch},
		{"load/flat without schema", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"scene_id": "B", "beats": []}`)
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.SchemaMismatch},
		{"load/manifest schema 2", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 2, "batch_id": "B", "active_version": 1, "versions": []}`)
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.SchemaMismatch},
		{"patch/flat schema 2", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`)
		}, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[]`))
			return err
		}, settle.SchemaMismatch},
		{"candidate/materializing a flat of schema 2", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`)
		}, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, storetest.Ref("B"), f.scene("B"), "", false)
			return err
		}, settle.SchemaMismatch},
		{"save runner/flat schema 2", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`)
		}, func(f *scFixture) error {
			rev := scene.Revision([]byte(`{"schema_version": 2, "scene_id": "B", "beats": []}`))
			_, err := f.s.SaveRunner(scCtx, storetest.Ref("B"), 1, rev, f.scene("B"))
			return err
		}, settle.SchemaMismatch},

		// CORRUPT
		{"load/flat not JSON", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.json", `{"schema_version": 1, "scene_id": "B", `)
		},
			func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.Corrupt},
		{"load/flat empty file", func(t *testing.T, f *scFixture) { f.raw(t, storetest.Token+"_B.json", ``) },
			func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.Corrupt},
		{"load/manifest not JSON", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 1,`)
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.Corrupt},
		{"patch/manifest not JSON", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `nope`)
		}, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(okPatch))
			return err
		}, settle.Corrupt},
		{"activate/body not JSON", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.raw(t, storetest.Token+"_B.v002.json", `{"schema_version": 1, "scene_id": "B", "beats": [`)
		}, func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 2) }, settle.Corrupt},

		// INVALID_EPISODE
		{"load/episode ep_1", nil, func(f *scFixture) error {
			_, err := f.s.Load(scCtx, scene.Ref{Project: storetest.Project, Episode: "ep_1", Batch: "B"})
			return err
		}, settle.InvalidEpisode},
		{"load/episode -1", nil, func(f *scFixture) error {
			_, err := f.s.Load(scCtx, scene.Ref{Project: storetest.Project, Episode: "-1", Batch: "B"})
			return err
		}, settle.InvalidEpisode},
		{"candidate/episode abc", nil, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, scene.Ref{Project: storetest.Project, Episode: "abc", Batch: "B"}, f.scene("B"), "", true)
			return err
		}, settle.InvalidEpisode},
		{"list/episode empty", nil, func(f *scFixture) error { _, err := f.s.List(scCtx, storetest.Project, ""); return err }, settle.InvalidEpisode},
		{"init/episode 1_BATCH", nil, func(f *scFixture) error {
			_, err := f.s.InitFromPlan(scCtx, storetest.Project, "1_BATCH", scene.Plan{Root: scPlanTree(`{"sequences": {"B": {"shots": []}}}`)}, 3, false)
			return err
		}, settle.InvalidEpisode},

		// UNSAFE_ARTIFACT
		{"load/artifact ../", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, "../"+storetest.Token+"_B.json"))
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.UnsafeArtifact},
		{"load/artifact absolute", func(t *testing.T, f *scFixture) {
			f.manifest(t, "B", 1, scEntry(1, "/etc/passwd"))
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.UnsafeArtifact},
		{"patch/artifact with dot dot", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, "x..json"))
		}, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(okPatch))
			return err
		}, settle.UnsafeArtifact},
		{"activate/artifact empty", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_B.json"), scEntry(2, ""))
		}, func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 2) }, settle.UnsafeArtifact},

		// MANIFEST_IDENTITY
		{"load/manifest of another batch", func(t *testing.T, f *scFixture) {
			f.flat(t, "B")
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 1, "batch_id": "C", "active_version": 1, "versions": []}`)
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.ManifestIdentity},
		{"load/active body of another batch", func(t *testing.T, f *scFixture) {
			f.flat(t, "C")
			f.manifest(t, "B", 1, scEntry(1, storetest.Token+"_C.json"))
		}, func(f *scFixture) error { _, err := f.s.Load(scCtx, storetest.Ref("B")); return err }, settle.ManifestIdentity},
		{"activate/body of another batch", func(t *testing.T, f *scFixture) {
			f.versioned(t, "B")
			f.flat(t, "C")
			f.manifest(t, "B", 2, scEntry(1, storetest.Token+"_B.json"), scEntry(2, storetest.Token+"_B.v002.json"), scEntry(3, storetest.Token+"_C.json"))
		}, func(f *scFixture) error { return f.s.Activate(scCtx, storetest.Ref("B"), 3) }, settle.ManifestIdentity},
		{"candidate/manifest of another batch", func(t *testing.T, f *scFixture) {
			f.raw(t, storetest.Token+"_B.versions.json", `{"schema_version": 1, "batch_id": "C", "active_version": 1, "versions": []}`)
		}, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, storetest.Ref("B"), f.scene("B"), "", false)
			return err
		}, settle.ManifestIdentity},

		// SCENE_LOCKED
		{"save guarded/locked flat", func(t *testing.T, f *scFixture) {
			tree := f.tree("B")
			tree.Set("locked", true)
			tree.Set("lock_reason", "approved cut")
			f.raw(t, storetest.Token+"_B.json", scBodyText(t, tree))
		}, func(f *scFixture) error { return f.s.SaveGuarded(scCtx, storetest.Ref("B"), f.scene("B")) }, settle.SceneLocked},

		// STRUCTURE_IMMUTABLE
		{"patch/reorder beats", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "move", "from": "/beats/0", "path": "/beats/2"}]`))
			return err
		}, settle.StructureImmutable},
		{"patch/beat id", func(t *testing.T, f *scFixture) { f.versioned(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 2, []byte(`[{"op": "replace", "path": "/beats/1/beat_id", "value": "X"}]`))
			return err
		}, settle.StructureImmutable},
		{"patch/plan shot", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "add", "path": "/beats/0/beat_metadata/plan_shot/duration_s", "value": 9}]`))
			return err
		}, settle.StructureImmutable},
		{"patch/add beat", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "add", "path": "/beats/-", "value": {"beat_id": "NEW"}}]`))
			return err
		}, settle.StructureImmutable},
		{"update status/remove beat", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.UpdateStatus(scCtx, storetest.Ref("B"), 1, func(sc *scene.Scene) error { sc.Beats = sc.Beats[1:]; return nil }, nil)
			return err
		}, settle.StructureImmutable},
		{"save runner/beat topology", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			sc := f.scene("B")
			sc.Beats = sc.Beats[:1]
			ld, err := f.s.Load(scCtx, storetest.Ref("B"))
			if err != nil {
				return err
			}
			_, err = f.s.SaveRunner(scCtx, storetest.Ref("B"), 1, ld.Revision, sc)
			return err
		}, settle.StructureImmutable},
		{"save runner/changed prompt directive", func(t *testing.T, f *scFixture) { f.versioned(t, "B") }, func(f *scFixture) error {
			ld, err := f.s.Load(scCtx, storetest.Ref("B"))
			if err != nil {
				return err
			}
			ld.Scene.Beats[0].BeatMetadata.Set("prompt_directive", "make it cold")
			_, err = f.s.SaveRunner(scCtx, storetest.Ref("B"), 2, ld.Revision, ld.Scene)
			return err
		}, settle.StructureImmutable},

		// VERSION_CONFLICT
		{"patch/expected 2 on a flat batch", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 2, []byte(okPatch))
			return err
		}, settle.VersionConflict},
		{"patch/expected 1 when v2 is active", func(t *testing.T, f *scFixture) { f.versioned(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(okPatch))
			return err
		}, settle.VersionConflict},
		{"patch/cold start expecting 2", nil, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 2, []byte(okPatch))
			return err
		}, settle.VersionConflict},
		{"save runner/expected 1 when v2 is active", func(t *testing.T, f *scFixture) { f.versioned(t, "B") }, func(f *scFixture) error {
			_, err := f.s.SaveRunner(scCtx, storetest.Ref("B"), 1, "", f.scene("B"))
			return err
		}, settle.VersionConflict},

		// IDENTITY_MISMATCH
		{"candidate/other scene id on a new batch", nil, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, storetest.Ref("B"), f.scene("B_RENUMBERED"), "", true)
			return err
		}, settle.IdentityMismatch},
		{"candidate/other scene id on a versioned batch", func(t *testing.T, f *scFixture) { f.versioned(t, "B") }, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, storetest.Ref("B"), f.scene("C"), "", true)
			return err
		}, settle.IdentityMismatch},

		// INVALID_INPUT
		{"patch/not JSON", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": `))
			return err
		}, settle.InvalidInput},
		{"patch/not an array", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`{"op": "remove", "path": "/locked"}`))
			return err
		}, settle.InvalidInput},
		{"patch/failing test op", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "replace", "path": "/locked", "value": true}, {"op": "test", "path": "/scene_id", "value": "C"}]`))
			return err
		}, settle.InvalidInput},
		{"patch/unknown op", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "merge", "path": "/locked", "value": true}]`))
			return err
		}, settle.InvalidInput},
		{"patch/missing path", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "remove", "path": "/beats/0/nope"}]`))
			return err
		}, settle.InvalidInput},
		{"patch/result is not a scene", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "remove", "path": "/beats/0/takes"}, {"op": "replace", "path": "/beats/0/approved", "value": "yes"}]`))
			return err
		}, settle.InvalidInput},
		{"patch/cold start with a failing patch", nil, func(f *scFixture) error {
			_, err := f.s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "remove", "path": "/beats/0"}]`))
			return err
		}, settle.InvalidInput},
		{"load/project with a slash", nil, func(f *scFixture) error {
			_, err := f.s.Load(scCtx, scene.Ref{Project: "../x", Episode: storetest.Episode, Batch: "B"})
			return err
		}, settle.InvalidInput},
		{"candidate/batch with a slash", nil, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, scene.Ref{Project: storetest.Project, Episode: storetest.Episode, Batch: "a/b"}, f.scene("a/b"), "", true)
			return err
		}, settle.InvalidInput},
		{"candidate/batch naming a sidecar", nil, func(f *scFixture) error {
			_, err := f.s.WriteCandidate(scCtx, storetest.Ref("B.v002"), f.scene("B.v002"), "", true)
			return err
		}, settle.InvalidInput},
		{"init/negative max takes", nil, func(f *scFixture) error {
			_, err := f.s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, scene.Plan{Root: scPlanTree(`{"sequences": {"B": {"shots": []}}}`)}, -1, false)
			return err
		}, settle.InvalidInput},
		{"init/second plan sequence id with a slash", nil, func(f *scFixture) error {
			_, err := f.s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, scene.Plan{Root: scPlanTree(`{"sequences": {"GOOD": {"shots": [{"shot_id": "S"}]}, "../B": {"shots": []}}}`)}, 3, false)
			return err
		}, settle.InvalidInput},
		{"update status/mutate error", func(t *testing.T, f *scFixture) { f.flat(t, "B") }, func(f *scFixture) error {
			_, err := f.s.UpdateStatus(scCtx, storetest.Ref("B"), 1, func(sc *scene.Scene) error {
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
