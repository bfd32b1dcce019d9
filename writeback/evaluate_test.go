package writeback_test

import (
	"strings"
	"testing"

	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

// cleanBinding is a binding the evaluator writes back on an empty ledger.
func cleanBinding() writeback.Binding {
	return writeback.Binding{
		TaskID: "task-1", TrackID: "T1",
		DispatchID: "disp-1", DispatchIDSource: "source_recorded",
		NormalCollectorCronID: "ncc-1", NormalCollectorCronIDSource: "source_recorded",
		CollectorKey: "anu-a", CollectorRole: "ANU", AuthoritativeVerdict: "AUTHORITATIVE_PASS",
		TerminalStatus: "COMPLETED", CompletedAt: "2025-01-01T00:00:00+09:00",
		SourceResultPath: "verdicts/v.json", BatchID: "B1", ExecutorKey: "exec-1",
	}
}

// viewOf builds a MemView from ledger lines: records (encoded with
// EncodeLine) or raw strings.
func viewOf(t *testing.T, lines ...any) *writeback.MemView {
	t.Helper()
	v := writeback.NewMemView()
	for i, l := range lines {
		var b []byte
		if s, ok := l.(string); ok {
			b = []byte(s)
		} else {
			var err error
			if b, err = writeback.EncodeLine(l); err != nil {
				t.Fatal(err)
			}
		}
		rec, ok := writeback.DecodeLine(b)
		if !ok {
			continue
		}
		rec.Seq = int64(i)
		v.Add(rec)
	}
	return v
}

func registry(task, dispatch, chat, ncc, status string) *writeback.RegistryRecord {
	return &writeback.RegistryRecord{
		Schema: writeback.RegistrySchema, TaskID: task, DispatchID: dispatch, DispatchCronID: dispatch,
		Executor: "e", ChatID: chat, NormalCollectorCronID: ncc, Role: "dispatcher", Status: status,
		NoFallback: true, TsKST: "t",
	}
}

func TestEvaluateClassifications(t *testing.T) {
	mod := func(f func(*writeback.Binding)) writeback.Binding {
		b := cleanBinding()
		f(&b)
		return b
	}
	written := cleanBinding().Record(writeback.DurableSuccessWritten)
	otherVerdict := mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "PASS" }).Record(writeback.DurableSuccessWritten)

	tests := []struct {
		name     string
		b        writeback.Binding
		expected map[string]any
		cfg      *writeback.Config
		ledger   []any
		verdict  string
		class    string
		record   string // "" none, else the record's writeback_classification
		reason   string // a substring of the first reason
	}{
		{name: "clean write-back", b: cleanBinding(), verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten, reason: "AUTHORITATIVE_PASS"},
		{name: "verdict PASS", b: mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "PASS" }), verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "verdict ACCEPTED", b: mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "ACCEPTED" }), verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},

		// 1. expectations.
		{name: "expected task mismatch", b: cleanBinding(), expected: map[string]any{"task_id": "task-2"}, verdict: "FAIL", class: writeback.TrackMismatch, record: writeback.TrackMismatch, reason: "['task_id']"},
		{name: "expected track mismatch", b: cleanBinding(), expected: map[string]any{"track_id": "T2", "collector_key": "x"}, verdict: "FAIL", class: writeback.TrackMismatch, record: writeback.TrackMismatch, reason: "['track_id', 'collector_key']"},
		{name: "expected key mismatch", b: cleanBinding(), expected: map[string]any{"collector_key": "anu-b"}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "expected dispatch mismatch", b: cleanBinding(), expected: map[string]any{"dispatch_id": pyjson.Int("1")}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "expected verdict mismatch", b: cleanBinding(), expected: map[string]any{"authoritative_verdict": "PASS"}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "expected compared as str", b: mod(func(b *writeback.Binding) { b.TaskID = "5"; b.TrackID = "True"; b.DispatchID = "1.0" }),
			expected: map[string]any{"task_id": pyjson.Int("5"), "track_id": true, "dispatch_id": 1.0}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "expected None as str", b: mod(func(b *writeback.Binding) { b.TaskID = "None" }), expected: map[string]any{"task_id": nil}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "expected go int", b: cleanBinding(), expected: map[string]any{"task_id": 7}, verdict: "FAIL", class: writeback.TrackMismatch, record: writeback.TrackMismatch},
		{name: "expected other keys ignored", b: cleanBinding(), expected: map[string]any{"chat_id": "x"}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "mismatch before self-chain", b: mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "FAIL" }), expected: map[string]any{"task_id": "x"}, verdict: "FAIL", class: writeback.TrackMismatch, record: writeback.TrackMismatch},

		// 2. terminal gate and selector.
		{name: "non-terminal verdict", b: mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "FAIL" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback, reason: "not a terminal"},
		{name: "empty verdict", b: mod(func(b *writeback.Binding) { b.AuthoritativeVerdict = "" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback},
		{name: "unconfigured key", b: mod(func(b *writeback.Binding) { b.CollectorKey = "rogue" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback, reason: "independent_anu_count=0"},
		{name: "empty key", b: mod(func(b *writeback.Binding) { b.CollectorKey = "" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback},
		{name: "role not ANU", b: mod(func(b *writeback.Binding) { b.CollectorRole = "EXECUTOR" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback},
		{name: "executor is collector", b: mod(func(b *writeback.Binding) { b.ExecutorKey = "anu-a" }), verdict: "FAIL", class: writeback.SelfChainNoWriteback},
		{name: "executor's own session", b: mod(func(b *writeback.Binding) { b.SessionIsExecutorSelf = true }), verdict: "FAIL", class: writeback.SelfChainNoWriteback},
		{name: "selector before idempotency", b: mod(func(b *writeback.Binding) { b.CollectorRole = "X" }), ledger: []any{written}, verdict: "FAIL", class: writeback.SelfChainNoWriteback},

		// 4. idempotency.
		{name: "idempotent skip", b: cleanBinding(), ledger: []any{written}, verdict: "PASS", class: writeback.WritebackIdempotentSkip, record: writeback.DurableSuccessWritten, reason: "idempotent"},
		{name: "skip ignores other fields", b: mod(func(b *writeback.Binding) { b.SourceResultPath = "elsewhere"; b.CompletedAt = "later" }), ledger: []any{written}, verdict: "PASS", class: writeback.WritebackIdempotentSkip, record: writeback.DurableSuccessWritten},
		{name: "skip returns a refused record too", b: cleanBinding(), ledger: []any{cleanBinding().Record(writeback.WritebackBindingConflict)}, verdict: "PASS", class: writeback.WritebackIdempotentSkip, record: writeback.WritebackBindingConflict},
		{name: "conflicting verdict", b: cleanBinding(), ledger: []any{otherVerdict}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict, reason: "ledger='PASS' vs candidate='AUTHORITATIVE_PASS'"},
		{name: "skip first in ledger wins", b: cleanBinding(), ledger: []any{written, otherVerdict}, verdict: "PASS", class: writeback.WritebackIdempotentSkip, record: writeback.DurableSuccessWritten},
		{name: "conflict first in ledger wins", b: cleanBinding(), ledger: []any{otherVerdict, written}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "other batch is no conflict", b: mod(func(b *writeback.Binding) { b.BatchID = "B2" }), ledger: []any{otherVerdict}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "other dispatch is no conflict", b: mod(func(b *writeback.Binding) { b.DispatchID = "derived:task-1" }), ledger: []any{otherVerdict}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "registry lines are not durable", b: cleanBinding(), ledger: []any{registry("task-1", "disp-1", "chat-default", "ncc-1", "REGISTERED")}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "corrupt lines skipped", b: cleanBinding(), ledger: []any{"[1,2]", "{not json", `{"schema": "other"}`}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},

		// 5. binding guard.
		{name: "history dispatch mismatch", b: cleanBinding(), ledger: []any{registry("task-1", "disp-9", "chat-default", "ncc-1", "REGISTERED")}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict, reason: "dispatch_id 'disp-9'"},
		{name: "derived dispatch tolerates history", b: mod(func(b *writeback.Binding) { b.DispatchID = "derived:task-1" }), ledger: []any{registry("task-1", "disp-9", "chat-default", "ncc-1", "REGISTERED")}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "history chat mismatch", b: cleanBinding(), ledger: []any{registry("task-1", "disp-1", "chat-other", "ncc-1", "REGISTERED")}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict, reason: "chat_id"},
		{name: "verdict chat against history", b: mod(func(b *writeback.Binding) { b.ChatID = "chat-other" }), ledger: []any{registry("task-1", "disp-1", "chat-other", "ncc-1", "REGISTERED")}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "completed ncc mismatch", b: cleanBinding(), ledger: []any{registry("task-1", "disp-1", "chat-default", "ncc-9", "COMPLETED")}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "registered ncc mismatch is fine", b: cleanBinding(), ledger: []any{registry("task-1", "disp-1", "chat-default", "ncc-9", "REGISTERED")}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "other task's history ignored", b: cleanBinding(), ledger: []any{registry("task-2", "disp-9", "chat-other", "ncc-9", "COMPLETED")}, verdict: "PASS", class: writeback.DurableSuccessWritten, record: writeback.DurableSuccessWritten},
		{name: "history with missing chat", b: cleanBinding(), ledger: []any{`{"schema": "callback_4tuple_ledger_record.v1", "task_id": "task-1", "dispatch_id": "disp-1"}`}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict},
		{name: "history without a task id is nobody's", b: mod(func(b *writeback.Binding) { b.TaskID = "" }), ledger: []any{`{"schema": "callback_4tuple_ledger_record.v1", "dispatch_id": "x"}`}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.DurableSuccessWritten, reason: "mandatory"},
		{name: "history with an empty task id", b: mod(func(b *writeback.Binding) { b.TaskID = "" }), ledger: []any{`{"schema": "callback_4tuple_ledger_record.v1", "task_id": "", "dispatch_id": "x"}`}, verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.WritebackBindingConflict, reason: "binding guard"},

		// 6. mandatory fields.
		{name: "missing completed_at", b: mod(func(b *writeback.Binding) { b.CompletedAt = "" }), verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.DurableSuccessWritten, reason: "['completed_at']"},
		{name: "missing task and batch", b: mod(func(b *writeback.Binding) { b.TaskID = ""; b.BatchID = "" }), verdict: "FAIL", class: writeback.WritebackBindingConflict, record: writeback.DurableSuccessWritten, reason: "['task_id', 'batch_id']"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			d := writeback.Evaluate(writeback.WritebackRequest{Binding: tt.b, Expected: tt.expected}, cfg, viewOf(t, tt.ledger...))
			if d.Verdict != tt.verdict || d.Classification != tt.class {
				t.Fatalf("got %s %s, want %s %s (%v)", d.Verdict, d.Classification, tt.verdict, tt.class, d.Reasons)
			}
			if d.Schema != writeback.ModuleSchema || d.TaskID != tt.b.TaskID || d.TrackID != tt.b.TrackID || d.BatchID != tt.b.BatchID || d.Appended {
				t.Errorf("decision header %+v", d)
			}
			switch {
			case tt.record == "" && d.DurableRecord != nil:
				t.Errorf("unexpected record %+v", d.DurableRecord)
			case tt.record != "" && d.DurableRecord == nil:
				t.Errorf("no record")
			case tt.record != "" && d.DurableRecord.WritebackClassification != tt.record:
				t.Errorf("record classification %s, want %s", d.DurableRecord.WritebackClassification, tt.record)
			}
			if len(d.Reasons) == 0 || !strings.Contains(d.Reasons[0], tt.reason) {
				t.Errorf("reasons %q, want one with %q", d.Reasons, tt.reason)
			}
			if d.OK() != (tt.verdict == "PASS") {
				t.Errorf("OK() = %v", d.OK())
			}
		})
	}
}

func TestEvaluateDefaultChatID(t *testing.T) {
	ledger := []any{registry("task-1", "disp-1", "chat-x", "ncc-1", "REGISTERED")}
	cfg := testConfig
	cfg.DefaultChatID = "chat-x"
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: cleanBinding()}, cfg, viewOf(t, ledger...))
	if d.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("default chat id not used: %s %v", d.Classification, d.Reasons)
	}
	if d.DurableRecord.ChatID != "" {
		t.Errorf("the record keeps the verdict's (empty) chat id, got %q", d.DurableRecord.ChatID)
	}
}

func TestEvaluateSkipRecordIsACopy(t *testing.T) {
	v := viewOf(t, cleanBinding().Record(writeback.DurableSuccessWritten))
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: cleanBinding()}, testConfig, v)
	d.DurableRecord.TaskID = "mutated"
	if v.Latest("B1", "T1").TaskID != "task-1" {
		t.Fatal("the decision aliases the view's record")
	}
}

