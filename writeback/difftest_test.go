package writeback_test

// The differential test: a few hundred random write-back operations run
// through the Python seed (testdata/seed_driver.py, one process) and
// through settle (writeback.Extract + a store), then the decisions, the
// settle results and the ledgers are compared.
//
// Environment:
//
//	SETTLE_TEST_SEED   replays the random seed a run logged
//	SETTLE_DIFF_OPS    number of operations (default 600)
//	SETTLE_REFERENCE_DIR  the reference modules (default: see internal/testenv)
//
// Without the reference this test skips; TestCorpusLedger replays the runs
// recorded in testdata/corpus (see corpus_test.go).
//
// Generated strings avoid U+0085, U+2028 and U+2029: the seed's readers
// split ledger lines on them (str.splitlines), a seed defect settle fixes by
// escaping them, so bytes would legitimately differ. They avoid lone
// surrogates too (the seed crashes writing them). Valid JSON lines that are
// not objects ([1,2]) go to settle's ledger only: the seed crashes on them.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

const (
	key1 = "anu0000000000001"
	key2 = "anu0000000000002"
	// seedChatID is the seed's hard-coded fallback chat id.
	seedChatID = "6937032012"
)

var diffConfig = writeback.Config{CollectorKeys: []string{key2, key1}, DefaultChatID: seedChatID}

// diffBackend is settle under test.
type diffBackend interface {
	Writeback(req writeback.WritebackRequest) (writeback.Decision, error)
	AppendRegistry(rec writeback.RegistryRecord) error
	Settle(batch string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleResult, error)
	Classify(task string) (string, error)
	// AppendRaw writes a line into the ledger file behind the store's back.
	AppendRaw(line string) error
	LedgerPath() string
	Close() error
}

// memBackend drives writeback.Evaluate over a MemView and appends the
// lines itself, as a store does.
type memBackend struct {
	path string
	view *writeback.MemView
	seq  int64
}

func newMemBackend(path string) (diffBackend, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return &memBackend{path: path, view: writeback.NewMemView()}, nil
}

func (m *memBackend) LedgerPath() string { return m.path }
func (m *memBackend) Close() error       { return nil }

func (m *memBackend) appendLines(lines ...[]byte) error {
	f, err := os.OpenFile(m.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.Write(l); err != nil {
			return err
		}
		if rec, ok := writeback.DecodeLine(bytes.TrimSuffix(l, []byte("\n"))); ok {
			rec.Seq = m.seq
			m.view.Add(rec)
		}
		m.seq++
	}
	return nil
}

func (m *memBackend) AppendRaw(line string) error { return m.appendLines([]byte(line + "\n")) }

func (m *memBackend) Writeback(req writeback.WritebackRequest) (writeback.Decision, error) {
	d := writeback.Evaluate(req, diffConfig, m.view)
	if !writeback.ShouldApply(&d) {
		writeback.MarkNotApplied(&d)
		if !d.OK() {
			c := writeback.NewConflict(d, req.Binding, d.Reasons, time.Now())
			if !m.view.HasConflict(c.ConflictID) {
				line, err := writeback.EncodeLine(&c)
				if err != nil {
					return d, err
				}
				if err := m.appendLines(line); err != nil {
					return d, err
				}
			}
		}
		return d, nil
	}
	line, err := writeback.EncodeLine(d.DurableRecord)
	if err != nil {
		return d, err
	}
	lines := [][]byte{line}
	mirror, problems := writeback.MirrorRecord(d.DurableRecord, diffConfig)
	if len(problems) == 0 {
		ml, err := writeback.EncodeLine(&mirror)
		if err != nil {
			return d, err
		}
		lines = append(lines, ml)
	}
	if err := m.appendLines(lines...); err != nil {
		return d, err
	}
	writeback.MarkApplied(&d, problems)
	return d, nil
}

func (m *memBackend) AppendRegistry(rec writeback.RegistryRecord) error {
	if errs := writeback.ValidateRegistry(rec); len(errs) > 0 {
		return settle.Errorf(settle.InvalidInput, "invalid registry record: %s", strings.Join(errs, "; "))
	}
	line, err := writeback.EncodeLine(&rec)
	if err != nil {
		return err
	}
	return m.appendLines(line)
}

func (m *memBackend) Settle(batch string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleResult, error) {
	return writeback.Settle(batch, tracks, thisTrack, m.view.LatestFunc(batch)), nil
}

func (m *memBackend) Classify(task string) (string, error) {
	return writeback.Classify(m.view.RegistryHistory(task)), nil
}

// diffBackends are the settle implementations the differential test runs;
// a store package adds itself from its own _test file in this package.
var diffBackends = map[string]func(root, ledger string) (diffBackend, error){
	"mem": func(_, ledger string) (diffBackend, error) { return newMemBackend(ledger) },
}

// ---- environment --------------------------------------------------------

type diffEnv struct {
	base, root, outside string
}

