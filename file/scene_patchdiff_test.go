package file_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scDiffCase is one scene + patch of the patch-decision differential.
type scDiffCase struct {
	batch     string
	kind      string
	tree      *pyjson.Object // nil: cold start (no body)
	versioned bool           // a manifest with v2 active
	expected  int
	patch     []byte
}

func scOp2(op, path string, kv ...any) *pyjson.Object {
	return storetest.Obj(append([]any{"op", op, "path", path}, kv...)...)
}

// scDiffTree is a generated scene whose beats also carry grouped shot
// metadata (shot, batch_shots) with builder-variant keys.
func scDiffTree(rng *rand.Rand, batch string) *pyjson.Object {
	tree := scGenTree(rng, batch, 1+rng.Intn(5))
	beats, _ := tree.Get("beats")
	for i, bv := range beats.([]any) {
		md, _ := bv.(*pyjson.Object).GetObject("beat_metadata")
		if rng.Intn(3) == 0 {
			md.Set("shot", storetest.Obj("shot_id", fmt.Sprintf("G%d", i), "aspect_ratio", "16:9", "is_env_only", false,
				"raw", storetest.Obj("src", "builder-a"), "lens_mm", 50))
		}
		if rng.Intn(4) == 0 {
			md.Set("batch_shots", []any{storetest.Obj("shot_id", "a", "raw", "x"), "loose", storetest.Obj("shot_id", "b", "aspect_ratio", "4:3")})
		}
		if rng.Intn(5) == 0 {
			md.Delete("modality")
		}
	}
	return tree
}

func scBeatsOf(tree *pyjson.Object) []*pyjson.Object {
	if tree == nil {
		return nil
	}
	bv, _ := tree.Get("beats")
	var out []*pyjson.Object
	for _, b := range bv.([]any) {
		out = append(out, b.(*pyjson.Object))
	}
	return out
}

func scTakesOf(beat *pyjson.Object) []any {
	tv, _ := beat.Get("takes")
	l, _ := tv.([]any)
	return l
}

// scDiffKinds are the kinds of patch fragments the differential generates.
var scDiffKinds = []string{"take_status", "approve", "add_take", "remove_take", "primary", "board_set", "board_null",
	"board_field", "lock", "scene_md", "beat_md_volatile", "max_takes", "phantom", "copy_take", "move_take",
	"takes_null", "reorder", "add_beat", "remove_beat", "beat_id", "structural_change", "structural_add",
	"structural_remove", "shot_variant", "batch_shots_variant", "scene_id", "restore", "test_pass",
	"test_fail", "test_numeric", "test_bool_number", "bad_pointer", "remove_beat_id", "beat_md_null", "noop_move", "unknown_op"}