func TestWritebackID(t *testing.T) {
	b := cleanBinding()
	// sha256("task-1|T1|disp-1|anu-a|AUTHORITATIVE_PASS|B1"), from Python's hashlib.
	const want = "d60e7a1bda81f2b455564e467be1b813fe4a8ffb6af2d9869c8cbec16ed0cf53"
	got := b.WritebackID()
	if got != want {
		t.Errorf("WritebackID = %s, want %s", got, want)
	}
	if b.Record("X").WritebackID != got {
		t.Error("record id differs")
	}
}

func TestSelectAuthoritative(t *testing.T) {
	keys := []string{"k1", "k2"}
	ind := writeback.VerdictRecord{Verdict: "PASS", TaskID: "t", CollectorKey: "k1", CollectorRole: "ANU", ExecutorKey: "e"}
	fail := ind
	fail.Verdict = "FAIL"
	self := ind
	self.SessionIsExecutorSelf = true
	otherTask := ind
	otherTask.TaskID = "u"
	tests := []struct {
		name       string
		recs       []writeback.VerdictRecord
		class      string
		ind, selfc int
	}{
		{"none", nil, writeback.NoAuthoritativeVerdict, 0, 0},
		{"independent pass", []writeback.VerdictRecord{ind}, writeback.AuthoritativePass, 1, 0},
		{"independent fail", []writeback.VerdictRecord{ind, fail}, writeback.AuthoritativeFail, 2, 0},
		{"self-chain only", []writeback.VerdictRecord{self, otherTask}, writeback.NoAuthoritativeVerdict, 0, 2},
		{"self-chain quarantined", []writeback.VerdictRecord{ind, self}, writeback.AuthoritativePass, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := writeback.SelectAuthoritative(tt.recs, "t", keys)
			if s.Classification != tt.class || s.IndependentANUCount != tt.ind || s.SelfChainCount != tt.selfc || len(s.Reasons) != tt.selfc {
				t.Errorf("got %+v", s)
			}
		})
	}
}