func newDiffEnv(t *testing.T) diffEnv {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := diffEnv{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{filepath.Join(e.root, "verdicts"), filepath.Join(e.root, "sub", "deeper"), e.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(e.root, "link"):      "../outside",
		filepath.Join(e.outside, "inlink"): "../root/verdicts",
		filepath.Join(base, "rootlink"):    "root",
	}
	for at, to := range links {
		if err := os.Symlink(to, at); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// ---- the generator ------------------------------------------------------

type gen struct {
	r   *rand.Rand
	env diffEnv
	n   int // verdict files written
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// setEither sets key to v in a with probability p, else in b.
func (g *gen) setEither(p float64, a, b *pyjson.Object, key string, v any) {
	if g.chance(p) {
		a.Set(key, v)
	} else {
		b.Set(key, v)
	}
}

func pick[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

var (
	tasks  = []string{"task-1", "task-2", "task-3", "task-4"}
	tracks = []string{"T1", "T2", "T3"}
)

func (g *gen) taskValue(task string) any {
	switch g.r.IntN(16) {
	case 0:
		return "  " + task + " (TRACK 1 — 수집기)"
	case 1:
		return task + "\tmore words"
	case 2:
		return task + "(paren)"
	case 3:
		return "\u3000" + task + "\u00a0"
	case 4:
		return pick[any](g, "", "   ", "(x) "+task, pyjson.Int("5"), nil, true, []any{task})
	case 5:
		return task + " \u00a0tail"
	default:
		return task
	}
}

func (g *gen) keyValue(k string) any {
	switch g.r.IntN(14) {
	case 0:
		return k + " (self-chain, 영구 비권위)"
	case 1:
		return "  " + k + "   extra"
	case 2:
		return pick[any](g, "", "  ", nil, pyjson.Int("7"))
	case 3:
		if g.chance(0.3) {
			return "(x) " + k // the seed's IndexError
		}
		return k + "(x)"
	default:
		return k
	}
}

func (g *gen) falsy() any {
	return pick[any](g, false, nil, pyjson.Int("0"), 0.0, math.Copysign(0, -1), "", []any{}, pyjson.NewObject())
}

func (g *gen) truthy() any {
	return pick[any](g, true, pyjson.Int("1"), 2.5, "no", []any{nil}, math.NaN())
}

// verdict generates a verdict file object: mostly a plausible independent
// collector verdict with perturbations, sometimes chaos.
func (g *gen) verdict() *pyjson.Object {
	if g.chance(0.45) {
		return g.cleanVerdict()
	}
	o := pyjson.NewObject()
	four := pyjson.NewObject()
	task := pick(g, tasks...)
	ti := strings.TrimPrefix(task, "task-")

	if g.chance(0.9) {
		if g.chance(0.7) {
			o.Set("task_id", g.taskValue(task))
		} else {
			o.Set("task", g.taskValue(task))
		}
		if g.chance(0.15) {
			o.Set("task_id", pick[any](g, "", "  ", nil, pyjson.Int("3")))
			o.Set("task", task)
		}
	}
	if g.chance(0.8) {
		tk := pick[any](g, "T"+ti, "T"+ti, " T"+ti+" ", pick(g, tracks...), "", nil, pyjson.Int("1"))
		o.Set(pick(g, "track", "track_id"), tk)
		if g.chance(0.1) {
			o.Set("track_id", pick(g, tracks...))
		}
	}
	vd := pick[any](g, "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "PASS", "ACCEPTED",
		"AUTHORITATIVE_PASS", " PASS ", "FAIL", "authoritative_pass", "", nil, pyjson.Int("1"))
	if g.chance(0.75) {
		o.Set("authoritative_verdict", vd)
	} else {
		o.Set("verdict", vd)
	}
	if g.chance(0.1) {
		o.Set("authoritative_verdict", pick[any](g, "", nil))
		o.Set("verdict", "PASS")
	}

	// Collector key: four, collector_owner_key, collector_key, or none.
	key := pick(g, key1, key1, key2, key2, "rogue000000000009", "exec000000000001")
	switch g.r.IntN(6) {
	case 0:
		four.Set("collector_key", g.keyValue(key))
	case 1:
		o.Set("collector_owner_key", g.keyValue(key))
	case 2, 3:
		o.Set("collector_key", g.keyValue(key))
	case 4:
		four.Set("collector_key", pick[any](g, "", nil))
		o.Set("collector_key", g.keyValue(key))
	case 5: // none: the configured-key fallback may apply
	}
	if g.chance(0.7) {
		role := pick[any](g, "ANU", "ANU", "ANU", " ANU ", "EXECUTOR", "anu", "", nil)
		g.setEither(0.2, four, o, "collector_role", role)
	}
	switch g.r.IntN(10) {
	case 0, 1:
		o.Set("executor_self_collector", g.falsy())
	case 2:
		o.Set("executor_self_collector", g.truthy())
	}
	if g.chance(0.06) {
		o.Set("session_is_executor_self", pick[any](g, g.truthy(), g.falsy()))
	}
	if g.chance(0.06) {
		o.Set("executor_self_chain_authoritative", pick[any](g, g.truthy(), g.falsy()))
	}
	if g.chance(0.5) {
		ek := pick(g, "exec000000000001", "exec000000000001", key1, key2, "exec000000000002 (self)", "", "(x) exec")
		g.setEither(0.3, four, o, "executor_key", ek)
	}
	if g.chance(0.6) {
		chat := pick[any](g, seedChatID, seedChatID, seedChatID, "chat-other", " "+seedChatID, "", nil)
		switch g.r.IntN(3) {
		case 0:
			four.Set("chat_id", chat)
		case 1:
			o.Set("chat_id", chat)
		default:
			bci := pyjson.NewObject()
			bci.Set("chat_id", chat)
			bci.Set("batch", "B1")
			o.Set("batch_coordinator_integration", bci)
		}
	}
	if g.chance(0.6) {
		d := pick(g, "disp-"+ti+"-a", "disp-"+ti+"-a", "disp-"+ti+"-b", "", "  ")
		f := pick(g, "four.dispatch_cron_id", "four.dispatch_id", "dispatch_cron_id", "dispatch_id")
		if strings.HasPrefix(f, "four.") {
			four.Set(strings.TrimPrefix(f, "four."), d)
		} else {
			o.Set(f, d)
		}
	}
	if g.chance(0.4) {
		n := pick[any](g, "ncc-a", "ncc-a", "ncc-b", "", nil)
		g.setEither(0.5, four, o, "normal_collector_cron_id", n)
	}
	if g.chance(0.3) {
		fb := pick[any](g, "fb-1", "fb-2", "", nil, "  ")
		g.setEither(0.5, four, o, "fallback_callback_cron_id", fb)
	}
	if g.chance(0.85) {
		ts := pick[any](g, "2025-01-01T00:00:00+09:00", "2025-01-02T03:04:05+09:00", " 2025-01-03 ", "", nil)
		switch g.r.IntN(4) {
		case 0:
			four.Set("ts_kst", ts)
		case 1:
			o.Set("completed_at", ts)
		default:
			o.Set("ts_kst", ts)
		}
	}
	if g.chance(0.3) {
		extra := pyjson.NewObject()
		extra.Set("nested", []any{pyjson.Int("1"), 2.5, nil, "é"})
		o.Set("unknown_"+strconv.Itoa(g.r.IntN(3)), extra)
		o.Set("notes", "free text: 독립 ANU collector \"quoted\" \\ back/slash")
	}
	switch {
	case four.Len() > 0 && g.chance(0.92):
		o.Set("four_tuple_record", four)
	case g.chance(0.3):
		o.Set("four_tuple_record", g.falsy())
	case g.chance(0.1):
		o.Set("four_tuple_record", pick[any](g, []any{pyjson.Int("1")}, "x", pyjson.Int("3")))
	}
	if g.chance(0.03) {
		o.Set("batch_coordinator_integration", pick[any](g, pyjson.Int("1"), "yes", []any{"x"}))
	} else if g.chance(0.05) {
		o.Set("batch_coordinator_integration", g.falsy())
	}
	return o
}

// cleanVerdict is an independent collector's verdict that the seed writes
// back unless the ledger says otherwise.
func (g *gen) cleanVerdict() *pyjson.Object {
	task := pick(g, tasks...)
	ti := strings.TrimPrefix(task, "task-")
	if g.chance(0.6) {
		// Many tasks, so that one task's registry history does not
		// refuse every later write-back of its track.
		task = fmt.Sprintf("%s-%d", task, g.r.IntN(40))
	}
	o := pyjson.NewObject()
	o.Set("task_id", pick(g, task, task, task+" (TRACK "+ti+" — 수집)"))
	o.Set("track", "T"+ti)
	o.Set("authoritative_verdict", pick(g, "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "PASS", "ACCEPTED"))
	o.Set("collector_key", pick(g, key1, key2, key1+" (independent ANU)"))
	if g.chance(0.7) {
		o.Set("collector_role", "ANU")
	}
	if g.chance(0.5) {
		o.Set("executor_key", "exec000000000001")
	}
	if g.chance(0.5) {
		o.Set("chat_id", seedChatID)
	}
	if g.chance(0.5) {
		o.Set("dispatch_cron_id", "disp-"+ti+"-a")
	}
	if g.chance(0.2) {
		o.Set("fallback_callback_cron_id", "fb-1")
	}
	o.Set("ts_kst", pick(g, "2025-01-01T00:00:00+09:00", "2025-01-02T03:04:05+09:00"))
	return o
}

func (g *gen) encodeVerdict(o *pyjson.Object) []byte {
	opt := pyjson.Options{Indent: -1, EnsureASCII: g.chance(0.5)}
	if g.chance(0.5) {
		opt.Indent = 2
	}
	b, err := pyjson.Encode(o, opt)
	if err != nil {
		panic(err)
	}
	if g.chance(0.1) {
		b = append([]byte("  \n"), append(b, "\n\n"...)...)
	}
	return b
}

// badVerdict is a verdict file the seed crashes on.
func (g *gen) badVerdict() []byte {
	return []byte(pick(g, "{", "[1,2]", `"x"`, "3", "null", "\xff{}", "\xef\xbb\xbf{}", "{} extra", "",
		`{"task_id": "task-1", "four_tuple_record": [1]}`, `{"task_id": "a"`, `{"task_id": "\ud800x"}`))
}

// placement is where a verdict file lives and how the caller names it.
type placement struct {
	file    string // where to write it
	asGiven string // the path as given to both
}

func (g *gen) place() placement {
	g.n++
	name := fmt.Sprintf("v%04d.json", g.n)
	e := g.env
	in := filepath.Join(e.root, "verdicts", name)
	out := filepath.Join(e.outside, name)
	switch g.r.IntN(12) {
	case 0:
		return placement{in, e.root + "//verdicts/./" + name}
	case 1:
		return placement{in, "verdicts/" + name}
	case 2:
		return placement{in, "./verdicts//" + name}
	case 3:
		return placement{out, out}
	case 4:
		return placement{out, "../outside/" + name}
	case 5:
		return placement{out, filepath.Join(e.root, "link", name)}
	case 6:
		return placement{in, filepath.Join(e.outside, "inlink", name)}
	case 7:
		p := filepath.Join(e.root, "sub", "deeper", name)
		return placement{p, p + "/"}
	default:
		return placement{in, in}
	}
}

func (g *gen) canonicalRoot() string {
	e := g.env
	switch g.r.IntN(16) {
	case 0:
		return e.root + "/"
	case 1:
		return "/" + e.root // a leading "//": a different root to Python
	case 2:
		return strings.Replace(e.root, "/root", "/./root//", 1)
	case 3:
		return filepath.Join(e.base, "rootlink")
	case 4:
		return "."
	case 5:
		return e.base
	case 6:
		return filepath.Join(e.root, "verdicts")
	case 7:
		return ""
	default:
		return e.root
	}
}

// writebackOp is one write-back of a verdict file.
type writebackOp struct {
	obj      *pyjson.Object // nil for a hand-made (bad) file
	content  []byte
	place    placement
	root     string
	batch    string
	track    string
	execKey  string
	expected *pyjson.Object
}

func (g *gen) batchID() string {
	return pick(g, "B1", "B1", "B1", "B2", "B2", "B3", " B1", "")
}

func (g *gen) newWriteback() *writebackOp {
	op := &writebackOp{place: g.place(), root: g.canonicalRoot(), batch: g.batchID()}
	if g.chance(0.04) {
		op.content = g.badVerdict()
	} else {
		op.obj = g.verdict()
		op.content = g.encodeVerdict(op.obj)
	}
	if g.chance(0.15) {
		op.track = pick(g, "T1", "T2", "T3", " T2 ", "  ")
	}
	if g.chance(0.1) {
		op.execKey = pick(g, "exec000000000003", key1, "  ", "exec000000000003 (x)")
	}
	if g.chance(0.12) {
		op.expected = g.expected()
	}
	return op
}

func (g *gen) expected() *pyjson.Object {
	e := pyjson.NewObject()
	for i := 0; i < 1+g.r.IntN(2); i++ {
		switch g.r.IntN(7) {
		case 0:
			e.Set("task_id", pick[any](g, "task-1", "task-2", pyjson.Int("5"), nil))
		case 1:
			e.Set("track_id", pick[any](g, "T1", "T2", "T3", true))
		case 2:
			e.Set("collector_key", pick[any](g, key1, key2))
		case 3:
			e.Set("dispatch_id", pick[any](g, "disp-1-a", "derived:task-1", 1.0))
		case 4:
			e.Set("authoritative_verdict", pick[any](g, "AUTHORITATIVE_PASS", "PASS"))
		case 5:
			e.Set("unrelated", "x")
		}
	}
	return e
}

// conflicting returns a replay of op with another verdict (same identity).
func (g *gen) conflicting(op *writebackOp) *writebackOp {
	if op.obj == nil {
		return g.newWriteback()
	}
	o := op.obj.Clone()
	nv := pick[any](g, "PASS", "ACCEPTED", "AUTHORITATIVE_PASS", "FAIL")
	if o.Has("authoritative_verdict") {
		o.Set("authoritative_verdict", nv)
	} else {
		o.Set("verdict", nv)
	}
	c := *op
	c.obj = o
	c.content = g.encodeVerdict(o)
	c.place = g.place()
	if g.chance(0.3) {
		c.expected = nil
	}
	return &c
}

// copyReplay is the same verdict from another file.
func (g *gen) copyReplay(op *writebackOp) *writebackOp {
	c := *op
	c.place = g.place()
	return &c
}

func (g *gen) registryRecord() writeback.RegistryRecord {
	task := pick(g, tasks...)
	ti := strings.TrimPrefix(task, "task-")
	if g.chance(0.3) {
		// A task with a history of its own, so that a classify of it
		// reaches every class (FAILED needs a last FAILED and no
		// COMPLETED before it).
		task = fmt.Sprintf("%s-r%d", task, g.r.IntN(1000))
	}
	rec := writeback.RegistryRecord{
		Schema:                writeback.RegistrySchema,
		TaskID:                task,
		DispatchID:            pick(g, "disp-"+ti+"-a", "disp-"+ti+"-a", "disp-"+ti+"-b"),
		Executor:              "executor session",
		ChatID:                pick(g, seedChatID, seedChatID, seedChatID, "chat-other"),
		NormalCollectorCronID: pick(g, "ncc-a", "ncc-b", "ANU-normal-callback:"+key1),
		Role:                  "dispatcher",
		Status:                pick(g, "REGISTERED", "REGISTERED", "DISPATCHED", "COMPLETED", "FAILED", "CANCELLED"),
		NoFallback:            true,
		TsKST:                 "2025-01-01T00:00:00+09:00",
	}
	rec.DispatchCronID = rec.DispatchID
	if g.chance(0.3) {
		fb := "fb-1"
		rec.FallbackCallbackCronID = &fb
		rec.NoFallback = false
	}
	// Invalid variants (refused by both).
	switch g.r.IntN(12) {
	case 0:
		rec.ChatID = "  "
	case 1:
		rec.Status = "DONE"
	case 2:
		rec.NoFallback = !rec.NoFallback
	case 3:
		rec.Schema = "other.v1"
	case 4:
		rec.TsKST = ""
	}
	return rec
}

func registryObjectOf(rec writeback.RegistryRecord) *pyjson.Object { return pyjsonObjectOf(&rec) }

// rawLine is a line written directly into both ledgers.
func (g *gen) rawLine() string {
	switch g.r.IntN(10) {
	case 0, 1, 2:
		// A registry line, possibly with missing or ill-typed fields.
		o := registryObjectOf(g.registryRecord())
		switch g.r.IntN(6) {
		case 0:
			o.Delete(pick(g, "task_id", "chat_id", "dispatch_id", "status", "normal_collector_cron_id"))
		case 1:
			o.Set(pick(g, "task_id", "chat_id", "dispatch_id"), pick[any](g, nil, pyjson.Int("5"), true))
		case 2:
			o.Set("status", "COMPLETED")
		}
		b, _ := pyjson.Encode(o, pyjson.Options{Indent: -1, SortKeys: g.chance(0.5)})
		return string(b)
	case 3:
		return pick(g, "{not json", "", "   ", `{"schema": "durable_success_writeback.v1"`, "garbage ]]", "\t{\"schema\": \"callback_4tuple_ledger_record.v1\"")
	case 4:
		return pick(g, `{"schema": "other.v1", "task_id": "task-1"}`, `{"no": "schema"}`, `{}`, `{"schema": 5}`)
	case 5, 6:
		return g.handDurable()
	default:
		// A registry line with leading/trailing whitespace the seed strips.
		o := registryObjectOf(g.registryRecord())
		b, _ := pyjson.Encode(o, pyjson.Options{Indent: -1})
		return "  " + string(b) + " \t"
	}
}

// handDurable is a durable line written by another tool: well typed, but
// with any classification, status or verdict, sometimes missing a track or
// batch.
func (g *gen) handDurable() string {
	task := pick(g, tasks...)
	ti := strings.TrimPrefix(task, "task-")
	b := writeback.Binding{
		TaskID: task, TrackID: pick(g, "T"+ti, "T1", "T2", "T3", "None"),
		DispatchID: "derived:" + task, DispatchIDSource: "derived_from_task_id",
		NormalCollectorCronID: "ANU-normal-callback:" + key1, NormalCollectorCronIDSource: "derived_from_collector_key",
		CollectorKey: key1, CollectorRole: "ANU",
		AuthoritativeVerdict: pick(g, "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "PASS", "ACCEPTED", "FAIL"),
		TerminalStatus:       pick(g, "COMPLETED", "COMPLETED", "COMPLETED", "PENDING"),
		CompletedAt:          "2025-01-01T00:00:00+09:00", SourceResultPath: "elsewhere/x.json",
		BatchID: pick(g, "B1", "B2", "B3"),
	}
	rec := b.Record(pick(g, writeback.DurableSuccessWritten, writeback.DurableSuccessWritten, writeback.WritebackBindingConflict))
	o := pyjsonObjectOf(rec)
	switch g.r.IntN(8) {
	case 0:
		o.Delete("track_id") // the seed keys it as str(None) == "None"
	case 1:
		o.Delete("batch_id")
	case 2:
		o.Set("track_id", pyjson.Int("1"))
	default:
		enc, _ := pyjson.Encode(o, pyjson.Options{Indent: -1, SortKeys: true})
		return string(enc)
	}
	// A record with a missing field never matches a write-back's
	// writeback_id here: settle reads a missing field as "", so an
	// idempotent skip would return it with that field present.
	o.Set("writeback_id", fmt.Sprintf("hand-%d", g.r.IntN(1<<30)))
	enc, _ := pyjson.Encode(o, pyjson.Options{Indent: -1, SortKeys: true})
	return string(enc)
}

func pyjsonObjectOf(v any) *pyjson.Object {
	line, err := writeback.EncodeLine(v)
	if err != nil {
		panic(err)
	}
	x, err := pyjson.Parse(line)
	if err != nil {
		panic(err)
	}
	return x.(*pyjson.Object)
}

type settleOp struct {
	batch  string
	tracks []writeback.TrackTask
	this   string
}

func (g *gen) settle() settleOp {
	op := settleOp{batch: pick(g, "B1", "B2", "B3")}
	all := []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}, {TrackID: "T2", TaskID: "task-2"}, {TrackID: "T3", TaskID: "task-3"}}
	switch g.r.IntN(8) {
	case 0:
		op.tracks = []writeback.TrackTask{}
	case 1:
		op.tracks = []writeback.TrackTask{all[0], {TrackID: "None", TaskID: "task-1"}}
	case 2:
		op.tracks = []writeback.TrackTask{all[1], all[1]}
	case 3:
		op.tracks = all[:1+g.r.IntN(2)]
	default:
		op.tracks = all
	}
	op.this = pick(g, "", "T1", "T3", "T9")
	return op
}

// op is one generated operation.
type op struct {
	kind     string // writeback | raw | goraw | registry | settle | classify
	wb       *writebackOp
	line     string // raw and goraw: the line; classify: the task
	registry writeback.RegistryRecord
	settle   settleOp
}

func generate(g *gen, n int) []op {
	var ops []op
	var wbs []*writebackOp
	lastRegistered := "task-1"
	for len(ops) < n {
		x := g.r.Float64()
		switch {
		case x < 0.52 || len(wbs) == 0:
			w := g.newWriteback()
			wbs = append(wbs, w)
			ops = append(ops, op{kind: "writeback", wb: w})
		case x < 0.62:
			ops = append(ops, op{kind: "writeback", wb: pick(g, wbs...)}) // exact replay
		case x < 0.67:
			w := g.copyReplay(pick(g, wbs...))
			wbs = append(wbs, w)
			ops = append(ops, op{kind: "writeback", wb: w})
		case x < 0.74:
			w := g.conflicting(pick(g, wbs...))
			wbs = append(wbs, w)
			ops = append(ops, op{kind: "writeback", wb: w})
		case x < 0.82:
			ops = append(ops, op{kind: "raw", line: g.rawLine()})
		case x < 0.84:
			ops = append(ops, op{kind: "goraw", line: pick(g, "[1,2]", "3", `"s"`, "null", "true", "[]")})
		case x < 0.89:
			rec := g.registryRecord()
			lastRegistered = rec.TaskID
			ops = append(ops, op{kind: "registry", registry: rec})
		case x < 0.92:
			task := lastRegistered
			if g.chance(0.5) {
				task = pick(g, append([]string{"task-9", " task-1", ""}, tasks...)...)
			}
			ops = append(ops, op{kind: "classify", line: task})
		default:
			ops = append(ops, op{kind: "settle", settle: g.settle()})
		}
	}
	return ops
}

// ---- running ------------------------------------------------------------

func diffSeed(t *testing.T) (uint64, int) {
	t.Helper()
	seed, n := uint64(testenv.Seed(t)), 600
	if s := os.Getenv("SETTLE_DIFF_OPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SETTLE_DIFF_OPS: %q", s)
		}
		n = v
	}
	return seed, n
}

// referenceDir finds the Python reference, or skips (see testenv.Reference
// for when it fails instead).
func referenceDir(t *testing.T) string {
	t.Helper()
	return testenv.ReferenceDir(t, "anu_v3/batch_settle_writeback.py")
}

func obj(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// pyOps renders the operations for the driver.
func pyOps(ops []op, ledger, cwd string) []byte {
	list := make([]any, 0, len(ops))
	for _, o := range ops {
		switch o.kind {
		case "writeback":
			w := o.wb
			x := obj("op", "writeback", "source", w.place.asGiven, "batch", w.batch, "root", w.root,
				"track", strOrNil(w.track), "executor_key", strOrNil(w.execKey))
			if w.expected != nil {
				x.Set("expected", w.expected)
			}
			list = append(list, x)
		case "raw":
			list = append(list, obj("op", "raw", "line", o.line))
		case "goraw":
			list = append(list, obj("op", "raw", "line", o.line, "go_only", true))
		case "registry":
			list = append(list, obj("op", "registry", "record", registryObjectOf(o.registry)))
		case "settle":
			tr := make([]any, len(o.settle.tracks))
			for i, t := range o.settle.tracks {
				tr[i] = []any{t.TrackID, t.TaskID}
			}
			list = append(list, obj("op", "settle", "batch", o.settle.batch, "tracks", tr, "this_track", strOrNil(o.settle.this)))
		case "classify":
			list = append(list, obj("op", "classify", "task", o.line))
		}
	}
	b, err := pyjson.Encode(obj("ledger", ledger, "cwd", cwd, "ops", list), pyjson.Options{Indent: -1, EnsureASCII: true})
	if err != nil {
		panic(err)
	}
	return b
}

func runSeed(t *testing.T, refdir, specPath string) []*pyjson.Object {
	t.Helper()
	driver, err := filepath.Abs(filepath.Join("testdata", "seed_driver.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", driver, refdir, specPath)
	cmd.Env = append(os.Environ(), "REFERENCE_ANU_KEYS="+key1+","+key2, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("seed driver: %v\n%s", err, stderr.String())
	}
	v, err := pyjson.Parse(out)
	if err != nil {
		t.Fatalf("seed driver output: %v", err)
	}
	res, _ := v.(*pyjson.Object).Get("results")
	var rs []*pyjson.Object
	for _, r := range res.([]any) {
		rs = append(rs, r.(*pyjson.Object))
	}
	return rs
}

// canonical re-encodes a JSON value with sorted keys, minus some keys.
func canonical(t *testing.T, v any, drop ...string) string {
	t.Helper()
	if o, ok := v.(*pyjson.Object); ok {
		o = o.Clone()
		for _, k := range drop {
			o.Delete(k)
		}
		v = o
	}
	b, err := pyjson.Encode(v, pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func goJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	x, err := pyjson.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// ledgerLines returns the durable and registry lines of a ledger file.
func ledgerLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		v, err := pyjson.Parse([]byte(pyjson.Strip(l)))
		if err != nil {
			continue
		}
		o, ok := v.(*pyjson.Object)
		if !ok {
			continue
		}
		if s, _ := o.GetString("schema"); s == writeback.DurableSchema || s == writeback.RegistrySchema {
			out = append(out, l)
		}
	}
	return out
}

// compareLedgers checks settle's durable and registry lines against the
// seed's, line for line, except where settle did better than the seed: an
// idempotent retry of a durable success whose registry mirror is missing
// (a line another tool wrote, or a write cut after the durable line)
// completes the mirror (file.Ledger's completeMirror); the seed skips
// without it. Such a line is passed over only when it is exactly the
// mirror of a durable success earlier in settle's ledger that no earlier
// line mirrors. It returns how many were passed over.
func compareLedgers(t *testing.T, want, got []string) (completed int) {
	t.Helper()
	missing := map[string]bool{} // mirror lines owed by earlier durable successes
	note := func(line string) {
		delete(missing, line)
		rec, ok := writeback.DecodeLine([]byte(line))
		if !ok || rec.Kind != writeback.KindDurable || rec.Durable.WritebackClassification != writeback.DurableSuccessWritten {
			return
		}
		mirror, problems := writeback.MirrorRecord(rec.Durable, diffConfig)
		if len(problems) > 0 {
			return
		}
		ml, err := writeback.EncodeLine(&mirror)
		if err != nil {
			t.Fatal(err)
		}
		missing[strings.TrimSuffix(string(ml), "\n")] = true
	}
	i, j := 0, 0
	for i < len(want) && j < len(got) {
		switch {
		case want[i] == got[j]:
			note(got[j])
			i++
			j++
		case missing[got[j]]:
			delete(missing, got[j])
			completed++
			j++
		default:
			t.Errorf("ledger line %d differs (settle's line %d)\n seed:   %s\n settle: %s", i, j, want[i], got[j])
			return completed
		}
	}
	for ; j < len(got) && missing[got[j]]; j++ {
		delete(missing, got[j])
		completed++
	}
	if i < len(want) || j < len(got) {
		t.Errorf("ledger: seed has %d durable/registry lines, settle %d (%d completed mirrors passed over); first left: seed %d, settle %d", len(want), len(got), completed, i, j)
	}
	return completed
}

func describe(o op) string {
	switch o.kind {
	case "writeback":
		w := o.wb
		exp := "none"
		if w.expected != nil {
			exp = canonicalNoT(w.expected)
		}
		return fmt.Sprintf("writeback source=%q root=%q batch=%q track=%q exec=%q expected=%s\ncontent=%q",
			w.place.asGiven, w.root, w.batch, w.track, w.execKey, exp, w.content)
	case "settle":
		return fmt.Sprintf("settle %+v", o.settle)
	case "registry":
		return fmt.Sprintf("registry %+v", o.registry)
	}
	return o.kind + " " + strconv.Quote(o.line)
}

func canonicalNoT(v any) string {
	b, _ := pyjson.Encode(v, pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true})
	return string(b)
}

func expectedMap(o *pyjson.Object) map[string]any {
	if o == nil {
		return nil
	}
	m := make(map[string]any, o.Len())
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		m[k] = v
	}
	return m
}

// resolve is what a caller does before Extract: make the path absolute
// (relative to cwd) and resolve symlinks.
func resolve(t *testing.T, cwd, p string) string {
	t.Helper()
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	r, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDifferentialAgainstSeed(t *testing.T) {
	refdir := referenceDir(t)
	seed, n := diffSeed(t)
	t.Logf("SETTLE_DIFF_OPS=%d", n)
	run := liveDiffRun(t, refdir, seed, n)
	checkDiffRun(t, run, n >= 500)
}

// diffRun is one differential run: the operations (their verdict files
// written under env), the seed's answer to each and the durable and
// registry lines of the seed's ledger.
type diffRun struct {
	env        diffEnv
	ops        []op
	results    []*pyjson.Object
	seedLedger []string
}

// liveDiffRun generates n operations from seed and runs them through the
// seed.
func liveDiffRun(t *testing.T, refdir string, seed uint64, n int) diffRun {
	t.Helper()
	env := newDiffEnv(t)
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), env: env}
	ops := generate(g, n)
	writeVerdictFiles(t, ops)
	pyLedger := filepath.Join(env.base, "py", "callback_4tuple_index.jsonl")
	if err := os.MkdirAll(filepath.Dir(pyLedger), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(env.base, "ops.json")
	if err := os.WriteFile(spec, pyOps(ops, pyLedger, env.root), 0o644); err != nil {
		t.Fatal(err)
	}
	results := runSeed(t, refdir, spec)
	if len(results) != len(ops) {
		t.Fatalf("seed returned %d results for %d ops", len(results), len(ops))
	}
	return diffRun{env: env, ops: ops, results: results, seedLedger: ledgerLines(t, pyLedger)}
}

// writeVerdictFiles writes every write-back's verdict file, once (replays
// reuse them).
func writeVerdictFiles(t *testing.T, ops []op) {
	t.Helper()
	for _, o := range ops {
		if o.kind == "writeback" {
			if err := os.MkdirAll(filepath.Dir(o.wb.place.file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(o.wb.place.file, o.wb.content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// diffOutcomes counts the seed's answers by classification (with
// " appended" when the record was appended), "extract error", "settle
// <decision>" and the other operation kinds.
func diffOutcomes(ops []op, results []*pyjson.Object) map[string]int {
	counts := map[string]int{}
	for i, o := range ops {
		r := results[i]
		switch o.kind {
		case "writeback":
			if v, ok := r.Get("decision"); ok {
				c, _ := v.(*pyjson.Object).GetString("classification")
				a, _ := v.(*pyjson.Object).Get("appended")
				counts[c+appendedTag(a)]++
			} else {
				counts["extract error"]++
			}
		case "settle":
			s, _ := r.Get("settle")
			d, _ := s.(*pyjson.Object).GetString("decision")
			counts["settle "+d]++
		case "classify":
			c, _ := r.GetString("classify")
			counts["classify "+c]++
		case "registry":
			if a, _ := r.Get("appended"); a == true {
				counts["registry appended"]++
			} else {
				counts["registry refused"]++
			}
		default:
			counts[o.kind]++
		}
	}
	return counts
}

// diffRequiredOutcomes are the outcomes a run of a few hundred operations
// must reach, or the comparison proves little.
var diffRequiredOutcomes = []string{
	writeback.DurableSuccessWritten + " appended", writeback.WritebackIdempotentSkip, writeback.WritebackBindingConflict,
	writeback.TrackMismatch, writeback.SelfChainNoWriteback, "extract error",
	"settle " + writeback.AllSettledConsolidate, "settle " + writeback.RecordAndDefer,
}

// checkDiffRun runs the operations through every settle backend and
// compares decisions, settle results and ledger lines with the seed's.
func checkDiffRun(t *testing.T, run diffRun, requireOutcomes bool) {
	t.Helper()
	env, ops, results := run.env, run.ops, run.results
	counts := diffOutcomes(ops, results)
	t.Logf("seed outcomes: %v", counts)
	for _, want := range diffRequiredOutcomes {
		if counts[want] == 0 && requireOutcomes {
			t.Errorf("the generated operations never reached %q", want)
		}
	}

	for name, mk := range diffBackends {
		t.Run(name, func(t *testing.T) {
			ledger := filepath.Join(env.base, "go-"+name, "memory", "events", "callback_4tuple_index.jsonl")
			be, err := mk(env.base, ledger)
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			failures := 0
			fail := func(i int, format string, args ...any) {
				t.Helper()
				failures++
				if failures <= 10 {
					t.Errorf("op %d (%s):\n"+format, append([]any{i, describe(ops[i])}, args...)...)
				}
			}
			for i, o := range ops {
				r := results[i]
				switch o.kind {
				case "writeback":
					w := o.wb
					b, err := writeback.Extract(w.content, writeback.ExtractOptions{
						BatchID: w.batch, TrackID: w.track, ExecutorKey: w.execKey,
						Root: w.root, SourcePath: resolve(t, env.root, w.place.asGiven), SourcePathAsGiven: w.place.asGiven,
						Config: diffConfig,
					})
					pyErr, seedFailed := r.GetString("error")
					if err != nil && strings.Contains(err.Error(), "not valid UTF-8") && !seedFailed {
						// settle refuses a lone surrogate outright; the seed
						// crashes on it unless it refuses the binding first.
						pd, _ := r.Get("decision")
						if v, _ := pd.(*pyjson.Object).GetString("verdict"); v != "FAIL" {
							fail(i, "settle refused a lone surrogate the seed accepted: %v", err)
						}
						continue
					}
					if err != nil || seedFailed {
						if err == nil || !seedFailed {
							fail(i, "extract: settle err=%v, seed error=%q", err, pyErr)
						} else if settle.ErrorCode(err) != settle.InvalidInput {
							fail(i, "extract error code %s, want %s", settle.ErrorCode(err), settle.InvalidInput)
						}
						continue
					}
					d, err := be.Writeback(writeback.WritebackRequest{Binding: b, Expected: expectedMap(w.expected)})
					if err != nil {
						fail(i, "writeback: %v", err)
						continue
					}
					pd, _ := r.Get("decision")
					want := canonical(t, pd, "reasons")
					got := canonical(t, decisionJSON(d), "reasons")
					if got != want {
						fail(i, "decision differs\n seed:   %s\n settle: %s", want, got)
					}
					if len(d.Reasons) == 0 {
						fail(i, "decision without reasons")
					}
				case "raw", "goraw":
					if err := be.AppendRaw(o.line); err != nil {
						t.Fatal(err)
					}
				case "registry":
					err := be.AppendRegistry(o.registry)
					appended, _ := r.Get("appended")
					if (err == nil) != (appended == true) {
						fail(i, "registry append: settle err=%v, seed appended=%v", err, appended)
					} else if err != nil && settle.ErrorCode(err) != settle.InvalidInput {
						fail(i, "registry append error code %s", settle.ErrorCode(err))
					}
				case "settle":
					s := o.settle
					res, err := be.Settle(s.batch, s.tracks, s.this)
					if err != nil {
						fail(i, "settle: %v", err)
						continue
					}
					ps, _ := r.Get("settle")
					want := canonical(t, ps, "reasons", "consolidated_summary_candidate_path")
					got := canonical(t, goJSON(t, res), "reasons", "consolidated_summary_candidate_path")
					if got != want {
						fail(i, "settle differs\n seed:   %s\n settle: %s", want, got)
					}
				case "classify":
					got, err := be.Classify(o.line)
					want, _ := r.GetString("classify")
					if err != nil || got != want {
						fail(i, "classify(%q): settle %q %v, seed %q", o.line, got, err, want)
					}
				}
			}
			if failures > 10 {
				t.Errorf("... and %d more differences", failures-10)
			}
			if completed := compareLedgers(t, run.seedLedger, ledgerLines(t, be.LedgerPath())); completed > 0 {
				t.Logf("settle completed %d registry mirrors the seed left missing", completed)
			}
		})
	}
}

// decisionJSON is the decision's to_json() as pyjson values (encoding/json
// would replace a lone surrogate).
func decisionJSON(d writeback.Decision) *pyjson.Object {
	var rec any
	if d.DurableRecord != nil {
		rec = pyjsonObjectOf(d.DurableRecord)
	}
	return obj("schema", d.Schema, "verdict", d.Verdict, "classification", d.Classification,
		"task_id", d.TaskID, "track_id", d.TrackID, "batch_id", d.BatchID,
		"durable_record", rec, "appended", d.Appended)
}

func appendedTag(v any) string {
	if v == true {
		return " appended"
	}
	return ""
}