// scGenOps returns one patch fragment of a kind chosen at random.
func scGenOps(rng *rand.Rand, tree *pyjson.Object, batch string) (string, []any) {
	beats := scBeatsOf(tree)
	nb := len(beats)
	bi := 0
	if nb > 0 {
		bi = rng.Intn(nb)
	}
	bp := fmt.Sprintf("/beats/%d", bi)
	statuses := []string{scene.TakePending, scene.TakeRunning, scene.TakeSucceeded, scene.TakeFailed, scene.TakeStale}
	takeWith := func() (int, bool) {
		if nb == 0 {
			return 0, false
		}
		n := len(scTakesOf(beats[bi]))
		if n == 0 {
			return 0, false
		}
		return rng.Intn(n), true
	}
	mdKey := func() (string, bool) {
		if nb == 0 {
			return "", false
		}
		md, _ := beats[bi].GetObject("beat_metadata")
		for _, k := range scene.StructuralBeatMetadataKeys {
			if md.Has(k) && rng.Intn(2) == 0 {
				return k, true
			}
		}
		return "plan_shot", md.Has("plan_shot")
	}
	kind := scDiffKinds[rng.Intn(len(scDiffKinds))]
	switch kind {
	case "take_status":
		if k, ok := takeWith(); ok {
			return kind, []any{scOp2("replace", fmt.Sprintf("%s/takes/%d/status", bp, k), "value", statuses[rng.Intn(5)]),
				scOp2("replace", fmt.Sprintf("%s/takes/%d/finished_at", bp, k), "value", "2026-06-03T11:00:00+00:00")}
		}
		return "add_take", []any{scOp2("add", bp+"/takes/-", "value", storetest.Obj("take_id", "fresh", "status", "pending"))}
	case "approve":
		return kind, []any{scOp2("replace", bp+"/approved", "value", rng.Intn(2) == 0)}
	case "add_take":
		return kind, []any{scOp2("add", bp+"/takes/0", "value", storetest.Obj("take_id", "t_new", "status", "running",
			"created_at", "2026-06-03T10:00:00+00:00", "receipt", storetest.Obj("job", "j1", "cost", 1.25)))}
	case "remove_take":
		if k, ok := takeWith(); ok {
			return kind, []any{scOp2("remove", fmt.Sprintf("%s/takes/%d", bp, k))}
		}
		return kind, []any{scOp2("remove", bp+"/takes/0")}
	case "primary":
		return kind, []any{scOp2("replace", bp+"/primary_take_id", "value", []any{nil, "SH_000_t0", "x"}[rng.Intn(3)])}
	case "board_set":
		return kind, []any{scOp2("replace", bp+"/board", "value", storetest.Obj("status", "approved", "decision", "keep", "score", 0.93))}
	case "board_null":
		return kind, []any{scOp2("replace", bp+"/board", "value", nil)}
	case "board_field":
		return kind, []any{scOp2("add", bp+"/board/decision", "value", "reroll")}
	case "lock":
		return kind, []any{scOp2("replace", "/locked", "value", true), scOp2("replace", "/lock_reason", "value", "final cut — ✓")}
	case "scene_md":
		vals := []any{1, 2.5, "ünïcode", nil, true, storetest.Obj("nested", []any{1, "a"}), []any{}, 1e21}
		return kind, []any{scOp2("add", fmt.Sprintf("/scene_metadata/k%d", rng.Intn(3)), "value", vals[rng.Intn(len(vals))])}
	case "beat_md_volatile":
		key := []string{"inputs_fingerprint", "reroll_cleared_stale", "notes"}[rng.Intn(3)]
		return kind, []any{scOp2("add", bp+"/beat_metadata/"+key, "value", fmt.Sprintf("%x", rng.Int63()))}
	case "max_takes":
		return kind, []any{scOp2("replace", bp+"/max_takes", "value", 1+rng.Intn(6))}
	case "phantom":
		return kind, []any{scOp2("replace", bp+"/phantom_recovery_count", "value", rng.Intn(3))}
	case "copy_take":
		if k, ok := takeWith(); ok && nb > 1 {
			return kind, []any{scOp2("copy", fmt.Sprintf("%s/takes/%d", bp, k), "from", fmt.Sprintf("%s/takes/%d", bp, k)),
				scOp2("copy", "/beats/0/takes/-", "from", fmt.Sprintf("%s/takes/%d", bp, k))}
		}
		return kind, []any{scOp2("copy", "/scene_metadata/copied", "from", "/scene_id")}
	case "move_take":
		if k, ok := takeWith(); ok {
			return kind, []any{scOp2("move", fmt.Sprintf("/beats/%d/takes/-", rng.Intn(nb)), "from", fmt.Sprintf("%s/takes/%d", bp, k))}
		}
		return kind, []any{scOp2("move", "/beats/0/takes/0", "from", bp+"/takes/0")}
	case "takes_null":
		return kind, []any{scOp2("replace", bp+"/takes", "value", nil)}
	case "reorder":
		return kind, []any{scOp2("move", fmt.Sprintf("/beats/%d", rng.Intn(max(nb, 1))), "from", bp)}
	case "add_beat":
		return kind, []any{scOp2("add", "/beats/-", "value", storetest.Obj("beat_id", "SH_NEW", "beat_metadata", storetest.Obj("scene_id", batch)))}
	case "remove_beat":
		return kind, []any{scOp2("remove", bp)}
	case "beat_id":
		return kind, []any{scOp2("replace", bp+"/beat_id", "value", "RENAMED")}
	case "structural_change":
		if k, ok := mdKey(); ok {
			return kind, []any{scOp2("replace", bp+"/beat_metadata/"+k, "value", storetest.Obj("changed", true))}
		}
		return kind, []any{scOp2("replace", bp+"/beat_metadata/plan_shot", "value", "x")}
	case "structural_add":
		key := scene.StructuralBeatMetadataKeys[rng.Intn(len(scene.StructuralBeatMetadataKeys))]
		return kind, []any{scOp2("add", bp+"/beat_metadata/"+key, "value", "added")}
	case "structural_remove":
		if k, ok := mdKey(); ok {
			return kind, []any{scOp2("remove", bp+"/beat_metadata/"+k)}
		}
		return kind, []any{scOp2("remove", bp+"/beat_metadata/modality")}
	case "shot_variant":
		key := []string{"aspect_ratio", "is_env_only", "raw", "lens_mm"}[rng.Intn(4)]
		return kind, []any{scOp2("add", bp+"/beat_metadata/shot/"+key, "value", "variant")}
	case "batch_shots_variant":
		return kind, []any{scOp2("add", bp+"/beat_metadata/batch_shots/0/raw", "value", "other builder")}
	case "scene_id":
		return kind, []any{scOp2("replace", "/scene_id", "value", batch+"_X")}
	case "restore":
		if nb == 0 {
			return kind, []any{scOp2("replace", "/scene_id", "value", "Z"), scOp2("replace", "/scene_id", "value", batch)}
		}
		id, _ := beats[bi].GetString("beat_id")
		return kind, []any{scOp2("replace", bp+"/beat_id", "value", "TEMP"), scOp2("replace", bp+"/approved", "value", true),
			scOp2("replace", bp+"/beat_id", "value", id)}
	case "test_pass":
		return kind, []any{scOp2("test", "/scene_id", "value", batch), scOp2("replace", "/lock_reason", "value", "tested")}
	case "test_fail":
		return kind, []any{scOp2("replace", "/locked", "value", true), scOp2("test", "/scene_id", "value", "nope")}
	case "test_numeric":
		// RFC 6902 4.6: numbers are equal when numerically equal (3 == 3.0).
		return kind, []any{scOp2("test", bp+"/max_takes", "value", 3.0), scOp2("replace", bp+"/approved", "value", true)}
	case "test_bool_number":
		// RFC 6902 4.6: values of different types differ (false != 0).
		return kind, []any{scOp2("test", bp+"/approved", "value", 0), scOp2("replace", bp+"/approved", "value", true)}
	case "bad_pointer":
		bad := []*pyjson.Object{
			scOp2("remove", "/beats/99"), scOp2("replace", "/beats/01/approved", "value", true),
			scOp2("add", "/beats/0/takes/77", "value", storetest.Obj("take_id", "x")), scOp2("replace", "locked", "value", true),
			storetest.Obj("op", "remove"), scOp2("replace", "/scene_metadata/absent", "value", 1),
			scOp2("add", "/beats/-/approved", "value", true), scOp2("move", "/beats/0/takes", "from", "/beats/0"),
		}
		return kind, []any{bad[rng.Intn(len(bad))]}
	case "remove_beat_id":
		return kind, []any{scOp2("remove", bp+"/beat_id")}
	case "beat_md_null":
		return kind, []any{scOp2("replace", bp+"/beat_metadata", "value", nil)}
	case "noop_move":
		return kind, []any{scOp2("move", bp, "from", bp)}
	case "unknown_op":
		return kind, []any{scOp2("increment", "/locked")}
	}
	panic(kind)
}

