package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// SceneFiles is implemented by scene stores whose files the suite can read
// and write directly (the file store and the PostgreSQL store; a wrapper
// around an HTTP client can delegate to the server's store). The suite
// uses it to plant broken manifests and bodies for the error codes that
// cannot be reached through scene.Store, and to check that a refusal
// writes nothing, byte for byte. Cases that need it are skipped for a
// store without it.
type SceneFiles interface {
	WalkSceneFiles(ctx context.Context, fn func(project, name string, data []byte) error) error
	PutSceneFile(ctx context.Context, project, name string, data []byte) error
}

// StatusUpdater is implemented by stores that take the seed's status
// closures directly (UpdateStatus); the suite checks its rollback.
type StatusUpdater interface {
	UpdateStatus(ctx context.Context, ref scene.Ref, expectedVersion int,
		mutate func(*scene.Scene) error, postWrite func(*scene.Scene) error) (scene.Loaded, error)
}

// GuardedSaver is implemented by stores with the seed's
// save_scene_guarded (SCENE_LOCKED).
type GuardedSaver interface {
	SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error
}

// The suite's project and episode.
const (
	Project = "demo"
	Episode = "1"
	Token   = "ep_001"
)

// Ref is the suite's ref of batch.
func Ref(batch string) scene.Ref { return scene.Ref{Project: Project, Episode: Episode, Batch: batch} }

// Obj builds an object from key, value pairs; an int value, also inside a
// []any, becomes a pyjson.Int.
func Obj(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), pyv(kv[i+1]))
	}
	return o
}

