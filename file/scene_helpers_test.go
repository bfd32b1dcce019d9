package file_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/settlehq/settle/internal/testenv"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scOpen opens a scene store on root and closes it at cleanup.
func scOpen(t testing.TB, root string) *file.Scenes {
	t.Helper()
	s, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("OpenScenes(%s): %v", root, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func scDir(root string) string {
	return filepath.Join(root, "projects", storetest.Project, "orchestration", "scenes")
}

func scPath(root, name string) string { return filepath.Join(scDir(root), name) }

// obj builds a pyjson object from key, value pairs (ints become pyjson.Int).
func scObj(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), scPyv(kv[i+1]))
	}
	return o
}

func scPyv(v any) any {
	switch x := v.(type) {
	case int:
		return pyjson.Int(fmt.Sprint(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scPyv(e)
		}
		return out
	default:
		return v
	}
}

// scTree parses JSON text into an object.
func scTree(t testing.TB, text string) *pyjson.Object {
	t.Helper()
	v, err := pyjson.Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		t.Fatalf("not an object: %q", text)
	}
	return o
}

// scScene hydrates a scene from a tree.
func scScene(t testing.TB, tree *pyjson.Object) *scene.Scene {
	t.Helper()
	sc, err := scene.FromTree(tree)
	if err != nil {
		t.Fatalf("FromTree: %v", err)
	}
	return sc
}

