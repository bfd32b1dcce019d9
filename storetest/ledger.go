package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

var bg = context.Background()

// Keys are the independent collector keys of the suite's Config.
var Keys = []string{"anu0000000000001", "anu0000000000002"}

// DefaultChatID is the suite's default chat id.
const DefaultChatID = "6937032012"

// Config is the domain configuration the suite opens ledgers with.
func Config() writeback.Config {
	return writeback.Config{CollectorKeys: append([]string(nil), Keys...), DefaultChatID: DefaultChatID}
}

// Binding is a clean independent-ANU binding for task/track/batch: a
// write-back of it is DURABLE_SUCCESS_WRITTEN on an empty ledger.
func Binding(task, track, batch string) writeback.Binding {
	return writeback.Binding{
		TaskID:                      task,
		TrackID:                     track,
		DispatchID:                  "dispatch-" + task,
		DispatchIDSource:            "source_recorded",
		NormalCollectorCronID:       "ncc-" + task,
		NormalCollectorCronIDSource: "source_recorded",
		CollectorKey:                Keys[0],
		CollectorRole:               "ANU",
		AuthoritativeVerdict:        writeback.AuthoritativePass,
		TerminalStatus:              writeback.StatusCompleted,
		CompletedAt:                 "2025-11-22T09:00:00+09:00",
		SourceResultPath:            "memory/results/" + task + ".json",
		BatchID:                     batch,
		ExecutorKey:                 "exec000000000001",
	}
}

// Registry is a valid registry record of task with the binding's
// dispatch, chat and collector cron.
func Registry(task, status string) writeback.RegistryRecord {
	return writeback.RegistryRecord{
		Schema:                writeback.RegistrySchema,
		TaskID:                task,
		DispatchID:            "dispatch-" + task,
		DispatchCronID:        "dispatch-" + task,
		Executor:              "executor exec000000000001",
		ChatID:                DefaultChatID,
		NormalCollectorCronID: "ncc-" + task,
		Role:                  "dispatcher",
		Status:                status,
		NoFallback:            true,
		TsKST:                 "2025-11-22T08:00:00+09:00",
	}
}

// Tracks returns n tracks T1..Tn of batch, with tasks <batch>-task-i.
func Tracks(batch string, n int) []writeback.TrackTask {
	var tt []writeback.TrackTask
	for i := range n {
		tt = append(tt, writeback.TrackTask{TrackID: fmt.Sprintf("T%d", i+1), TaskID: fmt.Sprintf("%s-task-%d", batch, i+1)})
	}
	return tt
}

func req(b writeback.Binding) writeback.WritebackRequest {
	return writeback.WritebackRequest{Binding: b}
}

// wb writes b back and fails the test on an error.
func wb(t testing.TB, s writeback.Store, r writeback.WritebackRequest) writeback.WritebackOutcome {
	t.Helper()
	out, err := s.Writeback(bg, r)
	if err != nil {
		t.Fatalf("Writeback(%s/%s): %v", r.Binding.TaskID, r.Binding.TrackID, err)
	}
	return out
}

func wantClass(t testing.TB, out writeback.WritebackOutcome, verdict, class string, appended bool) {
	t.Helper()
	d := out.Decision
	if d.Verdict != verdict || d.Classification != class || d.Appended != appended {
		t.Fatalf("decision = %s %s appended=%v, want %s %s appended=%v (reasons %q)",
			d.Verdict, d.Classification, d.Appended, verdict, class, appended, d.Reasons)
	}
}

// WantCode fails unless err carries code.
func WantCode(t testing.TB, err error, code settle.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := settle.ErrorCode(err); got != code {
		t.Fatalf("err = %v (code %s), want %s", err, got, code)
	}
}

// AllRecords pages through every record a query selects, checking that
// the cursor only moves forward.
func AllRecords(t testing.TB, s writeback.Store, q writeback.RecordQuery) []writeback.LedgerRecord {
	t.Helper()
	var out []writeback.LedgerRecord
	q.After = -1
	for pages := 0; ; pages++ {
		if pages > 1_000_000 {
			t.Fatal("Records does not terminate")
		}
		p, err := s.Records(bg, q)
		if err != nil {
			t.Fatalf("Records(%+v): %v", q, err)
		}
		if q.Limit > 0 && len(p.Records) > q.Limit {
			t.Fatalf("page of %d records for limit %d", len(p.Records), q.Limit)
		}
		for _, r := range p.Records {
			if r.Seq <= q.After {
				t.Fatalf("record seq %d not after the cursor %d", r.Seq, q.After)
			}
		}
		out = append(out, p.Records...)
		if p.Next < 0 {
			return out
		}
		if p.Next <= q.After || len(p.Records) == 0 || p.Next != p.Records[len(p.Records)-1].Seq {
			t.Fatalf("bad cursor %d after %d (page of %d)", p.Next, q.After, len(p.Records))
		}
		q.After = p.Next
	}
}

// CheckRecordIDs fails t unless recs are numbered 0, 1, 2, ... in order
// and hold each write-back id and each conflict id once; it returns how
// many write-back ids there are.
func CheckRecordIDs(t testing.TB, recs []writeback.LedgerRecord) (writebacks int) {
	t.Helper()
	wids := map[string]bool{}
	conflicts := map[string]bool{}
	for i, r := range recs {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		if r.Durable != nil {
			if wids[r.Durable.WritebackID] {
				t.Fatalf("writeback id %s recorded twice", r.Durable.WritebackID)
			}
			wids[r.Durable.WritebackID] = true
		}
		if r.Conflict != nil {
			if conflicts[r.Conflict.ConflictID] {
				t.Fatalf("conflict %s recorded twice", r.Conflict.ConflictID)
			}
			conflicts[r.Conflict.ConflictID] = true
		}
	}
	return len(wids)
}

func kinds(recs []writeback.LedgerRecord) map[writeback.RecordKind]int {
	k := map[writeback.RecordKind]int{}
	for _, r := range recs {
		k[r.Kind]++
	}
	return k
}

// checkRecord checks that a record has exactly the body of its kind and,
// when the store returns its raw line, that the line is the canonical
// encoding of that body (the file store's bytes).
func checkRecord(t testing.TB, r writeback.LedgerRecord) {
	t.Helper()
	var v any
	n := 0
	if r.Durable != nil {
		n++
		v = r.Durable
	}
	if r.Registry != nil {
		n++
		v = r.Registry
	}
	if r.Conflict != nil {
		n++
		v = r.Conflict
	}
	if n != 1 {
		t.Fatalf("record %d has %d bodies", r.Seq, n)
	}
	switch r.Kind {
	case writeback.KindDurable:
		if r.Durable == nil {
			t.Fatalf("record %d kind %s without its body", r.Seq, r.Kind)
		}
	case writeback.KindRegistry:
		if r.Registry == nil {
			t.Fatalf("record %d kind %s without its body", r.Seq, r.Kind)
		}
	case writeback.KindConflict:
		if r.Conflict == nil {
			t.Fatalf("record %d kind %s without its body", r.Seq, r.Kind)
		}
	default:
		t.Fatalf("record %d kind %q", r.Seq, r.Kind)
	}
	if len(r.Raw) == 0 {
		return
	}
	line, err := writeback.EncodeLine(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Raw, line[:len(line)-1]) {
		t.Fatalf("record %d raw line\n%s\nis not the canonical line\n%s", r.Seq, r.Raw, line)
	}
}

