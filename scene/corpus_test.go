package scene_test

// The scene corpus: the differential's cases recorded with the seed's
// answers (testdata/corpus/scene.jsonl.gz), replayed with no Python, so
// that every clone checks seed fidelity: structure fingerprints of bodies
// (model and raw), save_scene's bytes, decode refusals, structural
// mutations and the writer-1 overlay, manifests (bytes and refusals),
// episode tokens and isoformat.
//
// Regenerate it (needs the seed reference) with
//
//	SETTLE_REGEN_CORPUS=1 go test -count=1 -run TestCorpusGenerate ./scene/
//
// Each line is one case: {"kind", the case's fields, "answer": the seed's
// answer, "output": the file the seed wrote, if any}. Byte strings that are
// not UTF-8 are stored base64 under a "_b64" key. Paths in answers are
// under "$ROOT", the run's directory.

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
)

const corpusRoot = "$ROOT"

var sceneCorpusPath = filepath.Join("testdata", "corpus", "scene.jsonl.gz")

func setBytes(o *pyjson.Object, key string, b []byte) {
	if utf8.Valid(b) {
		o.Set(key, string(b))
	} else {
		o.Set(key+"_b64", base64.StdEncoding.EncodeToString(b))
	}
}

func getBytes(t *testing.T, o *pyjson.Object, key string) ([]byte, bool) {
	t.Helper()
	if s, ok := o.GetString(key); ok {
		return []byte(s), true
	}
	s, ok := o.GetString(key + "_b64")
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("corpus: %s_b64: %v", key, err)
	}
	return b, true
}

func pyInt(n int64) pyjson.Int { return pyjson.Int(fmt.Sprint(n)) }

// caseData is a case as corpus data.
func caseData(c sceneCase) *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("kind", c.kind)
	switch c.kind {
	case "fp":
		setBytes(o, "data", c.data)
		o.Set("extras", c.extras)
		o.Set("well_typed", c.wellTyped)
	case "mut":
		setBytes(o, "disk", c.data)
		setBytes(o, "rebuild", c.data2)
	case "manifest":
		o.Set("batch", c.batch)
		setBytes(o, "data", c.data)
		o.Set("code", string(c.code))
	case "ep":
		o.Set("token", c.token)
	case "iso":
		o.Set("sec", pyInt(c.sec))
		o.Set("us", pyInt(int64(c.us)))
		o.Set("ix", pyInt(int64(c.ix)))
	}
	return o
}

func corpusInt(t *testing.T, o *pyjson.Object, key string) int64 {
	t.Helper()
	v, _ := o.Get(key)
	n, ok := v.(pyjson.Int)
	if !ok {
		t.Fatalf("corpus: %q is not an int", key)
	}
	var x int64
	if _, err := fmt.Sscan(string(n), &x); err != nil {
		t.Fatalf("corpus: %q: %v", key, err)
	}
	return x
}

// caseFromData is the inverse of caseData.
func caseFromData(t *testing.T, o *pyjson.Object) sceneCase {
	t.Helper()
	kind, _ := o.GetString("kind")
	c := sceneCase{kind: kind}
	flag := func(key string) bool { v, _ := o.Get(key); return v == true }
	need := func(key string) []byte {
		b, ok := getBytes(t, o, key)
		if !ok {
			t.Fatalf("corpus: %s case without %q", kind, key)
		}
		return b
	}
	switch kind {
	case "fp":
		c.data, c.extras, c.wellTyped = need("data"), flag("extras"), flag("well_typed")
	case "mut":
		c.data, c.data2 = need("disk"), need("rebuild")
	case "manifest":
		c.batch, _ = o.GetString("batch")
		c.data = need("data")
		code, _ := o.GetString("code")
		c.code = settle.Code(code)
	case "ep":
		c.token = string(need("token"))
	case "iso":
		c.sec, c.us, c.ix = corpusInt(t, o, "sec"), int(corpusInt(t, o, "us")), int(corpusInt(t, o, "ix"))
	default:
		t.Fatalf("corpus: unknown case kind %q", kind)
	}
	return c
}

