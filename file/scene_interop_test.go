package file_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scLoadedCanon is a Go load as the seed's driver reports it.
func scLoadedCanon(t *testing.T, ld scene.Loaded) string {
	t.Helper()
	return scEncode(t, ld.Scene.ToTree())
}

// scCheckSeedLoad compares a seed "load" result with the Go store's Load.
func scCheckSeedLoad(t *testing.T, res map[string]json.RawMessage, ld scene.Loaded, what string) {
	t.Helper()
	scSeedOK(t, res, what)
	if v := scSeedInt(t, res, "version"); v != ld.Version {
		t.Errorf("%s: seed loads v%d, settle v%d", what, v, ld.Version)
	}
	if fp := scSeedString(t, res, "fingerprint"); fp != ld.Fingerprint {
		t.Errorf("%s: seed fingerprint %s, settle %s", what, fp, ld.Fingerprint)
	}
	if got, want := scCanonical(t, res["scene"]), scLoadedCanon(t, ld); got != want {
		t.Errorf("%s: seed reads another scene:\nseed   %s\nsettle %s", what, got, want)
	}
}

// scCheckBytesCompatible checks that every body and manifest in the scenes
// directory re-encodes to the same bytes with settle's encoders (so the
// seed and settle write identical files for the same content).
func scCheckBytesCompatible(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(scDir(root))
	storetest.OK(t, err)
	for _, e := range entries {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(scDir(root), name))
		storetest.OK(t, err)
		switch {
		case strings.HasSuffix(name, ".versions.json"):
			batch := strings.TrimSuffix(strings.TrimPrefix(name, storetest.Token+"_"), ".versions.json")
			m, err := scene.DecodeManifest(data, batch)
			storetest.OK(t, err)
			out, err := scene.EncodeManifest(m)
			storetest.OK(t, err)
			if string(out) != string(data) {
				t.Errorf("%s: manifest bytes differ from settle's encoding:\n%s\n%s", name, data, out)
			}
		case strings.HasSuffix(name, ".json"):
			sc, err := scene.DecodeBody(data)
			storetest.OK(t, err)
			out, err := scene.EncodeBody(sc)
			storetest.OK(t, err)
			if string(out) != string(data) {
				t.Errorf("%s: body bytes differ from settle's encoding", name)
			}
		}
	}
}