// Together runs fn(0) to fn(n-1) in n goroutines released at once, so
// that they contend, and returns when all have returned.
func Together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// ledgerCases are the cases of RunLedger that run on one new store of
// the suite's configuration.
var ledgerCases = []struct {
	name string
	run  func(t *testing.T, s writeback.Store)
}{
	{"Success", ledgerSuccess},
	{"IdempotentSkip", ledgerSkip},
	{"DryRun", ledgerDryRun},
	{"InputLimits", ledgerInputLimits},
	{"ConflictRecordedOnce", ledgerConflictOnce},
	{"BindingGuard", ledgerBindingGuard},
	{"HardeningE_NonCompletedBinding", ledgerNonCompleted},
	{"HardeningI_ControlCharacterIDs", ledgerControlIDs},
	{"MirrorWithFallbackAndExpectations", ledgerMirrorFallback},
	{"Settle", ledgerSettle},
	{"SettleLastWriteWins", ledgerLastWriteWins},
	{"SettleSummaryOnce", func(t *testing.T, s writeback.Store) { ledgerSummaryOnce(t, []writeback.Store{s}) }},
	{"BatchNames", ledgerBatchNames},
	{"HardeningK_WritebackBatchNames", ledgerWritebackBatchNames},
	{"DeclareAndGetBatch", ledgerBatches},
	{"NotFoundNamesIDs", ledgerNotFoundNamesIDs},
	{"Registry", ledgerRegistry},
	{"RecordsPaging", ledgerRecords},
	{"ConcurrentWritebacks", func(t *testing.T, s writeback.Store) { ledgerConcurrent(t, []writeback.Store{s}) }},
}

// RunLedger runs the writeback.Store conformance suite. open returns a
// new, empty store with the configuration given.
func RunLedger(t *testing.T, open func(t *testing.T, cfg writeback.Config) writeback.Store) {
	for _, c := range ledgerCases {
		t.Run(c.name, func(t *testing.T) { t.Parallel(); c.run(t, open(t, Config())) })
	}
	t.Run("Refusals", func(t *testing.T) { t.Parallel(); ledgerRefusals(t, open) })
	t.Run("MirrorInvalid", func(t *testing.T) {
		t.Parallel()
		ledgerMirrorInvalid(t, open(t, writeback.Config{CollectorKeys: Keys}))
	})
	RunMany(t, open)
}

// RunLedgerShared runs the cases that need several stores on one backend
// (several servers or processes): open returns n stores sharing one new,
// empty ledger.
func RunLedgerShared(t *testing.T, open func(t *testing.T, cfg writeback.Config, n int) []writeback.Store) {
	t.Run("SettleSummaryOnce", func(t *testing.T) { t.Parallel(); ledgerSummaryOnce(t, open(t, Config(), 3)) })
	t.Run("ConcurrentWritebacks", func(t *testing.T) { t.Parallel(); ledgerConcurrent(t, open(t, Config(), 3)) })
	t.Run("ConflictRecordedOnce", func(t *testing.T) {
		t.Parallel()
		ss := open(t, Config(), 2)
		ledgerConflictRace(t, ss)
	})
	t.Run("SeeEachOther", func(t *testing.T) {
		t.Parallel()
		ss := open(t, Config(), 2)
		b := Binding("task-x", "T1", "b")
		wantClass(t, wb(t, ss[0], req(b)), "PASS", writeback.DurableSuccessWritten, true)
		wantClass(t, wb(t, ss[1], req(b)), "PASS", writeback.WritebackIdempotentSkip, false)
		if err := ss[1].AppendRegistry(bg, Registry("task-y", writeback.StatusFailed)); err != nil {
			t.Fatal(err)
		}
		if c, err := ss[0].Classify(bg, "task-y"); err != nil || c != writeback.ClassFailed {
			t.Fatalf("classify on the other store: %s %v", c, err)
		}
		if err := ss[0].DeclareBatch(bg, writeback.Batch{BatchID: "b", Tracks: Tracks("b", 1)}); err != nil {
			t.Fatal(err)
		}
		if got, err := ss[1].GetBatch(bg, "b"); err != nil || got.BatchID != "b" {
			t.Fatalf("batch on the other store: %+v %v", got, err)
		}
		if recs := AllRecords(t, ss[1], writeback.RecordQuery{}); len(recs) != 3 {
			t.Fatalf("other store lists %d records, want 3", len(recs))
		}
	})
}

func ledgerSuccess(t *testing.T, s writeback.Store) {
	b := Binding("task-1", "T1", "batch-1")
	if c, err := s.Classify(bg, "task-1"); err != nil || c != writeback.ClassUnknown {
		t.Fatalf("Classify before = %s %v", c, err)
	}
	out := wb(t, s, req(b))
	wantClass(t, out, "PASS", writeback.DurableSuccessWritten, true)
	if out.ConflictRecorded {
		t.Fatal("a success recorded a conflict")
	}
	d := out.Decision
	if d.Schema != writeback.ModuleSchema || d.TaskID != "task-1" || d.TrackID != "T1" || d.BatchID != "batch-1" {
		t.Fatalf("decision header %+v", d)
	}
	if r := d.Reasons; len(r) == 0 || r[len(r)-1] != writeback.AppendedReason() {
		t.Fatalf("success reasons %q do not end with the apply reason", r)
	}
	want := b.Record(writeback.DurableSuccessWritten)
	if !sameDurable(d.DurableRecord, want) {
		t.Fatalf("decision record %+v, want %+v", d.DurableRecord, want)
	}
	recs := AllRecords(t, s, writeback.RecordQuery{})
	if len(recs) != 2 || recs[0].Kind != writeback.KindDurable || recs[1].Kind != writeback.KindRegistry {
		t.Fatalf("after a success the ledger holds %v, want a durable record then its registry mirror", kinds(recs))
	}
	for i, r := range recs {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		checkRecord(t, r)
	}
	if !sameDurable(recs[0].Durable, want) {
		t.Fatalf("stored record %+v, want %+v", recs[0].Durable, want)
	}
	mirror, problems := writeback.MirrorRecord(want, Config())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if !sameRegistry(*recs[1].Registry, mirror) {
		t.Fatalf("stored mirror %+v, want %+v", recs[1].Registry, mirror)
	}
	if c, err := s.Classify(bg, "task-1"); err != nil || c != writeback.ClassNormalCallbackCompleted {
		t.Fatalf("Classify after the mirror = %s %v", c, err)
	}
	h, err := s.RegistryHistory(bg, "task-1")
	if err != nil || len(h) != 1 || !sameRegistry(h[0], mirror) {
		t.Fatalf("history %+v %v", h, err)
	}
}

func sameDurable(a, b *writeback.DurableRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if (x.FallbackCallbackCronID == nil) != (y.FallbackCallbackCronID == nil) ||
		(x.FallbackCallbackCronID != nil && *x.FallbackCallbackCronID != *y.FallbackCallbackCronID) {
		return false
	}
	x.FallbackCallbackCronID, y.FallbackCallbackCronID = nil, nil
	return x == y
}