func pyv(v any) any {
	switch x := v.(type) {
	case int:
		return pyjson.Int(fmt.Sprint(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pyv(e)
		}
		return out
	}
	return v
}

// Tree parses JSON text into an object (panics on bad text).
func Tree(text string) *pyjson.Object {
	v, err := pyjson.Parse([]byte(text))
	if err != nil {
		panic(fmt.Sprintf("parse %q: %v", text, err))
	}
	return v.(*pyjson.Object)
}

// GenTree is a realistic scene of batch: beats with plan shots, structural
// and volatile metadata, takes in every status, receipts, boards, float
// and non-ASCII values.
func GenTree(rng *rand.Rand, batch string, nBeats int) *pyjson.Object {
	statuses := []string{scene.TakePending, scene.TakeRunning, scene.TakeSucceeded, scene.TakeFailed, scene.TakeStale}
	beats := make([]any, 0, nBeats)
	for i := 0; i < nBeats; i++ {
		id := fmt.Sprintf("SH_%03d", i)
		shot := Obj(
			"shot_id", id,
			"description", fmt.Sprintf("Shot %d: the courier crosses the café ✓ plaza at dusk", i),
			"camera", Obj("move", []string{"dolly", "pan", "static"}[rng.Intn(3)], "lens_mm", 35),
			"duration_s", 4.5,
			"characters", []any{"courier", fmt.Sprintf("extra_%d", rng.Intn(9))},
		)
		if rng.Intn(2) == 0 {
			shot.Set("aspect_ratio", "16:9")
			shot.Set("is_env_only", false)
		}
		md := Obj(
			"scene_id", batch,
			"plan_shot", shot,
			"modality", "t2v",
			"generation_config", Obj("model", "gen-3", "seed", rng.Intn(1_000_000), "steps", 30, "cfg", 6.5),
			"prompt_directive", "keep the palette warm",
			"inputs_fingerprint", fmt.Sprintf("%016x", rng.Uint64()),
		)
		nTakes := rng.Intn(4)
		takes := make([]any, 0, nTakes)
		for k := 0; k < nTakes; k++ {
			st := statuses[rng.Intn(len(statuses))]
			take := Obj("take_id", fmt.Sprintf("%s_t%d", id, k), "status", st, "created_at", "2026-06-03T10:00:00+00:00",
				"started_at", nil, "finished_at", nil, "artifact_path", nil, "receipt", nil, "error", nil)
			if st != scene.TakePending {
				take.Set("started_at", "2026-06-03T10:01:00+00:00")
			}
			if st == scene.TakeSucceeded {
				take.Set("finished_at", "2026-06-03T10:05:00+00:00")
				take.Set("artifact_path", fmt.Sprintf("renders/%s/%s_t%d.mp4", batch, id, k))
				take.Set("receipt", Obj("provider", "gen-3", "job_id", fmt.Sprintf("job-%d", rng.Int63()), "cost_usd", 0.42, "frames", 96))
			}
			if st == scene.TakeFailed {
				take.Set("error", "provider timeout after 300s")
			}
			takes = append(takes, take)
		}
		var primary any
		if nTakes > 0 && rng.Intn(2) == 0 {
			primary = fmt.Sprintf("%s_t0", id)
		}
		var board any
		if rng.Intn(2) == 0 {
			board = Obj("status", "pending", "decision", nil, "artifact_path", fmt.Sprintf("boards/%s.png", id), "notes", []any{})
		}
		beats = append(beats, Obj("beat_id", id, "max_takes", 3, "beat_metadata", md, "takes", takes,
			"primary_take_id", primary, "phantom_recovery_count", 0, "board", board, "approved", rng.Intn(4) == 0))
	}
	return Obj("scene_id", batch, "beats", beats,
		"scene_metadata", Obj("episode", Episode, "project", Project, "created_by", "settle-test"),
		"locked", false, "lock_reason", nil, "x_unknown_field", Obj("kept", true))
}

// Hydrate is the scene of tree; a tree it cannot read fails the test.
func Hydrate(t testing.TB, tree *pyjson.Object) *scene.Scene {
	t.Helper()
	sc, err := scene.FromTree(tree)
	if err != nil {
		t.Fatalf("FromTree: %v", err)
	}
	return sc
}

// OK fails the test on a non-nil error.
func OK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// bodyText is the stored bytes of a scene (the seed's format).
func bodyText(t testing.TB, sc *scene.Scene) string {
	t.Helper()
	b, err := scene.EncodeBody(sc)
	OK(t, err)
	return string(b)
}

// Restructure returns a copy of sc with another structure (another
// prompt directive on its first beat).
func Restructure(sc *scene.Scene, directive string) *scene.Scene {
	c := sc.Clone()
	c.Beats[0].BeatMetadata.Set("prompt_directive", directive)
	return c
}

// fixture is the state a scene case starts from.
type fixture struct {
	t   *testing.T
	s   scene.Store
	rng *rand.Rand
}

func (f *fixture) scene(batch string) *scene.Scene { return Hydrate(f.t, GenTree(f.rng, batch, 3)) }

// flat gives batch a flat body: the runner's cold start.
func (f *fixture) flat(batch string) *scene.Scene {
	f.t.Helper()
	sc := f.scene(batch)
	_, err := f.s.SaveRunner(bg, Ref(batch), 1, "", sc)
	OK(f.t, err)
	return sc
}

// revision is the revision of batch's active body (Load).
func (f *fixture) revision(batch string) string {
	f.t.Helper()
	ld, err := f.s.Load(bg, Ref(batch))
	OK(f.t, err)
	return ld.Revision
}

// versioned gives batch a flat v1 (materialized) and an active v2 with
// another structure (two beats).
func (f *fixture) versioned(batch string) {
	f.t.Helper()
	sc := f.flat(batch)
	sc.Beats = sc.Beats[:2]
	v, err := f.s.WriteCandidate(bg, Ref(batch), sc, "rederive", true)
	OK(f.t, err)
	if v != 2 {
		f.t.Fatalf("candidate version = %d, want 2", v)
	}
}

// optional is the store as the optional interface T; the case is skipped,
// saying what the store lacks, without it.
func optional[T any](f *fixture, lacks string) T {
	f.t.Helper()
	v, has := f.s.(T)
	if !has {
		f.t.Skip(lacks)
	}
	return v
}

func (f *fixture) updater() StatusUpdater {
	f.t.Helper()
	return optional[StatusUpdater](f, "the store has no UpdateStatus")
}

func (f *fixture) files() SceneFiles {
	f.t.Helper()
	return optional[SceneFiles](f, "the store cannot plant scene files (no SceneFiles)")
}

func (f *fixture) guarded() GuardedSaver {
	f.t.Helper()
	return optional[GuardedSaver](f, "the store has no SaveGuarded")
}

func (f *fixture) raw(name, text string) {
	f.t.Helper()
	OK(f.t, f.files().PutSceneFile(bg, Project, name, []byte(text)))
}

func (f *fixture) manifest(batch string, active int, entries ...string) {
	f.t.Helper()
	text := fmt.Sprintf(`{"active_version": %d, "batch_id": %q, "schema_version": 1, "versions": [%s]}`,
		active, batch, strings.Join(entries, ", "))
	f.raw(Token+"_"+batch+".versions.json", text)
}

func entry(v int, artifact string) string {
	return fmt.Sprintf(`{"artifact": %q, "created_at": null, "reason": "", "structure_fingerprint": "x", "version": %d}`, artifact, v)
}

// snapshot is what the store holds: every file's hash when the store has
// SceneFiles, else what the interface shows of the batches named.
func snapshot(t testing.TB, s scene.Store, batches ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if sf, isFiles := s.(SceneFiles); isFiles {
		OK(t, sf.WalkSceneFiles(bg, func(project, name string, data []byte) error {
			h := sha256.Sum256(data)
			out[project+"/"+name] = hex.EncodeToString(h[:])
			return nil
		}))
		return out
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	out["list"] = strings.Join(names, ",")
	for _, b := range batches {
		vs, err := s.Versions(bg, Ref(b))
		out[b+"/versions"] = fmt.Sprintf("%+v %s", vs, settle.ErrorCode(err))
		ld, err := s.Load(bg, Ref(b))
		if err == nil {
			out[b+"/active"] = fmt.Sprintf("v%d %s", ld.Version, bodyText(t, ld.Scene))
		} else {
			out[b+"/active"] = string(settle.ErrorCode(err))
		}
	}
	return out
}

// SameSnapshot fails the test, naming each path removed, changed or
// added, unless two snapshots (path to content hash) are the same.
func SameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range before {
		if w, found := after[k]; !found {
			diffs = append(diffs, "removed "+k)
		} else if w != v {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, found := before[k]; !found {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("the store changed: %s", strings.Join(diffs, ", "))
	}
}

// storedBody returns a stored file's bytes (the test skips without
// SceneFiles).
func (f *fixture) storedBody(name string) string {
	f.t.Helper()
	var out *string
	OK(f.t, f.files().WalkSceneFiles(bg, func(project, n string, data []byte) error {
		if project == Project && n == name {
			s := string(data)
			out = &s
		}
		return nil
	}))
	if out == nil {
		f.t.Fatalf("no stored file %s", name)
	}
	return *out
}

func planOf(text string) scene.Plan { return scene.Plan{Root: Tree(text)} }

// nested is a JSON text of n nested arrays: depth n.
func nested(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// editedV2 makes B versioned and edits its active v2 body's text, as a
// hand edit would (the store must have SceneFiles).
func editedV2(old, new string) func(f *fixture) {
	return func(f *fixture) {
		f.versioned("B")
		name := Token + "_B.v002.json"
		body := f.storedBody(name)
		if !strings.Contains(body, old) {
			f.t.Fatalf("v2 body has no %s", old)
		}
		f.raw(name, strings.Replace(body, old, new, 1))
	}
}

// sceneCase is one refusal: a setup, an operation and the code it must
// fail with, writing nothing.
type sceneCase struct {
	name  string
	setup func(f *fixture)
	op    func(f *fixture) error
	code  settle.Code
}

func sceneRefusals() []sceneCase {
	okPatch := `[{"op": "replace", "path": "/beats/0/approved", "value": true}]`
	load := func(batch string) func(f *fixture) error {
		return func(f *fixture) error { _, err := f.s.Load(bg, Ref(batch)); return err }
	}
	patch := func(v int, p string) func(f *fixture) error {
		return func(f *fixture) error { _, err := f.s.PatchStatus(bg, Ref("B"), v, []byte(p)); return err }
	}
	// candidate writes and activates a candidate of scene id at ref.
	candidate := func(ref scene.Ref, id string) func(f *fixture) error {
		return func(f *fixture) error { _, err := f.s.WriteCandidate(bg, ref, f.scene(id), "", true); return err }
	}
	flatB := func(f *fixture) { f.flat("B") }
	versionedB := func(f *fixture) { f.versioned("B") }
	return []sceneCase{
		// NOT_FOUND
		{"load/nothing", nil, load("B"), settle.NotFound},
		{"load/registered body missing", func(f *fixture) { f.manifest("B", 1, entry(1, Token+"_B.v001.json")) }, load("B"), settle.NotFound},
		{"load/active not registered", func(f *fixture) {
			f.versioned("B")
			f.manifest("B", 7, entry(1, Token+"_B.json"))
		}, load("B"), settle.NotFound},
		{"load version/unregistered", versionedB,
			func(f *fixture) error { _, err := f.s.LoadVersion(bg, Ref("B"), 3); return err }, settle.NotFound},
		{"load version/v2 of flat only", flatB,
			func(f *fixture) error { _, err := f.s.LoadVersion(bg, Ref("B"), 2); return err }, settle.NotFound},
		{"load version/nothing", nil,
			func(f *fixture) error { _, err := f.s.LoadVersion(bg, Ref("B"), 1); return err }, settle.NotFound},
		{"versions/nothing", nil, func(f *fixture) error { _, err := f.s.Versions(bg, Ref("B")); return err }, settle.NotFound},
		{"activate/unregistered", versionedB, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 9) }, settle.NotFound},
		{"activate/nothing at all", nil, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 1) }, settle.NotFound},
		{"activate/registered body missing", func(f *fixture) {
			f.versioned("B")
			f.manifest("B", 2, entry(1, Token+"_B.json"), entry(2, Token+"_B.v002.json"), entry(3, Token+"_B.v003.json"))
		}, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 3) }, settle.NotFound},
		{"patch/registered body missing", func(f *fixture) { f.manifest("B", 1, entry(1, Token+"_B.v001.json")) }, patch(1, okPatch), settle.NotFound},
		{"save runner/registered body missing", func(f *fixture) { f.manifest("B", 1, entry(1, Token+"_B.v001.json")) },
			func(f *fixture) error { _, err := f.s.SaveRunner(bg, Ref("B"), 1, "", f.scene("B")); return err }, settle.NotFound},
		{"recover stale/nothing", nil,
			func(f *fixture) error { _, err := f.s.RecoverStale(bg, Ref("B"), 0, time.Now()); return err }, settle.NotFound},

		// SCHEMA_MISMATCH
		{"load/flat schema 2", func(f *fixture) { f.raw(Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`) }, load("B"), settle.SchemaMismatch},
		{"load/flat without schema", func(f *fixture) { f.raw(Token+"_B.json", `{"scene_id": "B", "beats": []}`) }, load("B"), settle.SchemaMismatch},
		{"load/manifest schema 2", func(f *fixture) {
			f.flat("B")
			f.raw(Token+"_B.versions.json", `{"schema_version": 2, "batch_id": "B", "active_version": 1, "versions": []}`)
		}, load("B"), settle.SchemaMismatch},
		{"patch/flat schema 2", func(f *fixture) { f.raw(Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`) }, patch(1, okPatch), settle.SchemaMismatch},
		{"candidate/materializing a flat of schema 2", func(f *fixture) {
			f.raw(Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`)
		}, func(f *fixture) error {
			_, err := f.s.WriteCandidate(bg, Ref("B"), f.scene("B"), "", false)
			return err
		}, settle.SchemaMismatch},
		{"save runner/flat schema 2", func(f *fixture) { f.raw(Token+"_B.json", `{"schema_version": 2, "scene_id": "B", "beats": []}`) },
			func(f *fixture) error {
				rev := scene.Revision([]byte(`{"schema_version": 2, "scene_id": "B", "beats": []}`))
				_, err := f.s.SaveRunner(bg, Ref("B"), 1, rev, f.scene("B"))
				return err
			}, settle.SchemaMismatch},

		// CORRUPT
		{"load/flat not JSON", func(f *fixture) { f.raw(Token+"_B.json", `{"schema_version": 1, "scene_id": "B", `) }, load("B"), settle.Corrupt},
		{"load/flat empty file", func(f *fixture) { f.raw(Token+"_B.json", ``) }, load("B"), settle.Corrupt},
		{"load/manifest not JSON", func(f *fixture) {
			f.flat("B")
			f.raw(Token+"_B.versions.json", `{"schema_version": 1,`)
		}, load("B"), settle.Corrupt},
		{"patch/manifest not JSON", func(f *fixture) {
			f.flat("B")
			f.raw(Token+"_B.versions.json", `[`)
		}, patch(1, okPatch), settle.Corrupt},
		{"activate/body not JSON", func(f *fixture) {
			f.versioned("B")
			f.raw(Token+"_B.v002.json", `{"schema_version": 1, "scene_id": "B", "beats": [`)
		}, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 2) }, settle.Corrupt},

		// INVALID_EPISODE
		{"load/episode ep_1", nil, func(f *fixture) error {
			_, err := f.s.Load(bg, scene.Ref{Project: Project, Episode: "ep_1", Batch: "B"})
			return err
		}, settle.InvalidEpisode},
		{"load/episode -1", nil, func(f *fixture) error {
			_, err := f.s.Load(bg, scene.Ref{Project: Project, Episode: "-1", Batch: "B"})
			return err
		}, settle.InvalidEpisode},
		{"candidate/episode abc", nil, candidate(scene.Ref{Project: Project, Episode: "abc", Batch: "B"}, "B"), settle.InvalidEpisode},
		{"list/episode empty", nil, func(f *fixture) error { _, err := f.s.List(bg, Project, ""); return err }, settle.InvalidEpisode},
		{"init/episode 1_BATCH", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, "1_BATCH", planOf(`{"sequences": {"B": {"shots": []}}}`), 3, false)
			return err
		}, settle.InvalidEpisode},

		// Names too long for a file name are refused before any I/O.
		{"HardeningF/init project of 300 bytes", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, strings.Repeat("p", 300), Episode, planOf(`{"sequences": {"B": {"shots": []}}}`), 3, false)
			return err
		}, settle.InvalidInput},
		{"HardeningF/init episode of 300 digits", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, strings.Repeat("7", 300), planOf(`{"sequences": {"B": {"shots": []}}}`), 3, false)
			return err
		}, settle.InvalidInput},
		{"HardeningF/init sequence of 300 bytes", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {"B": {"shots": []}, "`+strings.Repeat("s", 300)+`": {"shots": []}}}`), 3, false)
			return err
		}, settle.InvalidInput},
		{"HardeningF/candidate batch of 300 bytes", nil, func(f *fixture) error {
			b := strings.Repeat("b", 300)
			_, err := f.s.WriteCandidate(bg, Ref(b), f.scene(b), "", true)
			return err
		}, settle.InvalidInput},
		{"HardeningF/load batch of 129 bytes", nil, func(f *fixture) error {
			_, err := f.s.Load(bg, Ref(strings.Repeat("b", settle.MaxNameBytes+1)))
			return err
		}, settle.InvalidInput},
		{"HardeningF/versions episode of 300 digits", nil, func(f *fixture) error {
			_, err := f.s.Versions(bg, scene.Ref{Project: Project, Episode: strings.Repeat("1", 300), Batch: "B"})
			return err
		}, settle.InvalidInput},
		// A plan that inits nothing is refused (the seed returns []).
		{"HardeningN/init empty sequences list", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": []}`), 3, false)
			return err
		}, settle.InvalidInput},
		{"HardeningN/init empty sequences object", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {}}`), 3, false)
			return err
		}, settle.InvalidInput},

		// UNSAFE_ARTIFACT
		{"load/artifact ../", func(f *fixture) {
			f.flat("B")
			f.manifest("B", 1, entry(1, "../"+Token+"_B.json"))
		}, load("B"), settle.UnsafeArtifact},
		{"load/artifact absolute", func(f *fixture) { f.manifest("B", 1, entry(1, "/etc/passwd")) }, load("B"), settle.UnsafeArtifact},
		{"patch/artifact with dot dot", func(f *fixture) {
			f.flat("B")
			f.manifest("B", 1, entry(1, "x..json"))
		}, patch(1, okPatch), settle.UnsafeArtifact},
		{"activate/artifact empty", func(f *fixture) {
			f.flat("B")
			f.manifest("B", 1, entry(1, Token+"_B.json"), entry(2, ""))
		}, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 2) }, settle.UnsafeArtifact},

		// MANIFEST_IDENTITY
		{"load/manifest of another batch", func(f *fixture) {
			f.flat("B")
			f.raw(Token+"_B.versions.json", `{"schema_version": 1, "batch_id": "C", "active_version": 1, "versions": []}`)
		}, load("B"), settle.ManifestIdentity},
		{"load/active body of another batch", func(f *fixture) {
			f.flat("C")
			f.manifest("B", 1, entry(1, Token+"_C.json"))
		}, load("B"), settle.ManifestIdentity},
		{"activate/body of another batch", func(f *fixture) {
			f.versioned("B")
			f.flat("C")
			f.manifest("B", 2, entry(1, Token+"_B.json"), entry(2, Token+"_B.v002.json"), entry(3, Token+"_C.json"))
		}, func(f *fixture) error { return f.s.Activate(bg, Ref("B"), 3) }, settle.ManifestIdentity},
		{"candidate/manifest of another batch", func(f *fixture) {
			f.raw(Token+"_B.versions.json", `{"schema_version": 1, "batch_id": "C", "active_version": 1, "versions": []}`)
		}, func(f *fixture) error {
			_, err := f.s.WriteCandidate(bg, Ref("B"), f.scene("B"), "", false)
			return err
		}, settle.ManifestIdentity},

		// SCENE_LOCKED
		{"save guarded/locked flat", func(f *fixture) {
			f.guarded()
			sc := f.scene("B")
			sc.Locked = true
			reason := "approved cut"
			sc.LockReason = &reason
			_, err := f.s.SaveRunner(bg, Ref("B"), 1, "", sc)
			OK(f.t, err)
		}, func(f *fixture) error { return f.guarded().SaveGuarded(bg, Ref("B"), f.scene("B")) }, settle.SceneLocked},

		// STRUCTURE_IMMUTABLE
		{"patch/reorder beats", flatB, patch(1, `[{"op": "move", "from": "/beats/0", "path": "/beats/2"}]`), settle.StructureImmutable},
		{"patch/beat id", versionedB, patch(2, `[{"op": "replace", "path": "/beats/1/beat_id", "value": "X"}]`), settle.StructureImmutable},
		{"patch/plan shot", flatB, patch(1, `[{"op": "add", "path": "/beats/0/beat_metadata/plan_shot/duration_s", "value": 9}]`), settle.StructureImmutable},
		{"patch/add beat", flatB, patch(1, `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "NEW"}}]`), settle.StructureImmutable},
		{"patch/scene id", flatB, patch(1, `[{"op": "replace", "path": "/scene_id", "value": "C"}]`), settle.StructureImmutable},
		{"update status/remove beat", func(f *fixture) {
			f.updater()
			f.flat("B")
		}, func(f *fixture) error {
			_, err := f.updater().UpdateStatus(bg, Ref("B"), 1, func(sc *scene.Scene) error { sc.Beats = sc.Beats[1:]; return nil }, nil)
			return err
		}, settle.StructureImmutable},
		{"save runner/beat topology", flatB, func(f *fixture) error {
			sc := f.scene("B")
			sc.Beats = sc.Beats[:1]
			_, err := f.s.SaveRunner(bg, Ref("B"), 1, f.revision("B"), sc)
			return err
		}, settle.StructureImmutable},
		{"save runner/changed prompt directive", versionedB, func(f *fixture) error {
			ld, err := f.s.Load(bg, Ref("B"))
			if err != nil {
				return err
			}
			ld.Scene.Beats[0].BeatMetadata.Set("prompt_directive", "make it cold")
			_, err = f.s.SaveRunner(bg, Ref("B"), 2, ld.Revision, ld.Scene)
			return err
		}, settle.StructureImmutable},

		// VERSION_CONFLICT
		{"patch/expected 2 on a flat batch", flatB, patch(2, okPatch), settle.VersionConflict},
		{"patch/expected 1 when v2 is active", versionedB, patch(1, okPatch), settle.VersionConflict},
		{"patch/cold start expecting 2", nil, patch(2, okPatch), settle.VersionConflict},
		{"save runner/expected 1 when v2 is active", versionedB,
			func(f *fixture) error {
				_, err := f.s.SaveRunner(bg, Ref("B"), 1, f.revision("B"), f.scene("B"))
				return err
			}, settle.VersionConflict},
		{"save runner/cold start expecting 3", nil,
			func(f *fixture) error { _, err := f.s.SaveRunner(bg, Ref("B"), 3, "", f.scene("B")); return err }, settle.VersionConflict},

		// IDENTITY_MISMATCH
		{"candidate/other scene id on a new batch", nil, candidate(Ref("B"), "B_RENUMBERED"), settle.IdentityMismatch},
		{"candidate/other scene id on a versioned batch", versionedB, candidate(Ref("B"), "C"), settle.IdentityMismatch},

		// INVALID_INPUT
		{"patch/not JSON", flatB, patch(1, `[{"op": `), settle.InvalidInput},
		{"patch/not an array", flatB, patch(1, `{"op": "remove", "path": "/locked"}`), settle.InvalidInput},
		{"patch/failing test op", flatB, patch(1, `[{"op": "replace", "path": "/locked", "value": true}, {"op": "test", "path": "/scene_id", "value": "C"}]`), settle.InvalidInput},
		{"patch/unknown op", flatB, patch(1, `[{"op": "merge", "path": "/locked", "value": true}]`), settle.InvalidInput},
		{"patch/missing path", flatB, patch(1, `[{"op": "remove", "path": "/beats/0/nope"}]`), settle.InvalidInput},
		{"patch/result is not a scene", flatB, patch(1, `[{"op": "remove", "path": "/beats/0/takes"}, {"op": "replace", "path": "/beats/0/approved", "value": "yes"}]`), settle.InvalidInput},
		{"patch/cold start with a failing patch", nil, patch(1, `[{"op": "remove", "path": "/beats/0"}]`), settle.InvalidInput},
		{"load/project with a slash", nil, func(f *fixture) error {
			_, err := f.s.Load(bg, scene.Ref{Project: "../x", Episode: Episode, Batch: "B"})
			return err
		}, settle.InvalidInput},
		{"candidate/batch with a slash", nil, candidate(scene.Ref{Project: Project, Episode: Episode, Batch: "a/b"}, "a/b"), settle.InvalidInput},
		{"candidate/batch naming a sidecar", nil, candidate(Ref("B.v002"), "B.v002"), settle.InvalidInput},
		{"init/negative max takes", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {"B": {"shots": []}}}`), -1, false)
			return err
		}, settle.InvalidInput},
		{"init/plan sequence id with a slash", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {"../B": {"shots": []}}}`), 3, false)
			return err
		}, settle.InvalidInput},

		// INVALID_INPUT: the limits of docs/limits.md, checked before
		// anything is written.
		{"patch/value past MaxJSONDepth", flatB, patch(1, `[{"op": "add", "path": "/scene_metadata/x", "value": `+nested(9990)+`}]`), settle.InvalidInput},
		{"patch/result past MaxJSONDepth", flatB, patch(1, `[{"op": "add", "path": "/scene_metadata/a", "value": {"b": {"c": {"d": {}}}}}, `+
			`{"op": "add", "path": "/scene_metadata/a/b/c/d/e", "value": `+nested(settle.MaxJSONDepth-4)+`}]`), settle.InvalidInput},
		{"patch/more than MaxPatchOps", flatB, patch(1, "["+strings.TrimSuffix(strings.Repeat(`{"op": "test", "path": "/scene_id", "value": "B"}, `, settle.MaxPatchOps+1), ", ")+"]"), settle.InvalidInput},
		{"candidate/scene past MaxJSONDepth", nil, func(f *fixture) error {
			sc := f.scene("B")
			sc.SceneMetadata.Set("deep", Tree(`{"x": `+nested(settle.MaxJSONDepth)+`}`))
			_, err := f.s.WriteCandidate(bg, Ref("B"), sc, "", true)
			return err
		}, settle.InvalidInput},
		{"candidate/more than MaxBeats beats", nil, func(f *fixture) error {
			sc := f.scene("B")
			for len(sc.Beats) <= settle.MaxBeats {
				b := sc.Beats[0].Clone()
				b.BeatID = fmt.Sprintf("X_%05d", len(sc.Beats))
				sc.Beats = append(sc.Beats, b)
			}
			_, err := f.s.WriteCandidate(bg, Ref("B"), sc, "", true)
			return err
		}, settle.InvalidInput},
		{"init/more than MaxPlanSequences", nil, func(f *fixture) error {
			var seqs []string
			for i := 0; i <= settle.MaxPlanSequences; i++ {
				seqs = append(seqs, fmt.Sprintf(`"S%04d": {"shots": []}`, i))
			}
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {`+strings.Join(seqs, ", ")+`}}`), 3, false)
			return err
		}, settle.InvalidInput},

		{"init/second sequence past MaxJSONDepth", nil, func(f *fixture) error {
			_, err := f.s.InitFromPlan(bg, Project, Episode, planOf(`{"sequences": {"B": {"shots": [{"shot_id": "S1"}]}, `+
				`"C": {"shots": [{"shot_id": "S1", "x": `+nested(settle.MaxJSONDepth)+`}]}}}`), 3, false)
			return err
		}, settle.InvalidInput},

		// A registered body edited behind the manifest: show and status
		// writes decide with scene.CheckRegisteredBody, as fsck does.
		{"load/registered body scene_id edited", editedV2(`"scene_id": "B"`, `"scene_id": "C"`), load("B"), settle.ManifestIdentity},
		{"patch/registered body scene_id edited", editedV2(`"scene_id": "B"`, `"scene_id": "C"`), patch(2, okPatch), settle.ManifestIdentity},
		{"load/registered body structure edited", editedV2(`"beat_id": "SH_000"`, `"beat_id": "SH_900"`), load("B"), settle.Corrupt},
		{"patch/registered body structure edited", editedV2(`"beat_id": "SH_000"`, `"beat_id": "SH_900"`), patch(2, okPatch), settle.Corrupt},
		{"save runner/registered body structure edited", editedV2(`"beat_id": "SH_000"`, `"beat_id": "SH_900"`),
			func(f *fixture) error {
				// The runner holds the edited body's revision: the save is
				// refused for the edit, not for a moved revision.
				rev := scene.Revision([]byte(f.storedBody(Token + "_B.v002.json")))
				_, err := f.s.SaveRunner(bg, Ref("B"), 2, rev, f.scene("B"))
				return err
			}, settle.Corrupt},
		{"update status/mutate error", func(f *fixture) {
			f.updater()
			f.flat("B")
		}, func(f *fixture) error {
			_, err := f.updater().UpdateStatus(bg, Ref("B"), 1, func(sc *scene.Scene) error {
				sc.Locked = true
				return settle.Errorf(settle.InvalidInput, "refused by the caller")
			}, nil)
			return err
		}, settle.InvalidInput},
	}
}

