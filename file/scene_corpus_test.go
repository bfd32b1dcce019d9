package file_test

// The file store's scene corpora, recorded from the seed and replayed with
// no Python, so that every clone checks them:
//
//   - testdata/corpus/scene_patch.jsonl.gz: the patch-decision
//     differential, the seed's accept/refuse decisions, error codes and
//     fingerprints, and the bytes it leaves on disk;
//   - testdata/corpus/scene_errors.jsonl.gz: the error-code differential,
//     broken scene files and the code of each load, activation and
//     candidate write on them;
//   - testdata/corpus/scene_init.jsonl.gz: the files the seed's
//     init_scenes_from_plan leaves for scInitPlanText, run twice.
//
// Regenerate it (needs the seed reference) with
//
//	SETTLE_REGEN_CORPUS=1 go test -count=1 -run TestCorpusGenerate ./file/
//
// Patch corpus lines: {"files_before": {path: content, dir/: null}}, the
// scenes directory as the seed found it; one {"case", "answer"} per patch,
// in the order they are applied; {"files_after": ...}, what the seed left.
// File contents are stored as JSON strings (every file is UTF-8 JSON
// text). Error-code corpus lines: {"files": {name: text}}, then one
// {"op", "answer"} per operation. Init corpus: {"plan", "max_takes"}, then
// {"files_after": ...}.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
)

var (
	scPatchCorpusPath  = filepath.Join("testdata", "corpus", "scene_patch.jsonl.gz")
	scErrorsCorpusPath = filepath.Join("testdata", "corpus", "scene_errors.jsonl.gz")
	scInitCorpusPath   = filepath.Join("testdata", "corpus", "scene_init.jsonl.gz")
)

const scPatchCorpusCases = 400

type scCorpusCase struct {
	Batch    string          `json:"batch"`
	Kind     string          `json:"kind"`
	Expected int             `json:"expected"`
	Patch    json.RawMessage `json:"patch"`
}

type scCorpusLine struct {
	FilesBefore map[string]*string         `json:"files_before,omitempty"`
	Case        *scCorpusCase              `json:"case,omitempty"`
	Answer      map[string]json.RawMessage `json:"answer,omitempty"`
	FilesAfter  map[string]*string         `json:"files_after,omitempty"`
}

func scFilesData(t *testing.T, files map[string][]byte) map[string]*string {
	t.Helper()
	out := make(map[string]*string, len(files))
	for k, b := range files {
		if b == nil {
			out[k] = nil
			continue
		}
		if !utf8.Valid(b) {
			t.Fatalf("corpus: %s is not UTF-8", k)
		}
		s := string(b)
		out[k] = &s
	}
	return out
}

func scFilesFromData(files map[string]*string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, s := range files {
		if s == nil {
			out[k] = nil
		} else {
			out[k] = []byte(*s)
		}
	}
	return out
}

// TestCorpusGenerate records the patch corpus from the seed; it runs only
// with SETTLE_REGEN_CORPUS=1.
func TestCorpusGenerate(t *testing.T) {
	testenv.RegenCorpus(t)
	scReferenceDir(t)
	run := scLivePatchRun(t, scPatchCorpusCases)
	scCheckPatchRun(t, run) // the store the corpus is recorded from agrees
	var lines [][]byte
	add := func(l scCorpusLine) {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, []byte(strings.ReplaceAll(string(b), run.pyRoot, "$ROOT")))
	}
	add(scCorpusLine{FilesBefore: scFilesData(t, run.before)})
	for i, c := range run.cases {
		add(scCorpusLine{Case: &scCorpusCase{Batch: c.batch, Kind: c.kind, Expected: c.expected, Patch: c.patch}, Answer: run.res[i]})
	}
	add(scCorpusLine{FilesAfter: scFilesData(t, run.after)})
	testenv.WriteCorpus(t, scPatchCorpusPath, lines)

	root := t.TempDir()
	files, ops := scErrorCodeCases(t)
	for name, text := range files {
		scWriteRaw(t, root, name, text)
	}
	res := scRunSeed(t, root, ops)
	scCheckErrorCodes(t, scOpen(t, root), ops, res)
	lines = nil
	for i, l := range append([]any{map[string]any{"files": files}}, make([]any, len(ops))...) {
		if i > 0 {
			l = map[string]any{"op": ops[i-1], "answer": res[i-1]}
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, []byte(strings.ReplaceAll(string(b), root, "$ROOT")))
	}
	testenv.WriteCorpus(t, scErrorsCorpusPath, lines)

	initRoot := t.TempDir()
	scSeedInitFromPlanTwice(t, initRoot)
	lines = nil
	for _, l := range []any{
		map[string]any{"plan": scInitPlanText, "max_takes": scInitMaxTakes},
		scCorpusLine{FilesAfter: scFilesData(t, scFiles(t, initRoot))},
	} {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	testenv.WriteCorpus(t, scInitCorpusPath, lines)
}