func sameRegistry(x, y writeback.RegistryRecord) bool {
	if (x.FallbackCallbackCronID == nil) != (y.FallbackCallbackCronID == nil) ||
		(x.FallbackCallbackCronID != nil && *x.FallbackCallbackCronID != *y.FallbackCallbackCronID) {
		return false
	}
	x.FallbackCallbackCronID, y.FallbackCallbackCronID = nil, nil
	return x == y
}

func ledgerSkip(t *testing.T, s writeback.Store) {
	b := Binding("task-1", "T1", "batch-1")
	first := wb(t, s, req(b))
	wantClass(t, first, "PASS", writeback.DurableSuccessWritten, true)
	for i := range 3 {
		out := wb(t, s, req(b))
		wantClass(t, out, "PASS", writeback.WritebackIdempotentSkip, false)
		if out.ConflictRecorded {
			t.Fatalf("skip %d recorded a conflict", i)
		}
		if r := out.Decision.Reasons; len(r) == 0 || r[len(r)-1] != writeback.SkipReason() {
			t.Fatalf("skip reasons %q", r)
		}
		if !sameDurable(out.Decision.DurableRecord, first.Decision.DurableRecord) {
			t.Fatalf("skip returns %+v, want the stored record", out.Decision.DurableRecord)
		}
	}
	// The skip is by writeback id and identity: a derived field that is
	// not part of either (the source path) does not make a new record.
	other := b
	other.SourceResultPath = "memory/results/elsewhere.json"
	wantClass(t, wb(t, s, req(other)), "PASS", writeback.WritebackIdempotentSkip, false)
	if k := kinds(AllRecords(t, s, writeback.RecordQuery{})); k[writeback.KindDurable] != 1 || k[writeback.KindRegistry] != 1 || k[writeback.KindConflict] != 0 {
		t.Fatalf("skips appended: %v", k)
	}
}

func ledgerDryRun(t *testing.T, s writeback.Store) {
	r := req(Binding("task-dry", "T1", "batch-1"))
	r.DryRun = true
	out := wb(t, s, r)
	wantClass(t, out, "PASS", writeback.DurableSuccessWritten, false)
	if len(AllRecords(t, s, writeback.RecordQuery{})) != 0 {
		t.Fatal("dry run of a success wrote")
	}
	wb(t, s, req(Binding("task-1", "T1", "batch-1")))
	before := AllRecords(t, s, writeback.RecordQuery{})
	c := Binding("task-1", "T1", "batch-1")
	c.AuthoritativeVerdict = "PASS"
	r = req(c)
	r.DryRun = true
	out = wb(t, s, r)
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
	if out.ConflictRecorded {
		t.Fatal("dry run recorded a conflict")
	}
	self := Binding("task-self", "T1", "batch-1")
	self.ExecutorKey = self.CollectorKey
	r = req(self)
	r.DryRun = true
	out = wb(t, s, r)
	wantClass(t, out, "FAIL", writeback.SelfChainNoWriteback, false)
	r = req(Binding("task-1", "T1", "batch-1"))
	r.DryRun = true
	wantClass(t, wb(t, s, r), "PASS", writeback.WritebackIdempotentSkip, false)
	after := AllRecords(t, s, writeback.RecordQuery{})
	if len(after) != len(before) {
		t.Fatalf("dry runs wrote: %d records, then %d", len(before), len(after))
	}
}

// refusal is one refused write-back of the suite.
type refusal struct {
	name    string
	cfg     writeback.Config
	setup   func(t *testing.T, s writeback.Store)
	request func() writeback.WritebackRequest
	class   string
	// recorded: whether the refusal records a conflict.
	recorded bool
}

func refusals() []refusal {
	mod := func(task string, f func(b *writeback.Binding)) func() writeback.WritebackRequest {
		return func() writeback.WritebackRequest {
			b := Binding(task, "T1", "batch-r")
			f(&b)
			return req(b)
		}
	}
	expect := func(task string, exp map[string]any) func() writeback.WritebackRequest {
		return func() writeback.WritebackRequest {
			r := req(Binding(task, "T1", "batch-r"))
			r.Expected = exp
			return r
		}
	}
	// registered dispatches task in the registry, as edit changes it.
	registered := func(task string, edit func(r *writeback.RegistryRecord)) func(t *testing.T, s writeback.Store) {
		return func(t *testing.T, s writeback.Store) {
			r := Registry(task, writeback.StatusDispatched)
			edit(&r)
			if err := s.AppendRegistry(bg, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []refusal{
		{name: "self chain executor key", request: mod("t-self", func(b *writeback.Binding) { b.ExecutorKey = b.CollectorKey }),
			class: writeback.SelfChainNoWriteback, recorded: true},
		{name: "executor session", request: mod("t-session", func(b *writeback.Binding) { b.SessionIsExecutorSelf = true }),
			class: writeback.SelfChainNoWriteback, recorded: true},
		{name: "unconfigured collector key", request: mod("t-key", func(b *writeback.Binding) { b.CollectorKey = "someone-else" }),
			class: writeback.SelfChainNoWriteback, recorded: true},
		{name: "collector role not ANU", request: mod("t-role", func(b *writeback.Binding) { b.CollectorRole = "EXECUTOR" }),
			class: writeback.SelfChainNoWriteback, recorded: true},
		{name: "non terminal verdict", request: mod("t-verdict", func(b *writeback.Binding) { b.AuthoritativeVerdict = "PENDING" }),
			class: writeback.SelfChainNoWriteback, recorded: true},
		{name: "expected track differs", request: expect("t-track", map[string]any{"track_id": "T9"}),
			class: writeback.TrackMismatch, recorded: true},
		{name: "expected task differs", request: expect("t-task", map[string]any{"task_id": "other"}),
			class: writeback.TrackMismatch, recorded: true},
		{name: "expected dispatch differs", request: expect("t-disp", map[string]any{"dispatch_id": "nope"}),
			class: writeback.WritebackBindingConflict, recorded: true},
		{name: "missing mandatory field", request: mod("t-missing", func(b *writeback.Binding) { b.SourceResultPath = "" }),
			class: writeback.WritebackBindingConflict, recorded: true},
		{name: "registry binds another dispatch", setup: registered("t-reg", func(r *writeback.RegistryRecord) { r.DispatchID = "dispatch-other" }),
			request: mod("t-reg", func(*writeback.Binding) {}), class: writeback.WritebackBindingConflict, recorded: true},
		{name: "registry binds another chat", setup: registered("t-chat", func(r *writeback.RegistryRecord) { r.ChatID = "111" }),
			request: mod("t-chat", func(*writeback.Binding) {}), class: writeback.WritebackBindingConflict, recorded: true},
	}
}

// ledgerInputLimits: a binding or registry record with an id over
// settle.MaxIDBytes or another string over settle.MaxTextBytes is refused
// with INVALID_INPUT naming the limit, dry run or not, and nothing is
// written; a binding with every id at the limit is written.
func ledgerInputLimits(t *testing.T, s writeback.Store) {
	long := Binding(strings.Repeat("t", settle.MaxIDBytes+1), "T1", "batch-l")
	path := Binding("t-path", "T1", "batch-l")
	path.SourceResultPath = strings.Repeat("p", settle.MaxTextBytes+1)
	for _, c := range []struct {
		b     writeback.Binding
		limit string
	}{{long, "MaxIDBytes"}, {path, "MaxTextBytes"}} {
		for _, dry := range []bool{false, true} {
			_, err := s.Writeback(bg, writeback.WritebackRequest{Binding: c.b, DryRun: dry})
			WantCode(t, err, settle.InvalidInput)
			if !strings.Contains(err.Error(), c.limit) {
				t.Fatalf("refusal does not name %s: %v", c.limit, err)
			}
		}
	}
	err := s.AppendRegistry(bg, Registry(strings.Repeat("r", settle.MaxIDBytes+1), writeback.StatusDispatched))
	WantCode(t, err, settle.InvalidInput)
	if recs := AllRecords(t, s, writeback.RecordQuery{}); len(recs) != 0 {
		t.Fatalf("refusals wrote %d records", len(recs))
	}
	// "dispatch-" + task and "ncc-" + task must fit too.
	atLimit := Binding(strings.Repeat("t", settle.MaxIDBytes-len("dispatch-")), "T1", "batch-l")
	atLimit.TrackID = strings.Repeat("k", settle.MaxIDBytes)
	out := wb(t, s, req(atLimit))
	wantClass(t, out, "PASS", writeback.DurableSuccessWritten, true)
}

func ledgerRefusals(t *testing.T, open func(t *testing.T, cfg writeback.Config) writeback.Store) {
	for _, tc := range refusals() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			if cfg.CollectorKeys == nil {
				cfg = Config()
			}
			s := open(t, cfg)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			before := len(AllRecords(t, s, writeback.RecordQuery{}))
			out := wb(t, s, tc.request())
			wantClass(t, out, "FAIL", tc.class, false)
			if out.ConflictRecorded != tc.recorded {
				t.Fatalf("ConflictRecorded = %v, want %v", out.ConflictRecorded, tc.recorded)
			}
			if r := out.Decision.Reasons; len(r) < 2 || r[len(r)-1] != writeback.NotWrittenReason(tc.class, "FAIL") {
				t.Fatalf("refusal reasons %q", r)
			}
			recs := AllRecords(t, s, writeback.RecordQuery{})
			added := recs[before:]
			if k := kinds(added); k[writeback.KindDurable] != 0 || k[writeback.KindRegistry] != 0 {
				t.Fatalf("a refusal appended %v", k)
			}
			if !tc.recorded {
				return
			}
			if len(added) != 1 || added[0].Conflict == nil {
				t.Fatalf("refusal appended %d records, want one conflict", len(added))
			}
			c := added[0].Conflict
			b := tc.request().Binding
			if c.Schema != writeback.ConflictSchema || c.Classification != tc.class || c.TaskID != b.TaskID ||
				c.TrackID != b.TrackID || c.BatchID != b.BatchID || c.WritebackID != b.WritebackID() ||
				c.ConflictID != writeback.ConflictID(b.WritebackID(), tc.class) || c.Candidate == nil || c.RecordedAt == "" {
				t.Fatalf("conflict record %+v", c)
			}
			checkRecord(t, added[0])
			// Refused twice: recorded once.
			if again := wb(t, s, tc.request()); again.ConflictRecorded || again.Decision.Classification != tc.class {
				t.Fatalf("second refusal: %+v", again)
			}
			if n := len(AllRecords(t, s, writeback.RecordQuery{})); n != len(recs) {
				t.Fatalf("second refusal appended: %d records, want %d", n, len(recs))
			}
			if c, err := s.Classify(bg, b.TaskID); err != nil || c == writeback.ClassNormalCallbackCompleted {
				t.Fatalf("a refusal completed the task: %s %v", c, err)
			}
		})
	}
}