func TestGuardSelfCollector(t *testing.T) {
	tests := []struct {
		name            string
		exec, key, role string
		self            bool
		reasons         int
	}{
		{"ok", "e", "k", "ANU", false, 0},
		{"ok without executor", "", "k", "ANU", false, 0},
		{"own session", "e", "k", "ANU", true, 1},
		{"empty key", "e", "", "ANU", false, 1},
		{"executor is collector", "k", "k", "ANU", false, 1},
		{"role", "e", "k", "EXEC", false, 1},
		{"everything", "", "", "", true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := writeback.GuardSelfCollector(tt.exec, tt.key, tt.role, tt.self)
			if g.OK != (tt.reasons == 0) || len(g.Reasons) != tt.reasons {
				t.Errorf("got %+v", g)
			}
		})
	}
}

func TestGuardBindingOwner(t *testing.T) {
	c := writeback.BindingCandidate{TaskID: "t", DispatchID: "d", ChatID: "c", NormalCollectorCronID: "n", OwnerKey: "k9", ExecutorKey: "k9", SessionIsExecutorSelf: true}
	g := writeback.GuardBinding(nil, c, []string{"k1"})
	if g.OK || len(g.Reasons) != 3 {
		t.Errorf("got %+v", g)
	}
}

// TestHardeningE_NonCompletedBindingIsAConflict: a binding given directly
// with a terminal_status other than COMPLETED is a recorded conflict, never
// a durable success, and a FAILED replay of a written success is no
// idempotent skip.
func TestHardeningE_NonCompletedBindingIsAConflict(t *testing.T) {
	for _, status := range []string{writeback.StatusFailed, writeback.StatusCancelled, "PENDING", ""} {
		b := cleanBinding()
		b.TerminalStatus = status
		for name, v := range map[string]*writeback.MemView{
			"empty ledger":     viewOf(t),
			"success recorded": viewOf(t, cleanBinding().Record(writeback.DurableSuccessWritten)),
		} {
			d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, testConfig, v)
			if d.Verdict != "FAIL" || d.Classification != writeback.WritebackBindingConflict || writeback.ShouldApply(&d) {
				t.Fatalf("%q, %s: got %s %s %v", status, name, d.Verdict, d.Classification, d.Reasons)
			}
			if d.DurableRecord == nil || d.DurableRecord.WritebackClassification != writeback.WritebackBindingConflict ||
				d.DurableRecord.TerminalStatus != status || !strings.Contains(d.Reasons[0], "terminal_status") {
				t.Fatalf("%q, %s: candidate %+v reasons %v", status, name, d.DurableRecord, d.Reasons)
			}
		}
	}
	// The self-chain checks still come first.
	b := cleanBinding()
	b.TerminalStatus = writeback.StatusFailed
	b.ExecutorKey = b.CollectorKey
	if d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, testConfig, nil); d.Classification != writeback.SelfChainNoWriteback {
		t.Fatalf("self-chain FAILED binding: %s", d.Classification)
	}
}
