package file_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scOpen opens a scene store on root and closes it at cleanup.
func scOpen(t testing.TB, root string) *file.Scenes {
	t.Helper()
	return scOpenWith(t, file.SceneOptions{Root: root})
}

// scOpenWith opens a scene store with opts (logging nothing unless
// opts.Logger is set) and closes it at cleanup.
func scOpenWith(t testing.TB, opts file.SceneOptions) *file.Scenes {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := file.OpenScenes(opts)
	if err != nil {
		t.Fatalf("OpenScenes(%s): %v", opts.Root, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func scDir(root string) string {
	return filepath.Join(root, "projects", storetest.Project, "orchestration", "scenes")
}

func scPath(root, name string) string { return filepath.Join(scDir(root), name) }

func scEncode(t testing.TB, v any) string {
	t.Helper()
	b, err := pyjson.Encode(v, pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// scGenTree is storetest.GenTree without its unknown top-level member:
// the seed drops unknown members where settle keeps them, and these trees
// are compared with the seed's files.
func scGenTree(rng *rand.Rand, batch string, nBeats int) *pyjson.Object {
	tree := storetest.GenTree(rng, batch, nBeats)
	tree.Delete("x_unknown_field")
	return tree
}

func scGen(t testing.TB, rng *rand.Rand, batch string, nBeats int) *scene.Scene {
	t.Helper()
	return storetest.Hydrate(t, scGenTree(rng, batch, nBeats))
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
// content, and every directory (relative path and "/") to "dir". Lock
// files, which the seed too creates empty on any locked operation, are
// left out.
func scSnapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	return scSnapshotOf(scFiles(t, root))
}

// scSnapshotOf is scSnapshot of a root holding files.
func scSnapshotOf(files map[string][]byte) map[string]string {
	out := make(map[string]string, len(files))
	for k, b := range files {
		if strings.HasSuffix(k, "/") {
			out[k] = "dir"
			continue
		}
		h := sha256.Sum256(b)
		out[k] = hex.EncodeToString(h[:])
	}
	return out
}

// scFiles maps every file under root (relative path) to its content, and
// every directory (relative path and "/") to nil, leaving out lock files.
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

// ---- the Python reference ----

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

// scSeedValue decodes a seed result's member key.
func scSeedValue[T any](t testing.TB, res map[string]json.RawMessage, key string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res[key], &v); err != nil {
		t.Fatalf("seed result %s: %v (%s)", key, err, res[key])
	}
	return v
}

var (
	scSeedString = scSeedValue[string]
	scSeedInt    = scSeedValue[int]
)

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