func ledgerConflictOnce(t *testing.T, s writeback.Store) {
	b := Binding("task-1", "T1", "batch-1")
	wb(t, s, req(b))
	c := b
	c.AuthoritativeVerdict = "PASS"
	out := wb(t, s, req(c))
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
	if !out.ConflictRecorded {
		t.Fatal("first refusal did not record a conflict")
	}
	if out.Decision.DurableRecord == nil || out.Decision.DurableRecord.WritebackClassification != writeback.WritebackBindingConflict {
		t.Fatalf("conflict decision record %+v", out.Decision.DurableRecord)
	}
	if wb(t, s, req(c)).ConflictRecorded {
		t.Fatal("second identical refusal recorded another conflict")
	}
	// Another candidate (another verdict) is another conflict.
	c2 := b
	c2.AuthoritativeVerdict = "ACCEPTED"
	if !wb(t, s, req(c2)).ConflictRecorded {
		t.Fatal("a distinct refused candidate was not recorded")
	}
	k := kinds(AllRecords(t, s, writeback.RecordQuery{}))
	if k[writeback.KindConflict] != 2 || k[writeback.KindDurable] != 1 {
		t.Fatalf("ledger kinds %v", k)
	}
	// A conflict is never read as a success.
	res, err := s.Settle(bg, "batch-1", []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}, "T1")
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Result.TrackStates[0].AuthoritativeVerdict; v == nil || *v != writeback.AuthoritativePass {
		t.Fatalf("settle sees verdict %v", v)
	}
	// The original is still an idempotent skip.
	wantClass(t, wb(t, s, req(b)), "PASS", writeback.WritebackIdempotentSkip, false)
}

// ledgerNonCompleted: a binding whose terminal_status is not COMPLETED is a
// recorded conflict; it neither completes the task in the registry nor
// blocks the task's later COMPLETED write-back, which settles the batch.
func ledgerNonCompleted(t *testing.T, s writeback.Store) {
	tracks := Tracks("bE", 1)
	task := tracks[0].TaskID
	f := Binding(task, "T1", "bE")
	f.TerminalStatus = writeback.StatusFailed
	out := wb(t, s, req(f))
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
	if !out.ConflictRecorded {
		t.Fatal("refused FAILED binding recorded no conflict")
	}
	k := kinds(AllRecords(t, s, writeback.RecordQuery{}))
	if k[writeback.KindConflict] != 1 || k[writeback.KindDurable] != 0 || k[writeback.KindRegistry] != 0 {
		t.Fatalf("ledger kinds after a FAILED binding: %v", k)
	}
	if c, err := s.Classify(bg, task); err != nil || c == writeback.ClassNormalCallbackCompleted {
		t.Fatalf("Classify after a FAILED binding = %q, %v", c, err)
	}
	if res := settleOK(t, s, "bE", tracks, "T1"); res.Result.Decision != writeback.RecordAndDefer {
		t.Fatalf("settle after a FAILED binding: %+v", res.Result)
	}
	wantClass(t, wb(t, s, req(Binding(task, "T1", "bE"))), "PASS", writeback.DurableSuccessWritten, true)
	// A FAILED replay of the success is refused, not an idempotent skip.
	wantClass(t, wb(t, s, req(f)), "FAIL", writeback.WritebackBindingConflict, false)
	if c, err := s.Classify(bg, task); err != nil || c != writeback.ClassNormalCallbackCompleted {
		t.Fatalf("Classify after the success = %q, %v", c, err)
	}
	if res := settleOK(t, s, "bE", tracks, "T1"); res.Result.Decision != writeback.AllSettledConsolidate {
		t.Fatalf("settle after the success: %+v", res.Result)
	}
}