// TestScenesInteropGoWritesSeedReads: files written by settle are read by
// the seed (load_scene_active_with_version, list_scenes), then the seed
// writes (write_scene_candidate, activate, save_active_scene_status,
// save_active_scene, save_scene_guarded) on them, and settle reads and
// writes what the seed wrote.
func TestScenesInteropGoWritesSeedReads(t *testing.T) {
	root := t.TempDir()
	scReferenceDir(t)
	s := scOpen(t, root)
	rng := testenv.Rand(t)

	plan := scene.Plan{Root: storetest.Tree(`{"sequences": {
		"B1": {"shots": [{"shot_id": "S1", "prompt": "the café ✓ opens", "is_env_only": true}, {"shot_id": "S2", "duration_s": 2.5}]},
		"B2": {"shots": [{"id": "X1"}]}}}`)}
	_, err := s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 4, false)
	storetest.OK(t, err)
	_, err = s.PatchStatus(scCtx, storetest.Ref("B1"), 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true},
		{"op": "add", "path": "/beats/1/takes/-", "value": {"take_id": "t1", "status": "running", "started_at": "2026-06-03T10:00:00+00:00"}}]`))
	storetest.OK(t, err)
	ld, err := s.Load(scCtx, storetest.Ref("B1"))
	storetest.OK(t, err)
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B1"), storetest.Restructure(ld.Scene, "v2"), "rederive 2", false)
	storetest.OK(t, err)
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B1"), storetest.Restructure(ld.Scene, "v3"), "rederive 3", true)
	storetest.OK(t, err)
	_, err = s.PatchStatus(scCtx, storetest.Ref("B1"), 3, []byte(`[{"op": "replace", "path": "/beats/1/takes/0/status", "value": "succeeded"}]`))
	storetest.OK(t, err)
	l2, err := s.Load(scCtx, storetest.Ref("B2"))
	storetest.OK(t, err)
	runner := l2.Scene.Clone()
	runner.Beats[0].Takes = []*scene.Take{{TakeID: "r1", Status: scene.TakeRunning}}
	_, err = s.SaveRunner(scCtx, storetest.Ref("B2"), 1, l2.Revision, runner)
	storetest.OK(t, err)
	b3 := scGen(t, rng, "B3", 5)
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B3"), b3, "first", false)
	storetest.OK(t, err)
	scCheckBytesCompatible(t, root)

	b1v4 := storetest.Restructure(ld.Scene, "seed v4")
	b4 := scGen(t, rng, "B4", 2)
	ops := []map[string]any{
		scOp("load", "B1"), scOp("load", "B2"), scOp("load", "B3"),
		{"op": "list", "project": storetest.Project, "episode": storetest.Episode},
		scOp("active_path", "B1"),
		scOp("candidate", "B1", "scene", b1v4.ToTree(), "reason", "seed", "activate", true),
		scOp("status", "B1", "expected_version", 4, "patch", json.RawMessage(`[{"op": "replace", "path": "/beats/0/board", "value": {"status": "approved"}}]`)),
		scOp("activate", "B1", "version", 2),
		scOp("candidate", "B3", "scene", b3.ToTree(), "activate", false),
		scOp("status", "B2", "expected_version", 1, "patch", json.RawMessage(`[{"op": "add", "path": "/scene_metadata/seed", "value": true}]`)),
		scOp("save_guarded", "B4", "scene", b4.ToTree()),
		scOp("candidate", "B4", "scene", storetest.Restructure(b4, "b4 v2").ToTree(), "reason", "r", "activate", true),
		scOp("status", "B1", "expected_version", 1, "patch", json.RawMessage(`[]`)),
		scOp("load", "B1"),
	}
	pre := []scene.Loaded{scMustLoad(t, s, "B1"), scMustLoad(t, s, "B2"), scMustLoad(t, s, "B3")}
	goNames, err := s.List(scCtx, storetest.Project, storetest.Episode)
	storetest.OK(t, err)
	res := scRunSeed(t, root, ops)

	// The seed reads what settle wrote.
	scCheckSeedLoad(t, res[0], pre[0], "seed load B1")
	scCheckSeedLoad(t, res[1], pre[1], "seed load B2")
	scCheckSeedLoad(t, res[2], pre[2], "seed load B3")
	var names []string
	storetest.OK(t, json.Unmarshal(res[3]["names"], &names))
	if !reflect.DeepEqual(names, goNames) {
		t.Errorf("seed lists %v, settle %v", names, goNames)
	}
	if p := scSeedString(t, res[4], "path"); p != scPath(root, storetest.Token+"_B1.v003.json") {
		t.Errorf("seed active path %s", p)
	}
	if v := scSeedInt(t, res[5], "version"); v != 4 {
		t.Errorf("seed candidate on settle's manifest = v%d, want 4", v)
	}
	scSeedOK(t, res[6], "status v4")
	scSeedOK(t, res[7], "activate v2")
	if v := scSeedInt(t, res[8], "version"); v != 1 {
		t.Errorf("seed dedupe = v%d, want 1", v)
	}
	scSeedOK(t, res[9], "status B2")
	scSeedOK(t, res[10], "save_guarded B4")
	if v := scSeedInt(t, res[11], "version"); v != 2 {
		t.Errorf("seed candidate over flat = v%d, want 2", v)
	}
	if c := scSeedCode(res[12]); c != settle.VersionConflict {
		t.Errorf("seed status with a stale version: %q", c)
	}
	// Settle reads what the seed wrote.
	ld1 := scMustLoad(t, s, "B1")
	scCheckSeedLoad(t, res[13], ld1, "seed load B1 after its writes")
	if ld1.Version != 2 {
		t.Errorf("settle loads B1 v%d, want 2", ld1.Version)
	}
	l4, err := s.LoadVersion(scCtx, storetest.Ref("B1"), 4)
	storetest.OK(t, err)
	if l4.Fingerprint != scene.Fingerprint(b1v4) {
		t.Errorf("seed's v4 fingerprint differs")
	}
	if board, ok := l4.Scene.Beats[0].Board.(*pyjson.Object); !ok || pyjson.Str(scGet(board, "status")) != "approved" {
		t.Errorf("seed's status write on v4 not seen")
	}
	l2b := scMustLoad(t, s, "B2")
	if v, _ := l2b.Scene.SceneMetadata.Get("seed"); v != true || l2b.Scene.Beats[0].Takes[0].TakeID != "r1" {
		t.Errorf("seed's B2 status write not seen or runner takes lost")
	}
	vs, err := s.Versions(scCtx, storetest.Ref("B4"))
	storetest.OK(t, err)
	if len(vs) != 2 || vs[0].Reason != "materialized-legacy" || vs[0].CreatedAt != nil || !vs[1].Active {
		t.Errorf("B4 versions after the seed's materialization: %+v", vs)
	}
	scCheckBytesCompatible(t, root)

	// Settle keeps writing on the seed's files.
	_, err = s.PatchStatus(scCtx, storetest.Ref("B1"), 2, []byte(`[{"op": "replace", "path": "/locked", "value": true}]`))
	storetest.OK(t, err)
	v, err := s.WriteCandidate(scCtx, storetest.Ref("B4"), storetest.Restructure(b4, "b4 v3"), "", false)
	storetest.OK(t, err)
	if v != 3 {
		t.Errorf("settle candidate after the seed's = v%d, want 3", v)
	}
	storetest.OK(t, s.Activate(scCtx, storetest.Ref("B4"), 1))
	scCheckBytesCompatible(t, root)
}

func scMustLoad(t *testing.T, s *file.Scenes, batch string) scene.Loaded {
	t.Helper()
	ld, err := s.Load(scCtx, storetest.Ref(batch))
	storetest.OK(t, err)
	return ld
}

// TestScenesInteropErrorCodes: the seed and settle refuse the same broken
// states with the same code (contracts §3's mapping of the seed's errors).
func TestScenesInteropErrorCodes(t *testing.T) {
	root := t.TempDir()
	scReferenceDir(t)
	files, ops := scErrorCodeCases(t)
	for name, text := range files {
		scWriteRaw(t, root, name, text)
	}
	before := scSnapshot(t, root)
	res := scRunSeed(t, root, ops)
	after := scSnapshot(t, root)
	// Only the successful NEWB candidate may have written.
	for k := range after {
		if _, ok := before[k]; !ok && !strings.Contains(k, "_NEWB.") {
			t.Errorf("seed wrote %s", k)
		}
	}
	scCheckErrorCodes(t, scOpen(t, root), ops, res)
}

// scErrorCodeCases are the broken scene files (name to text) and the seed
// operations on them of the error-code differential.
func scErrorCodeCases(t *testing.T) (map[string]string, []map[string]any) {
	t.Helper()
	rng := testenv.Rand(t)
	good := func(batch string) string { return scBodyText(t, scGenTree(rng, batch, 2)) }
	manifest := func(batch, body string) string {
		return `{"schema_version": 1, "batch_id": "` + batch + `", "active_version": 1, "versions": [` + body + `]}`
	}
	files := map[string]string{
		storetest.Token + "_SCHEMA.json":            `{"schema_version": 2, "scene_id": "SCHEMA", "beats": []}`,
		storetest.Token + "_NOSCHEMA.json":          `{"scene_id": "NOSCHEMA", "beats": []}`,
		storetest.Token + "_CORRUPT.json":           `{"schema_version": 1, "scene_id": "CORR`,
		storetest.Token + "_MCORRUPT.json":          good("MCORRUPT"),
		storetest.Token + "_MCORRUPT.versions.json": `{"schema_version": 1,`,
		storetest.Token + "_MSCHEMA.versions.json":  `{"schema_version": 3, "batch_id": "MSCHEMA", "active_version": 1, "versions": []}`,
		storetest.Token + "_MIDENT.versions.json":   `{"schema_version": 1, "batch_id": "OTHER", "active_version": 1, "versions": []}`,
		storetest.Token + "_BIDENT.versions.json":   manifest("BIDENT", scEntry(1, storetest.Token+"_OTHERBODY.json")),
		storetest.Token + "_OTHERBODY.json":         good("OTHERBODY"),
		storetest.Token + "_UNSAFE.versions.json":   manifest("UNSAFE", scEntry(1, "../x.json")),
		storetest.Token + "_UNSAFE2.versions.json":  manifest("UNSAFE2", scEntry(1, "a/b.json")),
		storetest.Token + "_MISSING.versions.json":  manifest("MISSING", scEntry(1, storetest.Token+"_MISSING.v001.json")),
		storetest.Token + "_UNREG.versions.json":    manifest("UNREG", scEntry(2, storetest.Token+"_UNREG.json")),
		storetest.Token + "_UNREG.json":             good("UNREG"),
	}
	batches := []string{"SCHEMA", "NOSCHEMA", "CORRUPT", "MCORRUPT", "MSCHEMA", "MIDENT", "BIDENT", "UNSAFE", "UNSAFE2", "MISSING", "UNREG", "NOTHING"}
	var ops []map[string]any
	for _, b := range batches {
		ops = append(ops, scOp("load", b))
	}
	for _, ep := range []string{"ep_1", "abc", "-1", "1_BATCH"} {
		ops = append(ops, map[string]any{"op": "load", "project": storetest.Project, "episode": ep, "batch": "SCHEMA"})
	}
	ops = append(ops,
		scOp("activate", "UNREG", "version", 5),
		scOp("activate", "BIDENT", "version", 1),
		scOp("activate", "MISSING", "version", 1),
		scOp("candidate", "NEWB", "scene", scGenTree(rng, "NEWB", 1), "requested", "NEWB", "activate", true),
		scOp("candidate", "RENUM", "scene", scGenTree(rng, "RENUMBERED", 1), "requested", "RENUM"),
	)
	return files, ops
}