func scGenDiffCase(rng *rand.Rand, i int) scDiffCase {
	c := scDiffCase{batch: fmt.Sprintf("P%03d", i), expected: 1}
	switch r := rng.Intn(20); {
	case r == 0:
		c.kind = "cold:"
	case r < 6:
		c.versioned = true
		c.expected = 2
		c.tree = scDiffTree(rng, c.batch)
	default:
		c.tree = scDiffTree(rng, c.batch)
	}
	if rng.Intn(12) == 0 {
		c.expected += 1 + rng.Intn(2) // a stale expected version
		c.kind += "stale:"
	}
	target := c.tree
	if target == nil {
		target = storetest.Obj("scene_id", c.batch, "beats", []any{}, "scene_metadata", storetest.Obj())
	}
	var ops []any
	n := 1 + rng.Intn(3)
	if rng.Intn(8) == 0 {
		n = 0
	}
	var kinds []string
	for k := 0; k < n; k++ {
		kind, frag := scGenOps(rng, target, c.batch)
		kinds = append(kinds, kind)
		ops = append(ops, frag...)
	}
	c.kind += strings.Join(kinds, "+")
	if ops == nil {
		ops = []any{}
	}
	b, err := pyjson.Encode(ops, pyjson.Options{Indent: -1})
	if err != nil {
		panic(err)
	}
	c.patch = b
	return c
}

// scCopyTree copies every file under src to dst.
func scCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	storetest.OK(t, err)
}

// TestScenesPatchDecisionsMatchSeed is the patch-decision differential:
// hundreds of scenes and JSON patches (status-only changes, take and board
// edits, structural edits, builder-variant shot keys, failing tests, bad
// pointers, stale versions, cold starts) are applied by the seed's
// save_active_scene_status (the patch applied in its mutate closure by
// testdata/scene_jsonpatch.py) and by PatchStatus; the accept/refuse
// decisions and error classes must be equal, and so must every file the
// two leave on disk.
func TestScenesPatchDecisionsMatchSeed(t *testing.T) {
	scReferenceDir(t)
	n := 400
	if testing.Short() {
		n = 120
	}
	scCheckPatchRun(t, scLivePatchRun(t, n))
}