// ledgerControlIDs: ids holding U+0000 (which PostgreSQL's text cannot
// hold) and U+0001 are accepted, found and kept apart like any other: a
// task "a\x00b" is not the task "a\x01" + "0b", nor "a".
func ledgerControlIDs(t *testing.T, s writeback.Store) {
	const task, look, batch = "a\x00b", "a\x010b", "B\x01x"
	b := Binding(task, "T\x00", batch)
	wantClass(t, wb(t, s, req(b)), "PASS", writeback.DurableSuccessWritten, true)
	wantClass(t, wb(t, s, req(b)), "PASS", writeback.WritebackIdempotentSkip, false)
	o := Binding(look, "T\x00", batch) // the escaped spelling of task
	wantClass(t, wb(t, s, req(o)), "PASS", writeback.DurableSuccessWritten, true)
	c := b
	c.AuthoritativeVerdict = "PASS"
	out := wb(t, s, req(c))
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
	if !out.ConflictRecorded || wb(t, s, req(c)).ConflictRecorded {
		t.Fatal("a refusal of a task with U+0000 is not recorded exactly once")
	}
	for _, tc := range []struct {
		task string
		n    int
	}{{task, 1}, {look, 1}, {"a", 0}, {"a\x00", 0}} {
		h, err := s.RegistryHistory(bg, tc.task)
		if err != nil || len(h) != tc.n || (tc.n == 1 && h[0].TaskID != tc.task) {
			t.Fatalf("RegistryHistory(%q) = %+v, %v; want %d records", tc.task, h, err, tc.n)
		}
	}
	if cl, err := s.Classify(bg, task); err != nil || cl != writeback.ClassNormalCallbackCompleted {
		t.Fatalf("Classify(%q) = %q, %v", task, cl, err)
	}
	if recs := AllRecords(t, s, writeback.RecordQuery{TaskID: task}); len(recs) != 3 || kinds(recs)[writeback.KindConflict] != 1 {
		t.Fatalf("records of %q: %v", task, kinds(recs))
	}
	if recs := AllRecords(t, s, writeback.RecordQuery{BatchID: batch, Kind: writeback.KindDurable}); len(recs) != 2 {
		t.Fatalf("durable records of batch %q: %d", batch, len(recs))
	}
	if recs := AllRecords(t, s, writeback.RecordQuery{BatchID: "B\x01\x01x"}); len(recs) != 0 {
		t.Fatalf("the escaped batch id found %d records", len(recs))
	}
	res := settleOK(t, s, batch, []writeback.TrackTask{{TrackID: "T\x00", TaskID: task}}, "T\x00")
	if res.Result.Decision != writeback.AllSettledConsolidate || !res.FirstConsolidation {
		t.Fatalf("settle of %q: %+v", batch, res.Result)
	}
	if r := res.Result.TrackStates[0]; !r.DurableSuccessPresent || r.TaskID != task {
		t.Fatalf("track state %+v", r)
	}
}

func ledgerConflictRace(t *testing.T, ss []writeback.Store) {
	b := Binding("task-1", "T1", "batch-1")
	wb(t, ss[0], req(b))
	c := b
	c.AuthoritativeVerdict = "PASS"
	const n = 12
	var wg sync.WaitGroup
	recorded := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			out, err := ss[i%len(ss)].Writeback(bg, req(c))
			if err != nil {
				t.Error(err)
				return
			}
			recorded[i] = out.ConflictRecorded
		})
	}
	wg.Wait()
	count := 0
	for _, r := range recorded {
		if r {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d calls recorded the conflict, want exactly 1", count)
	}
	if k := kinds(AllRecords(t, ss[1], writeback.RecordQuery{})); k[writeback.KindConflict] != 1 {
		t.Fatalf("ledger kinds %v", k)
	}
}

func ledgerBindingGuard(t *testing.T, s writeback.Store) {
	// A registered task whose binding matches is written back.
	for _, st := range []string{writeback.StatusRegistered, writeback.StatusDispatched} {
		if err := s.AppendRegistry(bg, Registry("task-g", st)); err != nil {
			t.Fatal(err)
		}
	}
	wantClass(t, wb(t, s, req(Binding("task-g", "T1", "b"))), "PASS", writeback.DurableSuccessWritten, true)
	// A derived dispatch id passes the dispatch check of the history.
	d := Binding("task-g", "T1", "b2")
	d.DispatchID = writeback.DerivedDispatchPrefix + "x"
	wantClass(t, wb(t, s, req(d)), "PASS", writeback.DurableSuccessWritten, true)
	// A COMPLETED record binds the normal collector cron.
	n := Binding("task-g", "T1", "b3")
	n.DispatchID = writeback.DerivedDispatchPrefix + "y"
	n.NormalCollectorCronID = "ncc-other"
	out := wb(t, s, req(n))
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
	if !out.ConflictRecorded {
		t.Fatal("guard refusal not recorded")
	}
	// Chat id: the verdict's, else the default.
	ch := Binding("task-chat", "T1", "b")
	ch.ChatID = "777"
	wantClass(t, wb(t, s, req(ch)), "PASS", writeback.DurableSuccessWritten, true)
	h, err := s.RegistryHistory(bg, "task-chat")
	if err != nil || len(h) != 1 || h[0].ChatID != "777" {
		t.Fatalf("mirror chat: %+v %v", h, err)
	}
	ch2 := Binding("task-chat", "T2", "b")
	out = wb(t, s, req(ch2)) // default chat id differs from the history's 777
	wantClass(t, out, "FAIL", writeback.WritebackBindingConflict, false)
}

func ledgerMirrorInvalid(t *testing.T, s writeback.Store) {
	// No default chat id and none in the verdict: the mirror would be
	// invalid, so only the durable record is written, with a warning.
	out := wb(t, s, req(Binding("task-m", "T1", "b")))
	wantClass(t, out, "PASS", writeback.DurableSuccessWritten, true)
	r := out.Decision.Reasons
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "WARN") {
		t.Fatalf("reasons %q do not end with the mirror warning", r)
	}
	recs := AllRecords(t, s, writeback.RecordQuery{})
	if len(recs) != 1 || recs[0].Kind != writeback.KindDurable {
		t.Fatalf("records %v, want the durable record alone", kinds(recs))
	}
	if c, err := s.Classify(bg, "task-m"); err != nil || c != writeback.ClassUnknown {
		t.Fatalf("classify %s %v", c, err)
	}
	wantClass(t, wb(t, s, req(Binding("task-m", "T1", "b"))), "PASS", writeback.WritebackIdempotentSkip, false)
}

