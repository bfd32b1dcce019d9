package writeback_test

import (
	"strings"
	"testing"

	"github.com/settlehq/settle/writeback"
)

func TestValidateRegistry(t *testing.T) {
	fb := "fb-1"
	empty := ""
	valid := *registry("task-1", "d", "c", "n", "REGISTERED")
	mod := func(f func(*writeback.RegistryRecord)) writeback.RegistryRecord {
		r := valid
		f(&r)
		return r
	}
	tests := []struct {
		name string
		rec  writeback.RegistryRecord
		errs []string
	}{
		{"valid", valid, nil},
		{"valid with fallback", mod(func(r *writeback.RegistryRecord) { r.FallbackCallbackCronID = &fb; r.NoFallback = false }), nil},
		{"every status", mod(func(r *writeback.RegistryRecord) { r.Status = "CANCELLED" }), nil},
		{"schema", mod(func(r *writeback.RegistryRecord) { r.Schema = "x" }), []string{"schema 'x' != 'callback_4tuple_ledger_record.v1'"}},
		{"empty task", mod(func(r *writeback.RegistryRecord) { r.TaskID = "" }), []string{"task_id missing or empty"}},
		{"blank chat", mod(func(r *writeback.RegistryRecord) { r.ChatID = " \u3000" }), []string{"chat_id missing or empty"}},
		{"empty status", mod(func(r *writeback.RegistryRecord) { r.Status = "" }), []string{"status missing or empty", "status '' not in"}},
		{"bad status", mod(func(r *writeback.RegistryRecord) { r.Status = "DONE" }), []string{"status 'DONE' not in ('REGISTERED', 'DISPATCHED', 'COMPLETED', 'FAILED', 'CANCELLED')"}},
		{"no_fallback with fallback", mod(func(r *writeback.RegistryRecord) { r.FallbackCallbackCronID = &fb }), []string{"no_fallback is true but"}},
		{"fallback expected", mod(func(r *writeback.RegistryRecord) { r.NoFallback = false }), []string{"no_fallback is false but"}},
		{"empty fallback is none", mod(func(r *writeback.RegistryRecord) { r.FallbackCallbackCronID = &empty; r.NoFallback = false }), []string{"no_fallback is false but"}},
		{"everything", writeback.RegistryRecord{}, []string{"schema", "task_id", "dispatch_id", "dispatch_cron_id", "executor", "chat_id",
			"normal_collector_cron_id", "role", "status missing", "ts_kst", "status '' not in", "no_fallback is false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := writeback.ValidateRegistry(tt.rec)
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %q, want %d like %q", errs, len(tt.errs), tt.errs)
			}
			for i := range errs {
				if !strings.Contains(errs[i], tt.errs[i]) {
					t.Errorf("error %d %q, want %q", i, errs[i], tt.errs[i])
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	st := func(ss ...string) []writeback.RegistryRecord {
		var h []writeback.RegistryRecord
		for _, s := range ss {
			h = append(h, *registry("t", "d", "c", "n", s))
		}
		return h
	}
	tests := []struct {
		name string
		h    []writeback.RegistryRecord
		want string
	}{
		{"empty", nil, writeback.ClassUnknown},
		{"registered", st("REGISTERED", "DISPATCHED"), writeback.ClassRegistered},
		{"failed last", st("REGISTERED", "FAILED"), writeback.ClassFailed},
		{"failed then registered", st("FAILED", "REGISTERED"), writeback.ClassRegistered},
		{"completed anywhere", st("COMPLETED", "FAILED"), writeback.ClassNormalCallbackCompleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := writeback.Classify(tt.h); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMirrorRecord(t *testing.T) {
	rec := cleanBinding().Record(writeback.DurableSuccessWritten)
	m, errs := writeback.MirrorRecord(rec, testConfig)
	want := writeback.RegistryRecord{
		Schema: writeback.RegistrySchema, TaskID: "task-1", DispatchID: "disp-1", DispatchCronID: "disp-1",
		Executor: "independent ANU collector (key anu-a)", ChatID: "chat-default", NormalCollectorCronID: "ncc-1",
		Role: writeback.MirrorRole, Status: writeback.StatusCompleted, NoFallback: true, TsKST: "2025-01-01T00:00:00+09:00",
	}
	if errs != nil || m != want {
		t.Fatalf("mirror %+v %q", m, errs)
	}
	fb := "fb-1"
	rec.FallbackCallbackCronID = &fb
	rec.ChatID = "chat-v"
	m, errs = writeback.MirrorRecord(rec, testConfig)
	if errs != nil || m.NoFallback || m.FallbackCallbackCronID == nil || *m.FallbackCallbackCronID != "fb-1" || m.FallbackCallbackCronID == &fb || m.ChatID != "chat-v" {
		t.Fatalf("mirror %+v %q", m, errs)
	}
	// No chat id anywhere: the mirror is invalid and not to be written.
	rec.ChatID = ""
	_, errs = writeback.MirrorRecord(rec, writeback.Config{CollectorKeys: testConfig.CollectorKeys})
	if len(errs) != 1 || errs[0] != "chat_id missing or empty" {
		t.Fatalf("errors %q", errs)
	}
}

func TestApplyReasons(t *testing.T) {
	v := writeback.NewMemView()
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: cleanBinding()}, testConfig, v)
	if !writeback.ShouldApply(&d) {
		t.Fatal("a clean decision is not to be applied")
	}
	n := len(d.Reasons)
	writeback.MarkApplied(&d, nil)
	if !d.Appended || len(d.Reasons) != n+1 || d.Reasons[n] != writeback.AppendedReason() {
		t.Errorf("applied %+v", d)
	}
	d = writeback.Evaluate(writeback.WritebackRequest{Binding: cleanBinding()}, testConfig, v)
	writeback.MarkApplied(&d, []string{"chat_id missing or empty"})
	if !d.Appended || !strings.HasPrefix(d.Reasons[len(d.Reasons)-1], "WARN: ") || !strings.Contains(d.Reasons[len(d.Reasons)-1], "chat_id missing") {
		t.Errorf("applied with an invalid mirror %+v", d)
	}

	v = viewOf(t, cleanBinding().Record(writeback.DurableSuccessWritten))
	d = writeback.Evaluate(writeback.WritebackRequest{Binding: cleanBinding()}, testConfig, v)
	if writeback.ShouldApply(&d) {
		t.Fatal("a skip is to be applied")
	}
	writeback.MarkNotApplied(&d)
	if d.Appended || d.Reasons[len(d.Reasons)-1] != writeback.SkipReason() {
		t.Errorf("skip %+v", d)
	}
	b := cleanBinding()
	b.CollectorKey = "rogue"
	d = writeback.Evaluate(writeback.WritebackRequest{Binding: b}, testConfig, v)
	writeback.MarkNotApplied(&d)
	if d.Appended || d.Reasons[len(d.Reasons)-1] != writeback.NotWrittenReason(writeback.SelfChainNoWriteback, "FAIL") {
		t.Errorf("refusal %+v", d)
	}
}