// TestCorpusSceneInitFromPlan: settle's InitFromPlan, run twice (create,
// then re-stamp), leaves the files the seed's init_scenes_from_plan left,
// byte for byte.
func TestCorpusSceneInitFromPlan(t *testing.T) {
	lines := testenv.ReadCorpus(t, scInitCorpusPath)
	if len(lines) != 2 {
		t.Fatalf("corpus %s: %d lines, want 2", scInitCorpusPath, len(lines))
	}
	var head struct {
		Plan     string `json:"plan"`
		MaxTakes []int  `json:"max_takes"`
	}
	var tail scCorpusLine
	if err := json.Unmarshal(lines[0], &head); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &tail); err != nil || tail.FilesAfter == nil {
		t.Fatalf("corpus %s: files_after: %v", scInitCorpusPath, err)
	}
	if head.Plan != scInitPlanText || fmt.Sprint(head.MaxTakes) != fmt.Sprint(scInitMaxTakes) {
		t.Fatalf("corpus %s records another plan or max_takes than scInitPlanText %v: regenerate it", scInitCorpusPath, scInitMaxTakes)
	}
	root := t.TempDir()
	scInitFromPlanTwice(t, root)
	got, want := scSnapshot(t, root), scSnapshotOf(scFilesFromData(tail.FilesAfter))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("init files differ:\nsettle %v\nseed   %v", got, want)
		for name, h := range got {
			if h != want[name] && !strings.HasSuffix(name, "/") {
				b, _ := os.ReadFile(filepath.Join(root, name))
				seed := tail.FilesAfter[name]
				if seed == nil {
					seed = new(string)
				}
				t.Logf("%s\nsettle:\n%s\nseed:\n%s", name, b, *seed)
			}
		}
	}
	t.Logf("%d files and directories equal", len(got))
}