func ledgerMirrorFallback(t *testing.T, s writeback.Store) {
	b := Binding("task-fb", "T1", "b")
	fb := "fallback-cron-1"
	b.FallbackCallbackCronID = &fb
	b.ChatID = "chat-9"
	r := req(b)
	r.Expected = map[string]any{"task_id": "task-fb", "track_id": "T1", "collector_key": Keys[0], "authoritative_verdict": writeback.AuthoritativePass}
	out := wb(t, s, r)
	wantClass(t, out, "PASS", writeback.DurableSuccessWritten, true)
	recs := AllRecords(t, s, writeback.RecordQuery{})
	if len(recs) != 2 || recs[1].Registry == nil {
		t.Fatalf("records %v", kinds(recs))
	}
	m := recs[1].Registry
	if m.FallbackCallbackCronID == nil || *m.FallbackCallbackCronID != fb || m.NoFallback || m.ChatID != "chat-9" ||
		m.Status != writeback.StatusCompleted || m.Role != writeback.MirrorRole || m.TsKST != b.CompletedAt {
		t.Fatalf("mirror %+v", m)
	}
	if d := recs[0].Durable; d.FallbackCallbackCronID == nil || *d.FallbackCallbackCronID != fb || d.ChatID != "chat-9" {
		t.Fatalf("durable %+v", d)
	}
	for _, r := range recs {
		checkRecord(t, r)
	}
}

func settleOK(t *testing.T, s writeback.Store, batch string, tracks []writeback.TrackTask, this string) writeback.SettleOutcome {
	t.Helper()
	out, err := s.Settle(bg, batch, tracks, this)
	if err != nil {
		t.Fatalf("Settle(%s): %v", batch, err)
	}
	return out
}

func ledgerSettle(t *testing.T, s writeback.Store) {
	tracks := Tracks("b7", 3)
	res := settleOK(t, s, "b7", tracks, "T1")
	if r := res.Result; r.Decision != writeback.RecordAndDefer || r.AllSettled || len(r.TracksSettled) != 0 ||
		len(r.TrackStates) != 3 || r.TrackStates[0].TerminalStatus != "PENDING" || r.TrackStates[0].DurableSuccessPresent {
		t.Fatalf("empty batch: %+v", r)
	}
	if r := res.Result; r.Schema != writeback.BatchSettleSchema || r.BatchID != "b7" || r.EvaluatedAtBasis != writeback.EvaluatedAtBasis ||
		!r.FallbackPendingNonBlocking || len(r.TracksExpected) != 3 || r.ThisCollectorIsLastSettleTrack {
		t.Fatalf("result header %+v", r)
	}
	for i, tt := range tracks[:2] {
		wb(t, s, req(Binding(tt.TaskID, tt.TrackID, "b7")))
		res := settleOK(t, s, "b7", tracks, tt.TrackID)
		if res.Result.Decision != writeback.RecordAndDefer || res.FirstConsolidation || res.Result.ConsolidatedSummaryCandidatePath != nil ||
			len(res.Result.TracksSettled) != i+1 {
			t.Fatalf("after %d tracks: %+v", i+1, res)
		}
	}
	if _, err := s.Summary(bg, "b7"); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("Summary before consolidation: %v", err)
	}
	// A durable success of another batch does not settle the track, and a
	// non-COMPLETED status is refused (a recorded conflict).
	wb(t, s, req(Binding(tracks[2].TaskID, tracks[2].TrackID, "other-batch")))
	f := Binding(tracks[2].TaskID+"-f", tracks[2].TrackID, "b7")
	f.TerminalStatus = writeback.StatusFailed
	wantClass(t, wb(t, s, req(f)), "FAIL", writeback.WritebackBindingConflict, false)
	res = settleOK(t, s, "b7", tracks, "T3")
	if res.Result.Decision != writeback.RecordAndDefer || res.Result.TrackStates[2].TerminalStatus != "PENDING" ||
		res.Result.TrackStates[2].DurableSuccessPresent || res.FirstConsolidation {
		t.Fatalf("failed track: %+v", res.Result)
	}
	wb(t, s, req(Binding(tracks[2].TaskID, tracks[2].TrackID, "b7")))
	res = settleOK(t, s, "b7", tracks, "T3")
	r := res.Result
	if r.Decision != writeback.AllSettledConsolidate || !r.AllSettled || !r.AllAuthoritativePass || !r.ThisCollectorIsLastSettleTrack ||
		len(r.TracksSettled) != 3 || !res.FirstConsolidation {
		t.Fatalf("consolidation: %+v first=%v", r, res.FirstConsolidation)
	}
	if p := r.ConsolidatedSummaryCandidatePath; p == nil || *p != writeback.SummariesRelDir+"/b7.json" {
		t.Fatalf("summary path %v", p)
	}
	sum, err := s.Summary(bg, "b7")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Schema != writeback.SummarySchema || sum.BatchID != "b7" || len(sum.Records) != 3 || sum.WrittenAt == "" ||
		sum.Result.Decision != writeback.AllSettledConsolidate || sum.Records[2].TaskID != tracks[2].TaskID {
		t.Fatalf("summary %+v", sum)
	}
	// An unexpected this-track is not the last settle track.
	if again := settleOK(t, s, "b7", tracks, "T9"); again.Result.ThisCollectorIsLastSettleTrack || again.FirstConsolidation {
		t.Fatalf("later settle: %+v", again)
	}
	// No tracks: never settled.
	if none := settleOK(t, s, "b-none", nil, ""); none.Result.AllSettled || none.Result.Decision != writeback.RecordAndDefer {
		t.Fatalf("no tracks: %+v", none.Result)
	}
}

func ledgerLastWriteWins(t *testing.T, s writeback.Store) {
	tracks := []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}, {TrackID: "T2", TaskID: "task-2"}}
	wb(t, s, req(Binding("task-1", "T1", "b")))
	wb(t, s, req(Binding("task-2", "T2", "b")))
	// A later durable success of T1 with a PASS (not AUTHORITATIVE_PASS)
	// verdict, under a derived dispatch: last write wins, the batch stays
	// settled but is not consolidated.
	later := Binding("task-1", "T1", "b")
	later.DispatchID = writeback.DerivedDispatchPrefix + "retry"
	later.AuthoritativeVerdict = "PASS"
	wantClass(t, wb(t, s, req(later)), "PASS", writeback.DurableSuccessWritten, true)
	res := settleOK(t, s, "b", tracks, "T1")
	r := res.Result
	if !r.AllSettled || r.AllAuthoritativePass || r.Decision != writeback.RecordAndDefer || res.FirstConsolidation {
		t.Fatalf("after a PASS rewrite: %+v", r)
	}
	if v := r.TrackStates[0].AuthoritativeVerdict; v == nil || *v != "PASS" {
		t.Fatalf("T1 verdict %v, want the last write's PASS", v)
	}
	// And back to AUTHORITATIVE_PASS: consolidated.
	again := Binding("task-1", "T1", "b")
	again.DispatchID = writeback.DerivedDispatchPrefix + "retry2"
	wantClass(t, wb(t, s, req(again)), "PASS", writeback.DurableSuccessWritten, true)
	res = settleOK(t, s, "b", tracks, "T2")
	if res.Result.Decision != writeback.AllSettledConsolidate || !res.FirstConsolidation {
		t.Fatalf("after the AUTHORITATIVE_PASS rewrite: %+v", res.Result)
	}
	sum, err := s.Summary(bg, "b")
	if err != nil || sum.Records[0].DispatchID != again.DispatchID {
		t.Fatalf("summary holds %+v %v, want the last write", sum.Records, err)
	}
}