// RunScenes runs the scene.Store conformance suite. open returns a new,
// empty store.
func RunScenes(t *testing.T, open func(t *testing.T) scene.Store) {
	t.Run("Refusals", func(t *testing.T) {
		for _, tc := range sceneRefusals() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := &fixture{t: t, s: open(t), rng: rand.New(rand.NewSource(7))}
				if tc.setup != nil {
					tc.setup(f)
				}
				before := snapshot(t, f.s, "B", "C")
				err := tc.op(f)
				if got := settle.ErrorCode(err); got != tc.code {
					t.Fatalf("error code = %q, want %q (err: %v)", got, tc.code, err)
				}
				SameSnapshot(t, before, snapshot(t, f.s, "B", "C"))
			})
		}
	})
	cases := []struct {
		name string
		run  func(f *fixture)
	}{
		{"LoadLadder", scLoadLadder},
		{"WriteCandidateNewBatch", scCandidateNewBatch},
		{"MaterializeLegacy", scMaterializeLegacy},
		{"MaterializeLegacySameStructure", scMaterializeSame},
		{"ActivateMaterializes", scActivateMaterializes},
		{"ActivateIfRace", scActivateIfRace},
		{"PatchStatus", scPatchStatus},
		{"PatchColdStart", scPatchColdStart},
		{"UpdateStatusRollback", scUpdateRollback},
		{"SaveRunnerColdStart", scRunnerColdStart},
		{"SaveRunnerFlatEnriches", func(f *fixture) { scRunnerOverlay(f, false) }},
		{"SaveRunnerVersionedDoesNotEnrich", func(f *fixture) { scRunnerOverlay(f, true) }},
		{"InitFromPlan", scInitFromPlan},
		{"RecoverStale", scRecoverStale},
		{"List", scList},
		{"ListPlanted", scListPlanted},
		{"Versions", scVersions},
		{"BytesRoundTrip", scBytesRoundTrip},
		{"ConcurrentPatchesLoseNothing", scConcurrentPatches},
		{"ConcurrentCandidates", scConcurrentCandidates},
		{"PatchRacesActivation", scPatchRacesActivation},
		{"UpdateStatusCountersLoseNothing", scUpdateCounters},
		{"LockWaitHonoursContext", scLockWaitContext},
		{"HardeningC_NoCreate", scNoCreate},
		{"HardeningD_RunnerSavesFromOneBase", scRunnerRace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(&fixture{t: t, s: open(t), rng: rand.New(rand.NewSource(int64(len(tc.name))))})
		})
	}
}