// TestCorpusGenerate records the scene corpus from the seed; it runs only
// with SETTLE_REGEN_CORPUS=1.
func TestCorpusGenerate(t *testing.T) {
	testenv.RegenCorpus(t)
	referenceDir(t)
	root := scratchDir(t)
	cases := genSceneCases(t, newGen(20260602))
	stats := map[string]int{}
	answers := runOracle(t, root, sceneJobs(t, root, cases, stats))
	checkSceneStats(t, stats, 1000)
	counts := map[string]int{}
	var lines [][]byte
	for k, c := range cases {
		i := counts[c.kind]
		counts[c.kind]++
		if !inSceneCorpus(c.kind, i) {
			continue
		}
		o := caseData(c)
		o.Set("answer", answers[k])
		if out := sceneOutput(root, c.kind, i); out != "" {
			if b, err := os.ReadFile(out); err == nil {
				setBytes(o, "output", b)
			} else if !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		b, err := pyjson.Encode(o, pyjson.Options{Indent: -1, EnsureASCII: true})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, []byte(strings.ReplaceAll(string(b), root, corpusRoot)))
	}
	testenv.WriteCorpus(t, sceneCorpusPath, lines)
}

// inSceneCorpus keeps the corpus small (a few MB): a quarter of the
// well-typed bodies (with and without save), half of the odd ones, every
// corrupt, truncated and bit-flipped one; a quarter of the pairs from
// well-typed bodies, half of those from odd ones (both shapes); every
// manifest, token and time. The indices follow genSceneCases.
func inSceneCorpus(kind string, i int) bool {
	switch kind {
	case "fp":
		switch {
		case i < 1200:
			return i%8 < 2
		case i < 1500:
			return i%2 == 0
		}
	case "mut":
		switch {
		case i < 700:
			return i%4 == 0
		default:
			return (i/2)%2 == 0
		}
	}
	return true
}

// sceneCorpusMinModel is how many model fingerprints the corpus compares at
// least.
const sceneCorpusMinModel = 250

// readSceneCorpus returns the recorded cases, answers and outputs (nil
// when the seed wrote none), with $ROOT replaced by root.
func readSceneCorpus(t *testing.T, root string) ([]sceneCase, []*pyjson.Object, [][]byte) {
	t.Helper()
	var cases []sceneCase
	var answers []*pyjson.Object
	var outputs [][]byte
	for n, line := range testenv.ReadCorpus(t, sceneCorpusPath) {
		v, err := pyjson.Parse([]byte(strings.ReplaceAll(string(line), corpusRoot, root)))
		if err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		o, ok := v.(*pyjson.Object)
		if !ok {
			t.Fatalf("corpus line %d: not an object", n+1)
		}
		a, ok := o.GetObject("answer")
		if !ok {
			t.Fatalf("corpus line %d: no answer", n+1)
		}
		out, _ := getBytes(t, o, "output")
		cases = append(cases, caseFromData(t, o))
		answers = append(answers, a)
		outputs = append(outputs, out)
	}
	return cases, answers, outputs
}

// TestCorpusScene replays the recorded cases with the differential's own
// checks, the seed's answers and written files taken from the corpus.
func TestCorpusScene(t *testing.T) {
	cases, counts, stats := replaySceneCorpus(t)
	t.Logf("%d cases: %v", len(cases), counts)
	checkSceneStats(t, stats, sceneCorpusMinModel)
}