func ledgerSummaryOnce(t *testing.T, ss []writeback.Store) {
	tracks := Tracks("b-once", 3)
	for i, tt := range tracks {
		wb(t, ss[i%len(ss)], req(Binding(tt.TaskID, tt.TrackID, "b-once")))
	}
	const n = 8
	results := make([]writeback.SettleOutcome, n)
	errs := make([]error, n)
	Together(n, func(i int) {
		results[i], errs[i] = ss[i%len(ss)].Settle(bg, "b-once", tracks, "T3")
	})
	first := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.Result.Decision != writeback.AllSettledConsolidate || r.Result.ConsolidatedSummaryCandidatePath == nil {
			t.Fatalf("result %+v", r.Result)
		}
		if r.FirstConsolidation {
			first++
		}
	}
	if first != 1 {
		t.Fatalf("%d first consolidations, want exactly 1", first)
	}
	for _, s := range ss {
		sum, err := s.Summary(bg, "b-once")
		if err != nil || len(sum.Records) != 3 {
			t.Fatalf("summary %+v %v", sum, err)
		}
	}
}

// BadBatchIDs are batch ids every command and route refuses (InvalidInput).
var BadBatchIDs = []string{"", ".", "..", "a/b", "../x", "/abs", "a\\b", "a\x00b", "x.tmp-1", strings.Repeat("b", 300), strings.Repeat("b", settle.MaxNameBytes+1)}

func ledgerBatchNames(t *testing.T, s writeback.Store) {
	for _, bad := range BadBatchIDs {
		_, err := s.Settle(bg, bad, Tracks("x", 1), "")
		WantCode(t, err, settle.InvalidInput)
		_, err = s.Summary(bg, bad)
		WantCode(t, err, settle.InvalidInput)
		_, err = s.GetBatch(bg, bad)
		WantCode(t, err, settle.InvalidInput)
		WantCode(t, s.DeclareBatch(bg, writeback.Batch{BatchID: bad, Tracks: Tracks("x", 1)}), settle.InvalidInput)
	}
}

// ledgerWritebackBatchNames: a write-back of a batch id no batch can have
// is refused and appends nothing, dry run or not; the longest id is taken.
func ledgerWritebackBatchNames(t *testing.T, s writeback.Store) {
	for i, bad := range BadBatchIDs {
		if bad == "" {
			continue // the seed's FAIL verdict (a missing field), covered by Refusals
		}
		for _, dry := range []bool{true, false} {
			r := req(Binding(fmt.Sprintf("task-k%d", i), "T1", bad))
			r.DryRun = dry
			_, err := s.Writeback(bg, r)
			WantCode(t, err, settle.InvalidInput)
			if err != nil && !strings.Contains(err.Error(), "batch_id") {
				t.Fatalf("refusal of %q does not name batch_id: %v", bad, err)
			}
		}
	}
	if n := len(AllRecords(t, s, writeback.RecordQuery{After: -1})); n != 0 {
		t.Fatalf("%d records appended by refused write-backs", n)
	}
	long := strings.Repeat("b", settle.MaxNameBytes)
	out := wb(t, s, req(Binding("task-long", "T1", long)))
	if !out.Decision.Appended {
		t.Fatalf("write-back of a %d-byte batch id not appended: %+v", len(long), out.Decision)
	}
	res, err := s.Settle(bg, long, []writeback.TrackTask{{TrackID: "T1", TaskID: "task-long"}}, "")
	OK(t, err)
	if res.Result.Decision != writeback.AllSettledConsolidate {
		t.Fatalf("settle of the longest batch id: %+v", res.Result)
	}
}

func ledgerBatches(t *testing.T, s writeback.Store) {
	_, err := s.GetBatch(bg, "b1")
	WantCode(t, err, settle.NotFound)
	cases := []struct {
		name string
		b    writeback.Batch
		code settle.Code
	}{
		{"no tracks", writeback.Batch{BatchID: "b1"}, settle.InvalidInput},
		{"empty track id", writeback.Batch{BatchID: "b1", Tracks: []writeback.TrackTask{{TaskID: "t"}}}, settle.InvalidInput},
		{"blank task id", writeback.Batch{BatchID: "b1", Tracks: []writeback.TrackTask{{TrackID: "T", TaskID: "  "}}}, settle.InvalidInput},
		{"duplicate track", writeback.Batch{BatchID: "b1", Tracks: []writeback.TrackTask{{TrackID: "T", TaskID: "a"}, {TrackID: "T", TaskID: "b"}}}, settle.InvalidInput},
		{"valid", writeback.Batch{BatchID: "b1", Tracks: Tracks("b1", 3)}, ""},
		{"replaced", writeback.Batch{BatchID: "b1", Tracks: Tracks("b1", 2)}, ""},
	}
	for _, tc := range cases {
		err := s.DeclareBatch(bg, tc.b)
		if tc.code != "" {
			WantCode(t, err, tc.code)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := s.GetBatch(bg, "b1")
		if err != nil || got.BatchID != "b1" || len(got.Tracks) != len(tc.b.Tracks) {
			t.Fatalf("%s: GetBatch = %+v, %v", tc.name, got, err)
		}
		for i := range got.Tracks {
			if got.Tracks[i] != tc.b.Tracks[i] {
				t.Fatalf("%s: track %d = %+v", tc.name, i, got.Tracks[i])
			}
		}
	}
	if _, err := s.GetBatch(bg, "b2"); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("undeclared batch: %v", err)
	}
}