// scCheckErrorCodes runs ops through s and compares each error code with
// the seed's.
func scCheckErrorCodes(t *testing.T, s *file.Scenes, ops []map[string]any, res []map[string]json.RawMessage) {
	t.Helper()
	for i, op := range ops {
		ref := scene.Ref{Project: op["project"].(string), Episode: op["episode"].(string), Batch: op["batch"].(string)}
		var err error
		switch op["op"] {
		case "load":
			_, err = s.Load(scCtx, ref)
		case "activate":
			err = s.Activate(scCtx, ref, op["version"].(int))
		case "candidate":
			tree := op["scene"].(*pyjson.Object)
			if ref.Batch == "NEWB" {
				ref.Batch = "NEWB_GO" // the seed created NEWB; settle's own new batch
				tree = tree.Clone()
				tree.Set("scene_id", "NEWB_GO")
			}
			_, err = s.WriteCandidate(scCtx, ref, storetest.Hydrate(t, tree), "", false)
		}
		got, want := settle.ErrorCode(err), scSeedCode(res[i])
		if got != want {
			t.Errorf("%s %s (episode %q): settle %q, seed %q (%s)", op["op"], ref.Batch, ref.Episode, got, want, res[i]["message"])
		}
	}
}

// scInitPlanText is the plan of the init-from-plan differential: non-ASCII
// text, U+2028, a float, a big integer, fallback shot ids, empty and
// shot-less sequences.
const scInitPlanText = `{"sequences": {
	"BATCH_001": {"shots": [{"shot_id": "S1", "prompt": "naïve ✓ \u2028 line", "duration_s": 2.50, "n": 10000000000000000000001},
		{"id": 7}, {"shot_id": "", "id": null}, {"shot_id": 0, "id": "fallback"}]},
	"BATCH_002": {"shots": []},
	"BATCH_003": {"title": "no shots"}}}`