// scReadErrorsCorpus returns the recorded files, operations and answers.
func scReadErrorsCorpus(t *testing.T) (map[string]string, []map[string]any, []map[string]json.RawMessage) {
	t.Helper()
	var files map[string]string
	var ops []map[string]any
	var res []map[string]json.RawMessage
	for n, raw := range testenv.ReadCorpus(t, scErrorsCorpusPath) {
		var l struct {
			Files  map[string]string          `json:"files"`
			Op     map[string]json.RawMessage `json:"op"`
			Answer map[string]json.RawMessage `json:"answer"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		if l.Files != nil {
			files = l.Files
			continue
		}
		op := map[string]any{}
		for k, v := range l.Op {
			var err error
			switch k {
			case "version":
				var n int
				err = json.Unmarshal(v, &n)
				op[k] = n
			case "activate":
				var b bool
				err = json.Unmarshal(v, &b)
				op[k] = b
			case "scene":
				var x any
				x, err = pyjson.Parse(v)
				op[k] = x
				if _, ok := x.(*pyjson.Object); !ok && err == nil {
					t.Fatalf("corpus line %d: scene is not an object", n+1)
				}
			default:
				var s string
				err = json.Unmarshal(v, &s)
				op[k] = s
			}
			if err != nil {
				t.Fatalf("corpus line %d: %s: %v", n+1, k, err)
			}
		}
		ops = append(ops, op)
		res = append(res, l.Answer)
	}
	if files == nil || len(ops) == 0 {
		t.Fatalf("corpus %s: no files or no operations", scErrorsCorpusPath)
	}
	return files, ops, res
}

// TestCorpusSceneErrorCodes replays the recorded error-code cases: every
// load, activation and candidate write refused (or accepted) with the
// seed's code.
func TestCorpusSceneErrorCodes(t *testing.T) {
	root := t.TempDir()
	files, ops, res := scReadErrorsCorpus(t)
	for name, text := range files {
		scWriteRaw(t, root, name, text)
	}
	scCheckErrorCodes(t, scOpen(t, root), ops, res)
	codes := map[settle.Code]int{}
	for _, r := range res {
		codes[scSeedCode(r)]++
	}
	t.Logf("%d operations; seed codes %v", len(ops), codes)
	for _, c := range []settle.Code{"", settle.SchemaMismatch, settle.Corrupt, settle.ManifestIdentity, settle.IdentityMismatch,
		settle.UnsafeArtifact, settle.NotFound, settle.InvalidEpisode} {
		if codes[c] == 0 {
			t.Errorf("the error-code corpus never reaches code %q", c)
		}
	}
}

// scReadPatchCorpus returns the recorded run with its files written under
// a fresh root.
func scReadPatchCorpus(t *testing.T) scPatchRun {
	t.Helper()
	run := scPatchRun{goRoot: t.TempDir()}
	for n, raw := range testenv.ReadCorpus(t, scPatchCorpusPath) {
		var l scCorpusLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		switch {
		case l.FilesBefore != nil:
			run.before = scFilesFromData(l.FilesBefore)
		case l.Case != nil:
			c := l.Case
			run.cases = append(run.cases, scDiffCase{batch: c.Batch, kind: c.Kind, expected: c.Expected, patch: c.Patch})
			run.res = append(run.res, l.Answer)
		case l.FilesAfter != nil:
			run.after = scFilesFromData(l.FilesAfter)
		default:
			t.Fatalf("corpus line %d: unknown line", n+1)
		}
	}
	if run.before == nil || run.after == nil || len(run.cases) != scPatchCorpusCases {
		t.Fatalf("corpus: %d cases, files before %v, after %v", len(run.cases), run.before != nil, run.after != nil)
	}
	scWriteFiles(t, run.goRoot, run.before)
	run.seedAft = scSnapshotOf(run.after)
	return run
}

// TestCorpusScenePatch replays the recorded patches through PatchStatus:
// decisions, error codes, fingerprints, and every file afterwards
// byte-identical to the seed's.
func TestCorpusScenePatch(t *testing.T) {
	scCheckPatchRun(t, scReadPatchCorpus(t))
}

// TestCorpusScenePatchCoverage: the recorded patches are accepted and
// refused with every code the seed's status save can give, so that a
// regenerated corpus cannot silently cover less.
func TestCorpusScenePatchCoverage(t *testing.T) {
	run := scReadPatchCorpus(t)
	codes := map[settle.Code]int{}
	for _, r := range run.res {
		codes[scSeedCode(r)]++
	}
	var got []string
	for c, n := range codes {
		got = append(got, string(c)+"="+itoa(n))
	}
	sort.Strings(got)
	t.Logf("seed codes: %s", strings.Join(got, " "))
	for _, c := range []settle.Code{"", settle.StructureImmutable, settle.VersionConflict, settle.InvalidInput} {
		if codes[c] == 0 {
			t.Errorf("the patch corpus never reaches code %q", c)
		}
	}
}
