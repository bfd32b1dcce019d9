package writeback_test

// The ledger corpus: differential runs recorded from the Python seed
// (testdata/corpus/ledger.jsonl.gz), replayed through every settle backend
// with no Python, so that every clone checks seed fidelity.
//
// Regenerate it (needs the seed reference) with
//
//	SETTLE_REGEN_CORPUS=1 go test -count=1 -run TestCorpusGenerate ./writeback/
//
// Each line is one JSON document. A run starts with {"run", "seed", "ops"};
// then one line per operation {"run", "i", "op", "answer"}: the operation
// as data (a write-back carries its verdict file's path and bytes) and the
// seed's answer; then {"run", "seed_ledger"}: the durable and registry lines
// the seed's ledger holds at the end. Paths are under "$BASE", the run's
// temporary directory, which the replay substitutes.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

const corpusBase = "$BASE"

var (
	ledgerCorpusPath = filepath.Join("testdata", "corpus", "ledger.jsonl.gz")
	// ledgerCorpusSeeds are the generator seeds of the recorded runs.
	ledgerCorpusSeeds = []uint64{20250101, 20250102, 20250103, 20250104, 20250105}
)

const ledgerCorpusOps = 600

// corpusLine encodes v as one corpus line with base replaced by $BASE.
func corpusLine(t *testing.T, v any, base string) []byte {
	t.Helper()
	b, err := pyjson.Encode(v, pyjson.Options{Indent: -1, EnsureASCII: true})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), base, corpusBase))
}

// opData is an operation as corpus data.
func opData(o op) *pyjson.Object {
	switch o.kind {
	case "writeback":
		w := o.wb
		x := obj("kind", "writeback", "file", w.place.file, "source", w.place.asGiven, "root", w.root,
			"batch", w.batch, "track", w.track, "executor_key", w.execKey)
		if w.expected != nil {
			x.Set("expected", w.expected)
		}
		if utf8.Valid(w.content) {
			x.Set("content", string(w.content))
		} else {
			x.Set("content_b64", base64.StdEncoding.EncodeToString(w.content))
		}
		return x
	case "raw", "goraw":
		return obj("kind", o.kind, "line", o.line)
	case "classify":
		return obj("kind", "classify", "task", o.line)
	case "registry":
		return obj("kind", "registry", "record", registryObjectOf(o.registry))
	case "settle":
		tr := make([]any, len(o.settle.tracks))
		for i, t := range o.settle.tracks {
			tr[i] = []any{t.TrackID, t.TaskID}
		}
		return obj("kind", "settle", "batch", o.settle.batch, "tracks", tr, "this_track", o.settle.this)
	}
	panic("unknown op kind " + o.kind)
}

func getStr(t *testing.T, o *pyjson.Object, key string) string {
	t.Helper()
	s, ok := o.GetString(key)
	if !ok {
		t.Fatalf("corpus: %q is not a string in %s", key, canonicalNoT(o))
	}
	return s
}

// opFromData is the inverse of opData.
func opFromData(t *testing.T, x *pyjson.Object) op {
	t.Helper()
	kind := getStr(t, x, "kind")
	switch kind {
	case "writeback":
		w := &writebackOp{
			place: placement{file: getStr(t, x, "file"), asGiven: getStr(t, x, "source")},
			root:  getStr(t, x, "root"), batch: getStr(t, x, "batch"),
			track: getStr(t, x, "track"), execKey: getStr(t, x, "executor_key"),
		}
		if e, ok := x.GetObject("expected"); ok {
			w.expected = e
		}
		if c, ok := x.GetString("content"); ok {
			w.content = []byte(c)
		} else {
			b, err := base64.StdEncoding.DecodeString(getStr(t, x, "content_b64"))
			if err != nil {
				t.Fatalf("corpus: content_b64: %v", err)
			}
			w.content = b
		}
		return op{kind: kind, wb: w}
	case "raw", "goraw":
		return op{kind: kind, line: getStr(t, x, "line")}
	case "classify":
		return op{kind: kind, line: getStr(t, x, "task")}
	case "registry":
		rec, _ := x.GetObject("record")
		b, err := pyjson.Encode(rec, pyjson.Options{Indent: -1})
		if err != nil {
			t.Fatal(err)
		}
		var r writeback.RegistryRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("corpus: registry record %s: %v", b, err)
		}
		return op{kind: kind, registry: r}
	case "settle":
		s := settleOp{batch: getStr(t, x, "batch"), this: getStr(t, x, "this_track"), tracks: []writeback.TrackTask{}}
		tr, _ := x.Get("tracks")
		for _, p := range tr.([]any) {
			pair := p.([]any)
			s.tracks = append(s.tracks, writeback.TrackTask{TrackID: pair[0].(string), TaskID: pair[1].(string)})
		}
		return op{kind: kind, settle: s}
	}
	t.Fatalf("corpus: unknown op kind %q", kind)
	return op{}
}