// scInitMaxTakes are the max_takes of the two inits (create, re-stamp).
var scInitMaxTakes = []int{3, 5}

// scInitFromPlanTwice runs settle's InitFromPlan of scInitPlanText on root,
// once per scInitMaxTakes.
func scInitFromPlanTwice(t *testing.T, root string) {
	t.Helper()
	s := scOpen(t, root)
	plan := storetest.Tree(scInitPlanText)
	for _, mt := range scInitMaxTakes {
		_, err := s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, scene.Plan{Root: plan}, mt, false)
		storetest.OK(t, err)
	}
}

// scSeedInitFromPlanTwice is scInitFromPlanTwice through the seed's
// init_scenes_from_plan.
func scSeedInitFromPlanTwice(t *testing.T, root string) {
	t.Helper()
	var ops []map[string]any
	for _, mt := range scInitMaxTakes {
		ops = append(ops, map[string]any{"op": "init", "project": storetest.Project, "episode": storetest.Episode, "plan": json.RawMessage(scInitPlanText), "max_takes": mt})
	}
	for i, r := range scRunSeed(t, root, ops) {
		scSeedOK(t, r, fmt.Sprintf("init %d", i+1))
	}
}

func scGet(o *pyjson.Object, key string) any {
	v, _ := o.Get(key)
	return v
}

// TestScenesInteropInitFromPlan: settle's InitFromPlan and the seed's
// init_scenes_from_plan, run twice each (create, then re-stamp), leave
// byte-identical files.
func TestScenesInteropInitFromPlan(t *testing.T) {
	scReferenceDir(t)
	goRoot, pyRoot := t.TempDir(), t.TempDir()
	scInitFromPlanTwice(t, goRoot)
	scSeedInitFromPlanTwice(t, pyRoot)
	goSnap, pySnap := scSnapshot(t, goRoot), scSnapshot(t, pyRoot)
	if !reflect.DeepEqual(goSnap, pySnap) {
		t.Errorf("init files differ:\nsettle %v\nseed   %v", goSnap, pySnap)
		for name := range goSnap {
			if !strings.HasSuffix(name, "/") && goSnap[name] != pySnap[name] {
				a, _ := os.ReadFile(filepath.Join(goRoot, name))
				b, _ := os.ReadFile(filepath.Join(pyRoot, name))
				t.Logf("%s\nsettle:\n%s\nseed:\n%s", name, a, b)
			}
		}
	}
}