// scPatchRun is one patch-decision differential: the cases, settle's
// store on goRoot (each batch's files as the seed found them), the seed's
// answers and the seed's files afterwards.
type scPatchRun struct {
	goRoot  string
	cases   []scDiffCase
	res     []map[string]json.RawMessage
	seedAft map[string]string // scSnapshot of the seed's root
	// For the corpus: the files before and the seed's files after.
	before, after map[string][]byte
	pyRoot        string
}

// scLivePatchRun generates n cases, saves their scenes through settle and
// runs the patches through the seed on a copy.
func scLivePatchRun(t *testing.T, n int) scPatchRun {
	t.Helper()
	rng := testenv.Rand(t)
	goRoot, pyRoot := t.TempDir(), t.TempDir()
	s := scOpen(t, goRoot)
	cases := make([]scDiffCase, n)
	for i := range cases {
		c := scGenDiffCase(rng, i)
		cases[i] = c
		if c.tree == nil {
			continue
		}
		sc := storetest.Hydrate(t, c.tree)
		storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref(c.batch), sc))
		if c.versioned {
			v2 := sc.Clone()
			v2.Beats = v2.Beats[:len(v2.Beats)-1]
			v2.SceneMetadata.Set("version", pyjson.Int("2"))
			if _, err := s.WriteCandidate(scCtx, storetest.Ref(c.batch), v2, "diff", true); err != nil {
				t.Fatal(err)
			}
		}
	}
	scCopyTree(t, goRoot, pyRoot)
	before := scFiles(t, goRoot)

	ops := make([]map[string]any, n)
	for i, c := range cases {
		ops[i] = scOp("status", c.batch, "expected_version", c.expected, "patch", json.RawMessage(c.patch))
	}
	res := scRunSeed(t, pyRoot, ops)
	return scPatchRun{goRoot: goRoot, cases: cases, res: res, seedAft: scSnapshot(t, pyRoot),
		before: before, after: scFiles(t, pyRoot), pyRoot: pyRoot}
}

// scCheckPatchRun applies the cases' patches with PatchStatus on goRoot and
// compares decisions, error codes, fingerprints and every file with the
// seed's.
func scCheckPatchRun(t *testing.T, run scPatchRun) {
	t.Helper()
	s := scOpen(t, run.goRoot)
	cases, res, n := run.cases, run.res, len(run.cases)
	byKind := map[string][2]int{}
	accepted := 0
	for i, c := range cases {
		ld, err := s.PatchStatus(scCtx, storetest.Ref(c.batch), c.expected, c.patch)
		got, want := settle.ErrorCode(err), scSeedCode(res[i])
		if got != want {
			t.Errorf("case %d %s (%s, expected v%d): settle %q, seed %q\npatch %s\nsettle: %v\nseed: %s",
				i, c.batch, c.kind, c.expected, got, want, c.patch, err, res[i]["message"])
			continue
		}
		if err == nil {
			accepted++
			if fp := scSeedString(t, res[i], "fingerprint"); fp != ld.Fingerprint {
				t.Errorf("case %d %s (%s): fingerprint settle %s seed %s", i, c.batch, c.kind, ld.Fingerprint, fp)
			}
		}
		for _, part := range strings.FieldsFunc(c.kind, func(r rune) bool { return r == '+' || r == ':' }) {
			k := byKind[part]
			if err == nil {
				k[0]++
			} else {
				k[1]++
			}
			byKind[part] = k
		}
	}
	var summary []string
	for k, v := range byKind {
		summary = append(summary, fmt.Sprintf("%s %d/%d", k, v[0], v[1]))
	}
	sort.Strings(summary)
	t.Logf("accepted/refused by operation kind: %s", strings.Join(summary, ", "))
	for _, k := range scDiffKinds {
		if _, ok := byKind[k]; !ok {
			t.Errorf("operation kind %s never generated", k)
		}
	}
	if accepted < n/5 || accepted > n*4/5 {
		t.Errorf("unbalanced corpus: %d of %d accepted", accepted, n)
	}
	t.Logf("%d cases, %d accepted, %d refused", n, accepted, n-accepted)

	// Every file the two left behind is byte-identical.
	goSnap, pySnap := scSnapshot(t, run.goRoot), run.seedAft
	var diffs []string
	for k, v := range goSnap {
		if pySnap[k] != v {
			diffs = append(diffs, k)
		}
	}
	for k := range pySnap {
		if _, ok := goSnap[k]; !ok {
			diffs = append(diffs, k+" (seed only)")
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Errorf("file differs after the differential: %s", d)
	}
}