func scEncode(t testing.TB, v any) string {
	t.Helper()
	b, err := pyjson.Encode(v, pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// scGenTree builds a realistic scene: beats with plan shots, structural
// and volatile metadata, takes in every status, receipts and boards.
func scGenTree(rng *rand.Rand, batch string, nBeats int) *pyjson.Object {
	statuses := []string{scene.TakePending, scene.TakeRunning, scene.TakeSucceeded, scene.TakeFailed, scene.TakeStale}
	beats := make([]any, 0, nBeats)
	for i := 0; i < nBeats; i++ {
		id := fmt.Sprintf("SH_%03d", i)
		shot := scObj(
			"shot_id", id,
			"description", fmt.Sprintf("Shot %d: the courier crosses the café ✓ plaza at dusk", i),
			"camera", scObj("move", []string{"dolly", "pan", "static"}[rng.Intn(3)], "lens_mm", 35),
			"duration_s", 4.5,
			"characters", []any{"courier", fmt.Sprintf("extra_%d", rng.Intn(9))},
		)
		if rng.Intn(2) == 0 {
			shot.Set("aspect_ratio", "16:9")
			shot.Set("is_env_only", false)
		}
		md := scObj(
			"scene_id", batch,
			"plan_shot", shot,
			"modality", "t2v",
			"generation_config", scObj("model", "gen-3", "seed", rng.Intn(1_000_000), "steps", 30, "cfg", 6.5),
			"prompt_directive", "keep the palette warm",
			"inputs_fingerprint", fmt.Sprintf("%016x", rng.Uint64()),
		)
		nTakes := rng.Intn(4)
		takes := make([]any, 0, nTakes)
		for k := 0; k < nTakes; k++ {
			st := statuses[rng.Intn(len(statuses))]
			take := scObj(
				"take_id", fmt.Sprintf("%s_t%d", id, k),
				"status", st,
				"created_at", "2026-06-03T10:00:00+00:00",
				"started_at", nil,
				"finished_at", nil,
				"artifact_path", nil,
				"receipt", nil,
				"error", nil,
			)
			if st != scene.TakePending {
				take.Set("started_at", "2026-06-03T10:01:00+00:00")
			}
			if st == scene.TakeSucceeded {
				take.Set("finished_at", "2026-06-03T10:05:00+00:00")
				take.Set("artifact_path", fmt.Sprintf("renders/%s/%s_t%d.mp4", batch, id, k))
				take.Set("receipt", scObj("provider", "gen-3", "job_id", fmt.Sprintf("job-%d", rng.Int63()), "cost_usd", 0.42, "frames", 96))
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
			board = scObj("status", "pending", "decision", nil, "artifact_path", fmt.Sprintf("boards/%s.png", id), "notes", []any{})
		}
		beats = append(beats, scObj(
			"beat_id", id,
			"max_takes", 3,
			"beat_metadata", md,
			"takes", takes,
			"primary_take_id", primary,
			"phantom_recovery_count", 0,
			"board", board,
			"approved", rng.Intn(4) == 0,
		))
	}
	return scObj(
		"scene_id", batch,
		"beats", beats,
		"scene_metadata", scObj("episode", storetest.Episode, "project", storetest.Project, "created_by", "settle-test"),
		"locked", false,
		"lock_reason", nil,
	)
}

func scGen(t testing.TB, rng *rand.Rand, batch string, nBeats int) *scene.Scene {
	t.Helper()
	return scScene(t, scGenTree(rng, batch, nBeats))
}

// scWriteRaw writes a file into the scenes directory without the store.
func scWriteRaw(t testing.TB, root, name, text string) {
	t.Helper()
	if err := os.MkdirAll(scDir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scPath(root, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func scReadRaw(t testing.TB, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(scPath(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scBodyText is the on-disk text of a scene tree (the seed's format).
func scBodyText(t testing.TB, tree *pyjson.Object) string {
	t.Helper()
	b, err := scene.EncodeBodyTree(tree)
	if err != nil {
		t.Fatalf("EncodeBodyTree: %v", err)
	}
	return string(b)
}

// scBodyTextOf is scBodyText for callers without a testing.TB.
func scBodyTextOf(tree *pyjson.Object) string {
	b, err := scene.EncodeBodyTree(tree)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// scSnapshot maps every file under root (relative path) to a hash of its
// mode and content. Lock files, which the seed too creates empty on any
// locked operation, are left out; directories are listed by name.
func scSnapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		if strings.HasSuffix(p, ".versions.lock") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatalf("scSnapshot: %v", err)
	}
	return out
}

// scFiles maps every file under root (relative path) to its content, and
// every directory (relative path and "/") to nil, leaving out lock files
// as scSnapshot does.
func scFiles(t testing.TB, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel+"/"] = nil
			return nil
		}
		if strings.HasSuffix(p, ".versions.lock") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatalf("scFiles: %v", err)
	}
	return out
}

// scWriteFiles writes what scFiles returned under root.
func scWriteFiles(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for rel, b := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func scSameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if w != v {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("refusal wrote to disk: %s", strings.Join(diffs, ", "))
	}
}

func scOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// ---- the Python reference ----

func scRepoRoot(t testing.TB) string {
	t.Helper()
	return testenv.RepoRoot(t)
}

// scReferenceMarker is the seed module the scene tests run.
const scReferenceMarker = "recoil/pipeline/core/persistence.py"

// scReferenceDir locates the runnable seed modules, or skips (see
// testenv.Reference for when it fails instead).
func scReferenceDir(t testing.TB) string {
	t.Helper()
	return testenv.ReferenceDir(t, scReferenceMarker)
}

// scRunSeed runs testdata/scene_ref.py once over ops with REFERENCE_ROOT=root
// and returns one result per op.
func scRunSeed(t testing.TB, root string, ops []map[string]any) []map[string]json.RawMessage {
	t.Helper()
	ref := scReferenceDir(t)
	script, err := filepath.Abs(filepath.Join("testdata", "scene_ref.py"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	in, out := filepath.Join(tmp, "ops.json"), filepath.Join(tmp, "out.json")
	data, err := json.Marshal(ops)
	if err != nil {
		t.Fatalf("marshal ops: %v", err)
	}
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", script, in, out)
	cmd.Dir = ref
	cmd.Env = append(os.Environ(), "REFERENCE_ROOT="+root, "PYTHONDONTWRITEBYTECODE=1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed driver: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("seed output: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("seed returned %d results for %d ops", len(res), len(ops))
	}
	return res
}

// scSeedOK fails the test unless the seed's result i succeeded.
func scSeedOK(t testing.TB, res map[string]json.RawMessage, what string) {
	t.Helper()
	if string(res["ok"]) != "true" {
		t.Fatalf("seed %s failed: %s %s %s", what, res["code"], res["message"], res["trace"])
	}
}

func scSeedCode(res map[string]json.RawMessage) settle.Code {
	if string(res["ok"]) == "true" {
		return ""
	}
	var c string
	_ = json.Unmarshal(res["code"], &c)
	return settle.Code(c)
}

func scSeedString(t testing.TB, res map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(res[key], &s); err != nil {
		t.Fatalf("seed result %s: %v (%s)", key, err, res[key])
	}
	return s
}

func scSeedInt(t testing.TB, res map[string]json.RawMessage, key string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal(res[key], &n); err != nil {
		t.Fatalf("seed result %s: %v (%s)", key, err, res[key])
	}
	return n
}

// canonical re-encodes JSON text (sorted keys, ASCII) for comparison.
func scCanonical(t testing.TB, raw []byte) string {
	t.Helper()
	v, err := pyjson.Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return scEncode(t, v)
}

// scOp is a seed op on the test batch.
func scOp(op, batch string, kv ...any) map[string]any {
	m := map[string]any{"op": op, "project": storetest.Project, "episode": storetest.Episode, "batch": batch}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

var scCtx = context.Background()