// TestCorpusGenerate records the ledger corpus from the seed; it runs only
// with SETTLE_REGEN_CORPUS=1.
func TestCorpusGenerate(t *testing.T) {
	testenv.RegenCorpus(t)
	refdir := referenceDir(t)
	var lines [][]byte
	for k, seed := range ledgerCorpusSeeds {
		run := liveDiffRun(t, refdir, seed, ledgerCorpusOps)
		base := run.env.base
		lines = append(lines, corpusLine(t, obj("run", pyjson.Int(fmt.Sprint(k)), "seed", pyjson.Int(fmt.Sprint(seed)),
			"ops", pyjson.Int(fmt.Sprint(len(run.ops)))), base))
		for i, o := range run.ops {
			lines = append(lines, corpusLine(t, obj("run", pyjson.Int(fmt.Sprint(k)), "i", pyjson.Int(fmt.Sprint(i)),
				"op", opData(o), "answer", run.results[i]), base))
		}
		ledger := make([]any, len(run.seedLedger))
		for i, l := range run.seedLedger {
			ledger[i] = l
		}
		lines = append(lines, corpusLine(t, obj("run", pyjson.Int(fmt.Sprint(k)), "seed_ledger", ledger), base))
	}
	testenv.WriteCorpus(t, ledgerCorpusPath, lines)
}

// corpusRun is one recorded run, its paths still under $BASE.
type corpusRun struct {
	seed    string
	ops     []*pyjson.Object
	answers []*pyjson.Object
	ledger  []string
}

// readLedgerCorpus parses the corpus with $BASE replaced by base(run).
func readLedgerCorpus(t *testing.T, base func(run int) string) []corpusRun {
	t.Helper()
	var runs []corpusRun
	for n, line := range testenv.ReadCorpus(t, ledgerCorpusPath) {
		var k int
		probe := struct {
			Run *int `json:"run"`
		}{Run: &k}
		if err := json.Unmarshal(line, &probe); err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		text := strings.ReplaceAll(string(line), corpusBase, base(k))
		v, err := pyjson.Parse([]byte(text))
		if err != nil {
			t.Fatalf("corpus line %d: %v", n+1, err)
		}
		x := v.(*pyjson.Object)
		if x.Has("seed") && x.Has("ops") {
			if k != len(runs) {
				t.Fatalf("corpus line %d: run %d out of order", n+1, k)
			}
			s, _ := x.Get("seed")
			runs = append(runs, corpusRun{seed: fmt.Sprint(s)})
			continue
		}
		if k != len(runs)-1 {
			t.Fatalf("corpus line %d: run %d out of order", n+1, k)
		}
		r := &runs[k]
		switch {
		case x.Has("op"):
			o, _ := x.GetObject("op")
			a, _ := x.GetObject("answer")
			r.ops = append(r.ops, o)
			r.answers = append(r.answers, a)
		case x.Has("seed_ledger"):
			l, _ := x.Get("seed_ledger")
			for _, s := range l.([]any) {
				r.ledger = append(r.ledger, s.(string))
			}
		default:
			t.Fatalf("corpus line %d: unknown line %s", n+1, text)
		}
	}
	return runs
}

// TestCorpusLedger replays the recorded runs through every settle backend
// (decisions, settle results, registry refusals, error codes and the
// ledger's bytes), with no Python.
func TestCorpusLedger(t *testing.T) {
	envs := map[int]diffEnv{}
	runs := readLedgerCorpus(t, func(k int) string {
		if _, ok := envs[k]; !ok {
			envs[k] = newDiffEnv(t)
		}
		return envs[k].base
	})
	if len(runs) != len(ledgerCorpusSeeds) {
		t.Fatalf("corpus holds %d runs, want %d", len(runs), len(ledgerCorpusSeeds))
	}
	for k, r := range runs {
		t.Run(fmt.Sprintf("run%d-seed%s", k, r.seed), func(t *testing.T) {
			run := diffRun{env: envs[k], results: r.answers, seedLedger: r.ledger}
			for _, x := range r.ops {
				run.ops = append(run.ops, opFromData(t, x))
			}
			writeVerdictFiles(t, run.ops)
			checkDiffRun(t, run, true)
		})
	}
}

// TestCorpusLedgerCoverage: the corpus reaches every classification, both
// applied and refused write-backs, extraction refusals, registry appends
// and refusals, every settle decision and foreign ledger lines, so that a
// regenerated corpus cannot silently cover less.
func TestCorpusLedgerCoverage(t *testing.T) {
	runs := readLedgerCorpus(t, func(int) string { return "/corpus-base" })
	total := map[string]int{}
	for _, r := range runs {
		var ops []op
		for _, x := range r.ops {
			ops = append(ops, opFromData(t, x))
		}
		for k, v := range diffOutcomes(ops, r.answers) {
			total[k] += v
		}
	}
	t.Logf("corpus outcomes: %v", total)
	want := append([]string{
		writeback.DurableSuccessWritten + " appended",
		"registry appended", "registry refused", "raw", "goraw",
		"classify " + writeback.ClassNormalCallbackCompleted, "classify " + writeback.ClassFailed,
		"classify " + writeback.ClassRegistered, "classify " + writeback.ClassUnknown,
		"settle " + writeback.AllSettledConsolidate, "settle " + writeback.RecordAndDefer,
	}, diffRequiredOutcomes...)
	for _, w := range want {
		if total[w] == 0 {
			t.Errorf("the ledger corpus never reaches %q", w)
		}
	}
}