func scLoadLadder(f *fixture) {
	t, s := f.t, f.s
	flat := f.flat("B")
	ld, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 1 || ld.Fingerprint != scene.Fingerprint(flat) || ld.Scene.SceneID != "B" || bodyText(t, ld.Scene) != bodyText(t, flat) {
		t.Fatalf("flat load = v%d %s", ld.Version, ld.Fingerprint)
	}
	for _, ep := range []string{"1", "001", " 1 ", "ep_001"} {
		l2, err := s.Load(bg, scene.Ref{Project: Project, Episode: ep, Batch: "B"})
		OK(t, err)
		if l2.Fingerprint != ld.Fingerprint {
			t.Errorf("episode %q loads another scene", ep)
		}
	}
	v2 := Restructure(flat, "v2")
	v, err := s.WriteCandidate(bg, Ref("B"), v2, "rederive", true)
	OK(t, err)
	if v != 2 {
		t.Fatalf("candidate = v%d, want v2", v)
	}
	ld, err = s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 2 || ld.Fingerprint != scene.Fingerprint(v2) {
		t.Fatalf("versioned load = v%d, want v2", ld.Version)
	}
	OK(t, s.Activate(bg, Ref("B"), 1))
	ld, err = s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 1 || ld.Fingerprint != scene.Fingerprint(flat) {
		t.Fatalf("after revert load = v%d, want the flat v1", ld.Version)
	}
	l2, err := s.LoadVersion(bg, Ref("B"), 2)
	OK(t, err)
	if l2.Version != 2 || l2.Fingerprint != scene.Fingerprint(v2) {
		t.Fatalf("LoadVersion(2) = v%d", l2.Version)
	}
	l1, err := s.LoadVersion(bg, Ref("B"), 1)
	OK(t, err)
	if l1.Version != 1 || bodyText(t, l1.Scene) != bodyText(t, flat) {
		t.Fatalf("LoadVersion(1) = v%d", l1.Version)
	}
	// Activating the active version again is allowed.
	OK(t, s.Activate(bg, Ref("B"), 1))
}

var isoRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

func scCandidateNewBatch(f *fixture) {
	t, s := f.t, f.s
	sc := f.scene("B")
	v, err := s.WriteCandidate(bg, Ref("B"), sc, "first", false)
	OK(t, err)
	if v != 1 {
		t.Fatalf("first candidate: v%d", v)
	}
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if len(vs) != 1 || !vs[0].Active || vs[0].Artifact != Token+"_B.v001.json" || vs[0].Reason != "first" ||
		vs[0].CreatedAt == nil || !isoRe.MatchString(*vs[0].CreatedAt) || vs[0].StructureFingerprint != scene.Fingerprint(sc) {
		t.Fatalf("versions after the first candidate: %+v", vs)
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if len(names) != 0 {
		t.Fatalf("a versioned body is listed: %v", names)
	}
	ld, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 1 || bodyText(t, ld.Scene) != bodyText(t, sc) {
		t.Fatalf("load after the first candidate: v%d", ld.Version)
	}
	sc2 := Restructure(sc, "second")
	v, err = s.WriteCandidate(bg, Ref("B"), sc2, "second", false)
	OK(t, err)
	if ld, _ := s.Load(bg, Ref("B")); v != 2 || ld.Version != 1 {
		t.Fatalf("second candidate: v%d, active v%d", v, ld.Version)
	}
	// Same structure as v2 (other takes): dedupe, nothing written.
	sc2b := sc2.Clone()
	sc2b.Beats[0].Approved = !sc2b.Beats[0].Approved
	sc2b.Beats[1].Takes = nil
	before := snapshot(t, s, "B")
	v, err = s.WriteCandidate(bg, Ref("B"), sc2b, "again", false)
	OK(t, err)
	if v != 2 {
		t.Fatalf("dedupe returned v%d, want 2", v)
	}
	SameSnapshot(t, before, snapshot(t, s, "B"))
	// Dedupe with activate moves the pointer only.
	v, err = s.WriteCandidate(bg, Ref("B"), sc2b, "again", true)
	OK(t, err)
	vs, err = s.Versions(bg, Ref("B"))
	OK(t, err)
	if v != 2 || len(vs) != 2 || !vs[1].Active || vs[0].Active {
		t.Fatalf("dedupe+activate: v%d %+v", v, vs)
	}
	ld, err = s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 2 || bodyText(t, ld.Scene) != bodyText(t, sc2) {
		t.Errorf("dedupe must keep the stored body, not the candidate's")
	}
	v, err = s.WriteCandidate(bg, Ref("B"), Restructure(sc, "third"), "third", true)
	OK(t, err)
	if ld, _ := s.Load(bg, Ref("B")); v != 3 || ld.Version != 3 {
		t.Fatalf("third: v%d active v%d", v, ld.Version)
	}
}

func scMaterializeLegacy(f *fixture) {
	t, s := f.t, f.s
	flat := f.flat("B")
	v, err := s.WriteCandidate(bg, Ref("B"), Restructure(flat, "x"), "rederive", false)
	OK(t, err)
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if v != 2 || len(vs) != 2 || !vs[0].Active {
		t.Fatalf("v%d %+v", v, vs)
	}
	e := vs[0]
	if e.Version != 1 || e.Artifact != Token+"_B.json" || e.CreatedAt != nil || e.Reason != "materialized-legacy" ||
		e.StructureFingerprint != scene.Fingerprint(flat) {
		t.Errorf("materialized entry %+v", e)
	}
	if vs[1].Artifact != Token+"_B.v002.json" || vs[1].Reason != "rederive" {
		t.Errorf("v2 entry %+v", vs[1])
	}
	ld, err := s.LoadVersion(bg, Ref("B"), 1)
	OK(t, err)
	if bodyText(t, ld.Scene) != bodyText(t, flat) {
		t.Errorf("the flat body changed")
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if !reflect.DeepEqual(names, []string{Token + "_B.json"}) {
		t.Errorf("List = %v", names)
	}
}

func scMaterializeSame(f *fixture) {
	t, s := f.t, f.s
	for _, activate := range []bool{false, true} {
		batch := fmt.Sprintf("B%v", activate)
		flat := f.flat(batch)
		before := snapshot(t, s, batch)
		v, err := s.WriteCandidate(bg, Ref(batch), flat.Clone(), "", activate)
		OK(t, err)
		if v != 1 {
			t.Fatalf("v%d, want 1", v)
		}
		// The seed writes no manifest: v1 is already the implicit active.
		SameSnapshot(t, before, snapshot(t, s, batch))
	}
}

func scActivateMaterializes(f *fixture) {
	t, s := f.t, f.s
	f.flat("B")
	OK(t, s.Activate(bg, Ref("B"), 1))
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if len(vs) != 1 || !vs[0].Active || vs[0].Reason != "materialized-legacy" {
		t.Fatalf("%+v", vs)
	}
	if _, isFiles := s.(SceneFiles); isFiles {
		m, err := scene.DecodeManifest([]byte(f.storedBody(Token+"_B.versions.json")), "B")
		OK(t, err)
		if m.ActiveVersion != 1 || len(m.Versions) != 1 {
			t.Fatalf("stored manifest %+v", m)
		}
	}
}

func scPatchStatus(f *fixture) {
	t, s := f.t, f.s
	flat := f.flat("B")
	ld, err := s.PatchStatus(bg, Ref("B"), 1, []byte(`[{"op": "replace", "path": "/beats/1/approved", "value": true},
		{"op": "add", "path": "/scene_metadata/reviewed_by", "value": "ops"}]`))
	OK(t, err)
	want := flat.Clone()
	want.Beats[1].Approved = true
	want.SceneMetadata.Set("reviewed_by", "ops")
	if ld.Version != 1 || ld.Fingerprint != scene.Fingerprint(flat) || bodyText(t, ld.Scene) != bodyText(t, want) {
		t.Fatalf("patched = v%d %s", ld.Version, ld.Fingerprint)
	}
	got, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if bodyText(t, got.Scene) != bodyText(t, want) {
		t.Fatalf("stored body is not the patched scene")
	}
	if _, isFiles := s.(SceneFiles); isFiles && f.storedBody(Token+"_B.json") != bodyText(t, want) {
		t.Fatalf("stored bytes are not EncodeBody of the patched scene")
	}
	// An empty patch rewrites nothing visible.
	_, err = s.PatchStatus(bg, Ref("B"), 1, []byte(`[]`))
	OK(t, err)
	// A versioned batch: the patch goes to the active body only.
	v2 := Restructure(flat, "v2")
	_, err = s.WriteCandidate(bg, Ref("B"), v2, "", true)
	OK(t, err)
	v1, err := s.LoadVersion(bg, Ref("B"), 1)
	OK(t, err)
	_, err = s.PatchStatus(bg, Ref("B"), 2, []byte(`[{"op": "replace", "path": "/locked", "value": true}, {"op": "replace", "path": "/lock_reason", "value": "cut"}]`))
	OK(t, err)
	v1after, err := s.LoadVersion(bg, Ref("B"), 1)
	OK(t, err)
	if bodyText(t, v1after.Scene) != bodyText(t, v1.Scene) {
		t.Errorf("a v2 status write touched v1")
	}
	l2, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if l2.Version != 2 || !l2.Scene.Locked || l2.Scene.LockReason == nil || *l2.Scene.LockReason != "cut" {
		t.Errorf("v2 not patched: %+v", l2)
	}
	// A status write never changes the version list.
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if len(vs) != 2 {
		t.Errorf("versions %+v", vs)
	}
}

func scPatchColdStart(f *fixture) {
	t, s := f.t, f.s
	ld, err := s.PatchStatus(bg, Ref("NEW"), 1, []byte(`[{"op": "add", "path": "/scene_metadata/k", "value": 1}]`))
	OK(t, err)
	cold := Hydrate(t, Tree(`{"scene_id": "NEW", "beats": [], "scene_metadata": {"k": 1}, "locked": false, "lock_reason": null}`))
	if ld.Version != 1 || ld.Scene.SceneID != "NEW" || bodyText(t, ld.Scene) != bodyText(t, cold) {
		t.Errorf("cold start loaded %+v", ld)
	}
	got, err := s.Load(bg, Ref("NEW"))
	OK(t, err)
	if bodyText(t, got.Scene) != bodyText(t, cold) {
		t.Errorf("cold start body %s", bodyText(t, got.Scene))
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if !reflect.DeepEqual(names, []string{Token + "_NEW.json"}) {
		t.Errorf("List = %v", names)
	}
	// A cold start may add beats (no structure guard).
	_, err = s.PatchStatus(bg, Ref("NEW2"), 1, []byte(`[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_000"}}]`))
	OK(t, err)
	ld, err = s.Load(bg, Ref("NEW2"))
	OK(t, err)
	if len(ld.Scene.Beats) != 1 || ld.Scene.Beats[0].BeatID != "SH_000" {
		t.Errorf("cold start beats %+v", ld.Scene.Beats)
	}
}

func scUpdateRollback(f *fixture) {
	t, s := f.t, f.s
	u := f.updater()
	f.flat("B")
	before := snapshot(t, s, "B", "COLD")
	hookErr := errors.New("ledger mirror failed")
	_, err := u.UpdateStatus(bg, Ref("B"), 1, func(sc *scene.Scene) error {
		sc.Beats[0].Approved = !sc.Beats[0].Approved
		return nil
	}, func(sc *scene.Scene) error { return hookErr })
	if !errors.Is(err, hookErr) {
		t.Fatalf("err = %v, want the hook's", err)
	}
	// Cold start: the body does not stay.
	_, err = u.UpdateStatus(bg, Ref("COLD"), 1, func(sc *scene.Scene) error { return nil },
		func(sc *scene.Scene) error { return hookErr })
	if !errors.Is(err, hookErr) {
		t.Fatalf("err = %v", err)
	}
	SameSnapshot(t, before, snapshot(t, s, "B", "COLD"))
	ld, err := u.UpdateStatus(bg, Ref("B"), 1, func(sc *scene.Scene) error {
		sc.SceneMetadata.Set("hooked", true)
		return nil
	}, func(sc *scene.Scene) error { return nil })
	OK(t, err)
	got, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if v, _ := got.Scene.SceneMetadata.Get("hooked"); v != true || bodyText(t, got.Scene) != bodyText(t, ld.Scene) {
		t.Errorf("write lost")
	}
}

func scRunnerColdStart(f *fixture) {
	t, s := f.t, f.s
	runner := f.scene("B")
	ld, err := s.SaveRunner(bg, Ref("B"), 1, "", runner)
	OK(t, err)
	if ld.Version != 1 || ld.Fingerprint != scene.Fingerprint(runner) {
		t.Fatalf("cold start = %+v", ld)
	}
	got, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if bodyText(t, got.Scene) != bodyText(t, runner) {
		t.Errorf("cold start body is not the runner's")
	}
}

func scRunnerOverlay(f *fixture, versioned bool) {
	t, s := f.t, f.s
	disk := f.scene("B")
	disk.Beats[0].BeatMetadata.Delete("modality")
	disk.Beats[1].Board = Obj("status", "approved")
	expected := 1
	if versioned {
		v, err := s.WriteCandidate(bg, Ref("B"), disk, "", true)
		OK(t, err)
		expected = v
	} else {
		_, err := s.SaveRunner(bg, Ref("B"), 1, "", disk)
		OK(t, err)
	}
	runner := disk.Clone()
	runner.Beats[0].BeatMetadata.Set("modality", "i2v")
	runner.Beats[0].BeatMetadata.Set("inputs_fingerprint", "fresh")
	runner.Beats[1].Board = nil
	runner.Beats[2].Takes = append(runner.Beats[2].Takes, &scene.Take{TakeID: "new", Status: scene.TakeRunning})
	runner.SceneMetadata.Set("runner_only", true)
	saved, err := s.SaveRunner(bg, Ref("B"), expected, f.revision("B"), runner)
	OK(t, err)
	ld, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if saved.Version != expected || saved.Fingerprint != ld.Fingerprint {
		t.Errorf("SaveRunner returned %+v, stored v%d %s", saved, ld.Version, ld.Fingerprint)
	}
	b := ld.Scene.Beats
	if fp, _ := b[0].BeatMetadata.Get("inputs_fingerprint"); fp != "fresh" {
		t.Errorf("inputs_fingerprint not overlaid")
	}
	if len(b[2].Takes) != len(runner.Beats[2].Takes) || b[2].Takes[len(b[2].Takes)-1].TakeID != "new" {
		t.Errorf("takes not overlaid")
	}
	if b[1].Board == nil {
		t.Errorf("the disk board was clobbered")
	}
	if _, found := ld.Scene.SceneMetadata.Get("runner_only"); found {
		t.Errorf("scene_metadata is disk-owned")
	}
	_, enriched := b[0].BeatMetadata.Get("modality")
	if enriched == versioned {
		t.Errorf("modality enriched = %v with versioned = %v", enriched, versioned)
	}
}

func scInitFromPlan(f *fixture) {
	t, s := f.t, f.s
	plan := planOf(`{"sequences": {
		"BATCH_001": {"shots": [{"shot_id": "S1", "prompt": "a"}, {"id": "S2"}, {"prompt": "no id"}]},
		"BATCH_002": {"shots": []}}}`)
	res, err := s.InitFromPlan(bg, Project, Episode, plan, 3, true)
	OK(t, err)
	if len(res) != 2 || !res[0].Created || res[0].Batch != "BATCH_001" || len(res[0].Scene.Beats) != 3 {
		t.Fatalf("dry run result %+v", res)
	}
	if names, err := s.List(bg, Project, Episode); err != nil || len(names) != 0 {
		t.Fatalf("dry run wrote: %v %v", names, err)
	}
	res, err = s.InitFromPlan(bg, Project, Episode, plan, 3, false)
	OK(t, err)
	if len(res) != 2 || !res[0].Created || !res[1].Created {
		t.Fatalf("init result %+v", res)
	}
	var ids []string
	for _, b := range res[0].Scene.Beats {
		ids = append(ids, b.BeatID)
	}
	if !reflect.DeepEqual(ids, []string{"S1", "S2", "BEAT_02"}) {
		t.Errorf("beat ids %v", ids)
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if !reflect.DeepEqual(names, []string{Token + "_BATCH_001.json", Token + "_BATCH_002.json"}) {
		t.Errorf("List = %v", names)
	}
	ld, err := s.Load(bg, Ref("BATCH_001"))
	OK(t, err)
	if bodyText(t, ld.Scene) != bodyText(t, res[0].Scene) {
		t.Errorf("stored scene differs from the result")
	}
	fp := scene.Fingerprint(res[0].Scene)
	res, err = s.InitFromPlan(bg, Project, Episode, plan, 5, false)
	OK(t, err)
	if res[0].Created || res[1].Created {
		t.Fatalf("second init created: %+v", res)
	}
	ld, err = s.Load(bg, Ref("BATCH_001"))
	OK(t, err)
	if ld.Fingerprint != fp || !pyjson.Equal(ld.Scene.Beats[0].MaxTakes, pyjson.Int("5")) {
		t.Errorf("re-stamp: fp %s max_takes %v", ld.Fingerprint, ld.Scene.Beats[0].MaxTakes)
	}
	v2 := Restructure(ld.Scene, "rederived")
	_, err = s.WriteCandidate(bg, Ref("BATCH_001"), v2, "", true)
	OK(t, err)
	v1, err := s.LoadVersion(bg, Ref("BATCH_001"), 1)
	OK(t, err)
	_, err = s.InitFromPlan(bg, Project, Episode, plan, 7, false)
	OK(t, err)
	v1after, err := s.LoadVersion(bg, Ref("BATCH_001"), 1)
	OK(t, err)
	if bodyText(t, v1after.Scene) != bodyText(t, v1.Scene) {
		t.Errorf("re-stamp clobbered v1")
	}
	ld, err = s.Load(bg, Ref("BATCH_001"))
	OK(t, err)
	if ld.Version != 2 || !pyjson.Equal(ld.Scene.Beats[1].MaxTakes, pyjson.Int("7")) {
		t.Errorf("active v2 not re-stamped: v%d %v", ld.Version, ld.Scene.Beats[1].MaxTakes)
	}
	before := snapshot(t, s, "BATCH_001", "BATCH_002")
	res, err = s.InitFromPlan(bg, Project, Episode, plan, 9, true)
	OK(t, err)
	if !pyjson.Equal(res[0].Scene.Beats[0].MaxTakes, pyjson.Int("9")) {
		t.Errorf("dry run result not re-stamped")
	}
	SameSnapshot(t, before, snapshot(t, s, "BATCH_001", "BATCH_002"))
}

func scRecoverStale(f *fixture) {
	t, s := f.t, f.s
	tree := Tree(`{"scene_id": "B", "beats": [{"beat_id": "S1", "takes": [
		{"take_id": "old", "status": "running", "started_at": "2026-06-03T10:01:00+00:00"},
		{"take_id": "young", "status": "running", "started_at": "2026-06-03T10:08:00+00:00"},
		{"take_id": "done", "status": "succeeded", "started_at": "2026-06-03T09:00:00+00:00"}]}],
		"scene_metadata": {}}`)
	_, err := s.SaveRunner(bg, Ref("B"), 1, "", Hydrate(t, tree))
	OK(t, err)
	now := time.Date(2026, 6, 3, 10, 10, 0, 0, time.UTC)
	n, err := s.RecoverStale(bg, Ref("B"), 0, now)
	OK(t, err)
	if n != 1 {
		t.Fatalf("recovered %d, want 1", n)
	}
	ld, err := s.Load(bg, Ref("B"))
	OK(t, err)
	var got []string
	for _, tk := range ld.Scene.Beats[0].Takes {
		got = append(got, tk.Status)
	}
	if !reflect.DeepEqual(got, []string{"stale", "running", "succeeded"}) {
		t.Errorf("statuses %v", got)
	}
	before := snapshot(t, s, "B")
	n, err = s.RecoverStale(bg, Ref("B"), 0, now)
	OK(t, err)
	if n != 0 {
		t.Errorf("second recovery changed %d", n)
	}
	SameSnapshot(t, before, snapshot(t, s, "B"))
	n, err = s.RecoverStale(bg, Ref("B"), time.Minute, now)
	OK(t, err)
	if n != 1 {
		t.Errorf("recovery with a 1m age changed %d, want 1", n)
	}
	// On a versioned batch the active body is recovered.
	sc := Hydrate(t, tree)
	sc.Beats[0].BeatMetadata.Set("prompt_directive", "v2")
	_, err = s.WriteCandidate(bg, Ref("B"), sc, "", true)
	OK(t, err)
	n, err = s.RecoverStale(bg, Ref("B"), 0, now)
	OK(t, err)
	if n != 1 {
		t.Errorf("versioned recovery changed %d, want 1", n)
	}
	ld, err = s.Load(bg, Ref("B"))
	OK(t, err)
	if ld.Version != 2 || ld.Scene.Beats[0].Takes[0].Status != scene.TakeStale {
		t.Errorf("active v2 not recovered: %+v", ld)
	}

	// What the recovery saved names its own write (its event is keyed by
	// it), not a save that follows.
	ss, ok := s.(scene.StaleSaver)
	if !ok {
		return
	}
	v2 := func() *scene.Scene {
		x := Hydrate(t, tree)
		x.Beats[0].BeatMetadata.Set("prompt_directive", "v2")
		return x
	}
	_, err = s.SaveRunner(bg, Ref("B"), 2, ld.Revision, v2())
	OK(t, err)
	n, saved, err := ss.RecoverStaleSaved(bg, Ref("B"), 0, now)
	OK(t, err)
	ld, err = s.Load(bg, Ref("B"))
	OK(t, err)
	if n != 1 || saved.Version != 2 || saved.Revision != ld.Revision || saved.Fingerprint != ld.Fingerprint || saved.Stamp != ld.Stamp {
		t.Fatalf("RecoverStaleSaved = %d %+v; the store then holds v%d %s %s %q", n, saved, ld.Version, ld.Fingerprint, ld.Revision, ld.Stamp)
	}
	later := v2()
	later.Beats[0].Takes[1].Status = scene.TakeStale
	_, err = s.SaveRunner(bg, Ref("B"), 2, saved.Revision, later)
	OK(t, err)
	after, err := s.Load(bg, Ref("B"))
	OK(t, err)
	if after.Revision == saved.Revision {
		t.Fatalf("a later save kept the recovery's revision %s", saved.Revision)
	}
}

func scList(f *fixture) {
	t, s := f.t, f.s
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if names == nil || len(names) != 0 {
		t.Fatalf("an empty project lists %v", names)
	}
	f.flat("B")
	f.flat("A")
	f.versioned("C")
	_, err = s.WriteCandidate(bg, Ref("D"), f.scene("D"), "", true)
	OK(t, err)
	_, err = s.SaveRunner(bg, scene.Ref{Project: Project, Episode: "2", Batch: "E"}, 1, "", f.scene("E"))
	OK(t, err)
	_, err = s.SaveRunner(bg, scene.Ref{Project: "other", Episode: Episode, Batch: "F"}, 1, "", f.scene("F"))
	OK(t, err)
	names, err = s.List(bg, Project, "ep_001")
	OK(t, err)
	if want := []string{Token + "_A.json", Token + "_B.json", Token + "_C.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	names, err = s.List(bg, Project, "2")
	OK(t, err)
	if want := []string{"ep_002_E.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List(2) = %v, want %v", names, want)
	}
}

func scListPlanted(f *fixture) {
	t, s := f.t, f.s
	for _, n := range []string{
		Token + "_B.json", Token + "_A.json", Token + "_B.v001.json", Token + "_B.v1234.json",
		Token + "_B.versions.json", "ep_002_B.json", "ep_0011_B.json", "notes.json", Token + "_.json",
	} {
		f.raw(n, "{}")
	}
	names, err := s.List(bg, Project, Episode)
	OK(t, err)
	if want := []string{Token + "_.json", Token + "_A.json", Token + "_B.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

func scVersions(f *fixture) {
	t, s := f.t, f.s
	flat := f.flat("B")
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if len(vs) != 1 || !vs[0].Active || vs[0].Version != 1 || vs[0].Artifact != Token+"_B.json" ||
		vs[0].StructureFingerprint != scene.Fingerprint(flat) || vs[0].CreatedAt != nil || vs[0].Reason != "materialized-legacy" {
		t.Fatalf("flat versions %+v", vs)
	}
	_, err = s.WriteCandidate(bg, Ref("B"), Restructure(flat, "2"), "r2", false)
	OK(t, err)
	_, err = s.WriteCandidate(bg, Ref("B"), Restructure(flat, "3"), "r3", true)
	OK(t, err)
	vs, err = s.Versions(bg, Ref("B"))
	OK(t, err)
	var act []bool
	for _, v := range vs {
		act = append(act, v.Active)
	}
	if len(vs) != 3 || !reflect.DeepEqual(act, []bool{false, false, true}) || vs[2].Reason != "r3" || vs[1].Version != 2 {
		t.Errorf("versions %+v", vs)
	}
}

// scBytesRoundTrip: what the store holds is exactly EncodeBody's bytes, and
// a planted body with unusual number literals keeps them (a store must not
// reformat a body: its fingerprint and bytes are the contract).
func scBytesRoundTrip(f *fixture) {
	t, s := f.t, f.s
	sc := f.scene("B")
	_, err := s.WriteCandidate(bg, Ref("B"), sc, "", true)
	OK(t, err)
	if _, isFiles := s.(SceneFiles); !isFiles {
		return
	}
	if got := f.storedBody(Token + "_B.v001.json"); got != bodyText(t, sc) {
		t.Fatalf("stored body is not EncodeBody's bytes")
	}
	text := `{"schema_version": 1, "scene_id": "P", "beats": [{"beat_id": "S1", "beat_metadata": {"plan_shot": {"d": 1.50, "big": 12345678901234567890, "e": 1E+2}}}], "scene_metadata": {"\u00e9": "caf\u00e9"}}`
	f.raw(Token+"_P.json", text)
	ld, err := s.Load(bg, Ref("P"))
	OK(t, err)
	if got := f.storedBody(Token + "_P.json"); got != text {
		t.Fatalf("a read changed the planted body")
	}
	v, err := s.WriteCandidate(bg, Ref("P"), ld.Scene, "", false)
	OK(t, err)
	if v != 1 {
		t.Fatalf("the planted body's own structure is v%d, want the materialized v1", v)
	}
	vs, err := s.Versions(bg, Ref("P"))
	OK(t, err)
	if vs[0].StructureFingerprint != ld.Fingerprint {
		t.Fatalf("fingerprint %s, loaded %s", vs[0].StructureFingerprint, ld.Fingerprint)
	}
}

func scConcurrentPatches(f *fixture) {
	t, s := f.t, f.s
	sc := f.scene("B")
	n := len(sc.Beats)
	_, err := s.SaveRunner(bg, Ref("B"), 1, "", sc)
	OK(t, err)
	const per = 6
	var wg sync.WaitGroup
	for w := 0; w < n*per; w++ {
		wg.Go(func() {
			p := fmt.Sprintf(`[{"op": "add", "path": "/scene_metadata/w%d", "value": %d}, {"op": "replace", "path": "/beats/%d/approved", "value": true}]`, w, w, w%n)
			if _, err := s.PatchStatus(bg, Ref("B"), 1, []byte(p)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ld, err := s.Load(bg, Ref("B"))
	OK(t, err)
	for w := 0; w < n*per; w++ {
		if v, found := ld.Scene.SceneMetadata.Get(fmt.Sprintf("w%d", w)); !found || !pyjson.Equal(v, pyjson.Int(fmt.Sprint(w))) {
			t.Fatalf("patch %d lost", w)
		}
	}
	for i, b := range ld.Scene.Beats {
		if !b.Approved {
			t.Fatalf("beat %d approval lost", i)
		}
	}
}

func scConcurrentCandidates(f *fixture) {
	t, s := f.t, f.s
	base := f.scene("B")
	const n = 8
	var wg sync.WaitGroup
	versions := make([]int, 2*n)
	for i := 0; i < 2*n; i++ {
		wg.Go(func() {
			v, err := s.WriteCandidate(bg, Ref("B"), Restructure(base, fmt.Sprintf("d%d", i%n)), "race", false)
			if err != nil {
				t.Error(err)
				return
			}
			versions[i] = v
		})
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if versions[i] != versions[i+n] || versions[i] == 0 {
			t.Fatalf("one structure got versions %d and %d", versions[i], versions[i+n])
		}
	}
	vs, err := s.Versions(bg, Ref("B"))
	OK(t, err)
	if len(vs) != n {
		t.Fatalf("%d versions registered, want %d", len(vs), n)
	}
	seen := map[string]bool{}
	for i, v := range vs {
		if v.Version != i+1 || seen[v.StructureFingerprint] {
			t.Fatalf("versions %+v", vs)
		}
		seen[v.StructureFingerprint] = true
		ld, err := s.LoadVersion(bg, Ref("B"), v.Version)
		OK(t, err)
		if ld.Fingerprint != v.StructureFingerprint {
			t.Fatalf("v%d body fingerprint %s, manifest %s", v.Version, ld.Fingerprint, v.StructureFingerprint)
		}
	}
	if vs[0].Active != true {
		t.Fatalf("the first version of a new batch is not active: %+v", vs)
	}
}

// scPatchRacesActivation: status saves at the version they loaded race
// with activations; every save either lands on the version it expected or
// is a VERSION_CONFLICT, never on another version's body.
func scPatchRacesActivation(f *fixture) {
	t, s := f.t, f.s
	f.versioned("B")
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	landed := map[int][]string{}
	for i := 0; i < n; i++ {
		wg.Go(func() {
			if i%4 == 0 {
				if err := s.Activate(bg, Ref("B"), 1+(i/4)%2); err != nil {
					t.Error(err)
				}
				return
			}
			ld, err := s.Load(bg, Ref("B"))
			if err != nil {
				t.Error(err)
				return
			}
			key := fmt.Sprintf("race_%d", i)
			p := fmt.Sprintf(`[{"op": "add", "path": "/scene_metadata/%s", "value": %d}]`, key, ld.Version)
			_, err = s.PatchStatus(bg, Ref("B"), ld.Version, []byte(p))
			switch settle.ErrorCode(err) {
			case "":
				mu.Lock()
				landed[ld.Version] = append(landed[ld.Version], key)
				mu.Unlock()
			case settle.VersionConflict:
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for v := 1; v <= 2; v++ {
		ld, err := s.LoadVersion(bg, Ref("B"), v)
		OK(t, err)
		for _, key := range landed[v] {
			got, found := ld.Scene.SceneMetadata.Get(key)
			if !found || !pyjson.Equal(got, pyjson.Int(fmt.Sprint(v))) {
				t.Fatalf("save %s expected v%d but is not in its body", key, v)
			}
		}
		for _, k := range ld.Scene.SceneMetadata.Keys() {
			if strings.HasPrefix(k, "race_") {
				got, _ := ld.Scene.SceneMetadata.Get(k)
				if !pyjson.Equal(got, pyjson.Int(fmt.Sprint(v))) {
					t.Fatalf("save %s meant for v%v landed in v%d", k, got, v)
				}
			}
		}
	}
}

// scUpdateCounters: read-modify-write closures from many goroutines, while
// versions are activated back and forth: every increment lands exactly
// once, in the version it was made against.
func scUpdateCounters(f *fixture) {
	t, s := f.t, f.s
	u := f.updater()
	f.versioned("B")
	const workers, n = 4, 10
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var activations sync.WaitGroup
	activations.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Activate(bg, Ref("B"), 1+i%2); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			key := fmt.Sprintf("counter_%d", w)
			for done := 0; done < n; {
				ld, err := s.Load(bg, Ref("B"))
				if err != nil {
					t.Error(err)
					return
				}
				_, err = u.UpdateStatus(bg, Ref("B"), ld.Version, func(sc *scene.Scene) error {
					cur := 0
					if v, found := sc.SceneMetadata.Get(key); found {
						fmt.Sscan(fmt.Sprint(v), &cur)
					}
					sc.SceneMetadata.Set(key, pyjson.Int(fmt.Sprint(cur+1)))
					return nil
				}, nil)
				switch settle.ErrorCode(err) {
				case "":
					done++
				case settle.VersionConflict:
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	activations.Wait()
	for w := 0; w < workers; w++ {
		total := 0
		for v := 1; v <= 2; v++ {
			ld, err := s.LoadVersion(bg, Ref("B"), v)
			OK(t, err)
			if x, found := ld.Scene.SceneMetadata.Get(fmt.Sprintf("counter_%d", w)); found {
				c := 0
				fmt.Sscan(fmt.Sprint(x), &c)
				total += c
			}
		}
		if total != n {
			t.Fatalf("worker %d: %d increments stored, want %d", w, total, n)
		}
	}
}

// scLockWaitContext: a mutation waiting for the batch's lock gives up
// when its context ends, and the batch is usable afterwards.
func scLockWaitContext(f *fixture) {
	t, s := f.t, f.s
	u := f.updater()
	f.flat("B")
	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := u.UpdateStatus(bg, Ref("B"), 1, func(sc *scene.Scene) error {
			close(holding)
			<-release
			return nil
		}, nil)
		held <- err
	}()
	<-holding
	cctx, cancel := context.WithTimeout(bg, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.PatchStatus(cctx, Ref("B"), 1, []byte(`[]`))
	if err == nil {
		t.Fatal("a patch went through while another mutation held the batch")
	}
	if !errors.Is(err, context.DeadlineExceeded) && settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("err = %v, want the context's deadline or UNAVAILABLE", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the lock wait ignored the context")
	}
	close(release)
	OK(t, <-held)
	_, err = s.PatchStatus(bg, Ref("B"), 1, []byte(`[]`))
	OK(t, err)
}

// scActivateIfRace: a conditional activation from a stale active version
// is refused and writes nothing; of operators racing from the same page,
// exactly one moves the pointer.
func scActivateIfRace(f *fixture) {
	ca, isCond := f.s.(scene.CondActivator)
	if !isCond {
		f.t.Skip("the store has no conditional activation")
	}
	f.versioned("B") // v1 and an active v2
	err := ca.ActivateIf(bg, Ref("B"), 1, 1)
	if settle.ErrorCode(err) != settle.VersionConflict {
		f.t.Fatalf("activation from a stale version: %v", err)
	}
	if ld, err := f.s.Load(bg, Ref("B")); err != nil || ld.Version != 2 {
		f.t.Fatalf("active version after a refused activation: %d %v", ld.Version, err)
	}
	const racers = 6
	errs := make(chan error, racers)
	start := make(chan struct{})
	for range racers {
		go func() {
			<-start
			errs <- ca.ActivateIf(bg, Ref("B"), 1, 2) // all decided on v2
		}()
	}
	close(start)
	won := 0
	for range racers {
		switch err := <-errs; settle.ErrorCode(err) {
		case "":
			won++
		case settle.VersionConflict:
		default:
			f.t.Fatalf("racing activation: %v", err)
		}
	}
	ld, err := f.s.Load(bg, Ref("B"))
	OK(f.t, err)
	if won != 1 || ld.Version != 1 {
		f.t.Fatalf("%d racers won, active v%d", won, ld.Version)
	}
}