// replaySceneCorpus replays the recorded cases with the differential's own
// checks and returns them, their count by kind and the differential's
// stats.
func replaySceneCorpus(t *testing.T) (cases []sceneCase, counts, stats map[string]int) {
	t.Helper()
	root := scratchDir(t)
	cases, answers, outputs := readSceneCorpus(t, root)
	stats = map[string]int{}
	jobs := sceneJobs(t, root, cases, stats)
	counts = map[string]int{}
	for k, c := range cases {
		i := counts[c.kind]
		counts[c.kind]++
		if outputs[k] != nil {
			if err := os.WriteFile(sceneOutput(root, c.kind, i), outputs[k], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		jobs[k].check(t, answers[k])
	}
	return cases, counts, stats
}

// TestCorpusSceneCoverage: the corpus reaches every decode, manifest and
// overlay outcome the differential knows, every error code a scene body,
// a manifest or an episode token can get, and the tricky encodings
// (non-ASCII, big integers, floats, NaN and Infinity, nested takes), so
// that a regenerated corpus cannot silently cover less.
func TestCorpusSceneCoverage(t *testing.T) {
	cases, counts, stats := replaySceneCorpus(t)
	codes := map[settle.Code]int{}
	enc := map[string]int{}
	for _, c := range cases {
		if c.kind == "manifest" {
			codes[c.code]++
		}
		for _, b := range [][]byte{c.data, c.data2} {
			s := string(b)
			for name, probe := range map[string]func(string) bool{
				"non-ASCII escaped": func(s string) bool { return strings.Contains(s, `\u`) },
				"non-ASCII raw": func(s string) bool {
					for _, r := range s {
						if r > 127 {
							return true
						}
					}
					return false
				},
				"NaN":            func(s string) bool { return strings.Contains(s, "NaN") },
				"Infinity":       func(s string) bool { return strings.Contains(s, "Infinity") },
				"float exponent": func(s string) bool { return strings.ContainsAny(s, "eE") && strings.ContainsAny(s, "0123456789") },
				"big integer":    func(s string) bool { return strings.Contains(s, "99999999999999999999") },
				"nested takes":   func(s string) bool { return strings.Contains(s, `"takes"`) && strings.Contains(s, `"beats"`) },
				"invalid UTF-8":  func(s string) bool { return !utf8.ValidString(s) },
				"lone surrogate": func(s string) bool { return strings.Contains(s, `\ud800`) || strings.Contains(s, "\xed\xa0\x80") },
			} {
				if probe(s) {
					enc[name]++
				}
			}
		}
	}
	// Error codes from the bodies and tokens, by the Go side's decision.
	for k := range stats {
		switch {
		case strings.Contains(k, "SchemaMismatch"):
			codes[settle.SchemaMismatch]++
		case strings.Contains(k, "Corrupt"):
			codes[settle.Corrupt]++
		case k == "episode both refuse":
			codes[settle.InvalidEpisode]++
		case strings.HasPrefix(k, "overlay both raise "):
			codes[settle.Code(strings.TrimPrefix(k, "overlay both raise "))]++
		}
	}
	t.Logf("cases %v; codes %v; encodings %v", counts, codes, enc)
	for _, kind := range []string{"fp", "mut", "manifest", "ep", "iso"} {
		if counts[kind] == 0 {
			t.Errorf("the scene corpus has no %s case", kind)
		}
	}
	for _, code := range []settle.Code{"", settle.SchemaMismatch, settle.Corrupt, settle.ManifestIdentity, settle.InvalidEpisode, settle.StructureImmutable} {
		if codes[code] == 0 {
			t.Errorf("the scene corpus never reaches error code %q", code)
		}
	}
	for _, name := range []string{"non-ASCII escaped", "non-ASCII raw", "NaN", "Infinity", "float exponent", "big integer", "nested takes", "invalid UTF-8", "lone surrogate"} {
		if enc[name] == 0 {
			t.Errorf("the scene corpus has no case with %s", name)
		}
	}
	for _, k := range []string{"save bytes equal", "decode Corrupt shape, seed hydrates (documented)", "overlay null metadata repaired (documented)",
		"mutations both raise", "manifest SchemaMismatch both", "manifest identity both", "manifest Corrupt both", "isoformat equal"} {
		if stats[k] == 0 {
			t.Errorf("the scene corpus never reaches %q", k)
		}
	}
}