func ledgerRegistry(t *testing.T, s writeback.Store) {
	bad := Registry("task-1", "BOGUS")
	bad.NoFallback = false
	err := s.AppendRegistry(bg, bad)
	WantCode(t, err, settle.InvalidInput)
	if !strings.Contains(err.Error(), "status") || !strings.Contains(err.Error(), "fallback") {
		t.Fatalf("error does not list the reasons: %v", err)
	}
	invalid := []func(r *writeback.RegistryRecord){
		func(r *writeback.RegistryRecord) { r.Schema = "other.v1" },
		func(r *writeback.RegistryRecord) { r.TaskID = " " },
		func(r *writeback.RegistryRecord) { r.ChatID = "" },
		func(r *writeback.RegistryRecord) { fb := "fb-cron"; r.FallbackCallbackCronID = &fb },
	}
	for i, f := range invalid {
		r := Registry("task-1", writeback.StatusRegistered)
		f(&r)
		WantCode(t, s.AppendRegistry(bg, r), settle.InvalidInput)
		if len(AllRecords(t, s, writeback.RecordQuery{})) != 0 {
			t.Fatalf("invalid record %d was written", i)
		}
	}
	fb := Registry("task-fb", writeback.StatusRegistered)
	cron := "fb-cron"
	fb.FallbackCallbackCronID, fb.NoFallback = &cron, false
	if err := s.AppendRegistry(bg, fb); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Classify(bg, "task-fb"); c != writeback.ClassRegistered {
		t.Fatalf("classify %s", c)
	}
	for _, st := range []string{writeback.StatusRegistered, writeback.StatusDispatched, writeback.StatusFailed} {
		if err := s.AppendRegistry(bg, Registry("task-1", st)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.RegistryHistory(bg, "task-1")
	if err != nil || len(h) != 3 || h[0].Status != writeback.StatusRegistered || h[2].Status != writeback.StatusFailed {
		t.Fatalf("history %+v %v", h, err)
	}
	if c, _ := s.Classify(bg, "task-1"); c != writeback.ClassFailed {
		t.Fatalf("classify %s, want FAILED (last record)", c)
	}
	if err := s.AppendRegistry(bg, Registry("task-1", writeback.StatusCancelled)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Classify(bg, "task-1"); c != writeback.ClassRegistered {
		t.Fatalf("classify %s, want REGISTERED", c)
	}
	if err := s.AppendRegistry(bg, Registry("task-1", writeback.StatusCompleted)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendRegistry(bg, Registry("task-1", writeback.StatusFailed)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Classify(bg, "task-1"); c != writeback.ClassNormalCallbackCompleted {
		t.Fatalf("classify %s, want NORMAL_CALLBACK_COMPLETED (any COMPLETED)", c)
	}
	if c, _ := s.Classify(bg, "task-none"); c != writeback.ClassUnknown {
		t.Fatalf("classify %s", c)
	}
	if h, err := s.RegistryHistory(bg, "task-none"); err != nil || len(h) != 0 {
		t.Fatalf("empty history %+v %v", h, err)
	}
	for _, r := range AllRecords(t, s, writeback.RecordQuery{}) {
		checkRecord(t, r)
	}
}

func ledgerRecords(t *testing.T, s writeback.Store) {
	for i := range 25 {
		batch := fmt.Sprintf("b%d", i%3)
		wb(t, s, req(Binding(fmt.Sprintf("task-%d", i), "T1", batch)))
		if i%5 == 0 {
			c := Binding(fmt.Sprintf("task-%d", i), "T1", batch)
			c.AuthoritativeVerdict = "PASS"
			wb(t, s, req(c)) // conflict record
		}
	}
	if err := s.AppendRegistry(bg, Registry("task-3", writeback.StatusDispatched)); err != nil {
		t.Fatal(err)
	}
	all := AllRecords(t, s, writeback.RecordQuery{Limit: 7})
	if len(all) != 25*2+5+1 {
		t.Fatalf("%d records", len(all))
	}
	for i, r := range all {
		if r.Seq != int64(i) {
			t.Fatalf("record %d: seq %d", i, r.Seq)
		}
		checkRecord(t, r)
	}
	if big := AllRecords(t, s, writeback.RecordQuery{Limit: 5000}); len(big) != len(all) {
		t.Fatalf("limit above the cap: %d records", len(big))
	}
	p, err := s.Records(bg, writeback.RecordQuery{After: -1})
	if err != nil || len(p.Records) != len(all) || p.Next != -1 {
		t.Fatalf("default limit page: %d records next %d %v", len(p.Records), p.Next, err)
	}
	p, err = s.Records(bg, writeback.RecordQuery{After: -5, Limit: 2})
	if err != nil || len(p.Records) != 2 || p.Records[0].Seq != 0 || p.Next != 1 {
		t.Fatalf("cursor before the start: %+v %v", p, err)
	}
	cases := []struct {
		name string
		q    writeback.RecordQuery
		want func(writeback.LedgerRecord) bool
	}{
		{"durable", writeback.RecordQuery{Kind: writeback.KindDurable, Limit: 4}, func(r writeback.LedgerRecord) bool { return r.Kind == writeback.KindDurable }},
		{"registry", writeback.RecordQuery{Kind: writeback.KindRegistry, Limit: 9}, func(r writeback.LedgerRecord) bool { return r.Kind == writeback.KindRegistry }},
		{"conflict", writeback.RecordQuery{Kind: writeback.KindConflict}, func(r writeback.LedgerRecord) bool { return r.Kind == writeback.KindConflict }},
		{"batch", writeback.RecordQuery{BatchID: "b1", Limit: 3}, func(r writeback.LedgerRecord) bool {
			return (r.Durable != nil && r.Durable.BatchID == "b1") || (r.Conflict != nil && r.Conflict.BatchID == "b1")
		}},
		{"task", writeback.RecordQuery{TaskID: "task-3", Limit: 1}, func(r writeback.LedgerRecord) bool {
			return (r.Durable != nil && r.Durable.TaskID == "task-3") || (r.Registry != nil && r.Registry.TaskID == "task-3")
		}},
		{"task and batch and kind", writeback.RecordQuery{TaskID: "task-10", BatchID: "b1", Kind: writeback.KindConflict}, func(r writeback.LedgerRecord) bool {
			return r.Conflict != nil && r.Conflict.TaskID == "task-10" && r.Conflict.BatchID == "b1"
		}},
		{"no match", writeback.RecordQuery{TaskID: "nope"}, func(writeback.LedgerRecord) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AllRecords(t, s, tc.q)
			var want []int64
			for _, r := range all {
				if tc.want(r) {
					want = append(want, r.Seq)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Seq != want[i] {
					t.Fatalf("record %d seq %d, want %d", i, got[i].Seq, want[i])
				}
			}
		})
	}
	t.Run("cursor past the end", func(t *testing.T) {
		p, err := s.Records(bg, writeback.RecordQuery{After: 1000})
		if err != nil || len(p.Records) != 0 || p.Next != -1 {
			t.Fatalf("%+v %v", p, err)
		}
	})
	t.Run("bad query", func(t *testing.T) {
		_, err := s.Records(bg, writeback.RecordQuery{Kind: "bogus", After: -1})
		WantCode(t, err, settle.InvalidInput)
		_, err = s.Records(bg, writeback.RecordQuery{Limit: -1, After: -1})
		WantCode(t, err, settle.InvalidInput)
	})
}

func ledgerConcurrent(t *testing.T, ss []writeback.Store) {
	const n = 48
	outs := make([]writeback.WritebackOutcome, n)
	errs := make([]error, n)
	Together(n, func(i int) {
		// Per task three identical requests and one with another
		// verdict: one success, skips, one recorded conflict.
		b := Binding(fmt.Sprintf("task-%d", i/4), "T1", "b")
		if i%4 == 3 {
			b.AuthoritativeVerdict = "ACCEPTED"
		}
		outs[i], errs[i] = ss[i%len(ss)].Writeback(bg, req(b))
	})
	success := map[string]int{}
	recorded := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		d := outs[i].Decision
		switch d.Classification {
		case writeback.DurableSuccessWritten:
			// Whichever candidate came first is the success; the
			// other verdict is then a conflict.
			success[d.TaskID]++
		case writeback.WritebackIdempotentSkip:
		case writeback.WritebackBindingConflict:
			if outs[i].ConflictRecorded {
				recorded[d.TaskID]++
			}
		default:
			t.Fatalf("request %d: %s", i, d.Classification)
		}
	}
	if len(success) != n/4 {
		t.Fatalf("%d tasks succeeded, want %d", len(success), n/4)
	}
	for task, c := range success {
		if c != 1 {
			t.Fatalf("task %s succeeded %d times", task, c)
		}
		if recorded[task] != 1 {
			t.Fatalf("task %s recorded %d conflicts, want 1", task, recorded[task])
		}
	}
	for _, s := range ss {
		recs := AllRecords(t, s, writeback.RecordQuery{})
		if wids := CheckRecordIDs(t, recs); wids != n/4 {
			t.Fatalf("%d writeback ids in the ledger, want %d", wids, n/4)
		}
		if k := kinds(recs); k[writeback.KindDurable] != n/4 || k[writeback.KindRegistry] != n/4 || k[writeback.KindConflict] != n/4 {
			t.Fatalf("ledger kinds %v", k)
		}
	}
}
