package writeback_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

func sampleDurable() *writeback.DurableRecord {
	return &writeback.DurableRecord{
		Schema: writeback.DurableSchema, TaskID: "task-1 é \"q\" \\ \t\x01", TrackID: "T1",
		DispatchID: "derived:task-1", DispatchIDSource: "derived_from_task_id",
		NormalCollectorCronID: "ANU-normal-callback:k", NormalCollectorCronIDSource: "derived_from_collector_key",
		CollectorKey: "k", CollectorRole: "ANU", AuthoritativeVerdict: "AUTHORITATIVE_PASS", TerminalStatus: "COMPLETED",
		CompletedAt: "2025-01-01T00:00:00+09:00", SourceResultPath: "검증/v.json", BatchID: "B1", ChatID: "😀",
		WritebackClassification: writeback.DurableSuccessWritten, WritebackID: "abc",
	}
}

func TestEncodeLineMatchesPython(t *testing.T) {
	// Both lines are Python's json.dumps(rec, ensure_ascii=False, sort_keys=True).
	const wantDurable = `{"authoritative_verdict": "AUTHORITATIVE_PASS", "batch_id": "B1", "chat_id": "😀", "collector_key": "k", "collector_role": "ANU", "completed_at": "2025-01-01T00:00:00+09:00", "dispatch_id": "derived:task-1", "dispatch_id_source": "derived_from_task_id", "executor_key": "", "fallback_callback_cron_id": null, "normal_collector_cron_id": "ANU-normal-callback:k", "normal_collector_cron_id_source": "derived_from_collector_key", "schema": "durable_success_writeback.v1", "source_result_path": "검증/v.json", "task_id": "task-1 é \"q\" \\ \t\u0001", "terminal_status": "COMPLETED", "track_id": "T1", "writeback_classification": "DURABLE_SUCCESS_WRITTEN", "writeback_id": "abc"}` + "\n"
	const wantRegistry = `{"chat_id": "c", "dispatch_cron_id": "d", "dispatch_id": "d", "executor": "e", "fallback_callback_cron_id": "f", "no_fallback": false, "normal_collector_cron_id": "n", "role": "r", "schema": "callback_4tuple_ledger_record.v1", "status": "COMPLETED", "task_id": "t", "ts_kst": "ts"}` + "\n"
	got, err := writeback.EncodeLine(sampleDurable())
	if err != nil || string(got) != wantDurable {
		t.Errorf("durable line (%v)\n got: %s\nwant: %s", err, got, wantDurable)
	}
	fb := "f"
	reg := writeback.RegistryRecord{Schema: writeback.RegistrySchema, TaskID: "t", DispatchID: "d", DispatchCronID: "d", Executor: "e",
		ChatID: "c", NormalCollectorCronID: "n", FallbackCallbackCronID: &fb, Role: "r", Status: "COMPLETED", TsKST: "ts"}
	for _, v := range []any{reg, &reg} {
		got, err = writeback.EncodeLine(v)
		if err != nil || string(got) != wantRegistry {
			t.Errorf("registry line (%v)\n got: %s\nwant: %s", err, got, wantRegistry)
		}
	}
}

func TestEncodeLineEscapes(t *testing.T) {
	rec := sampleDurable()
	rec.TaskID = "a\u2028b\u2029c\u0085d"
	rec.TrackID = "x\xed\xa0\x80y\xed\xbf\xbf" // lone surrogates U+D800, U+DFFF as WTF-8
	line, err := writeback.EncodeLine(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(line) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("line %q", line)
	}
	for _, esc := range []string{`a\u2028b\u2029c\u0085d`, `x\ud800y\udfff`} {
		if !bytes.Contains(line, []byte(esc)) {
			t.Errorf("line %s lacks %s", line, esc)
		}
	}
	got, ok := writeback.DecodeLine(line)
	if !ok || got.Durable.TaskID != rec.TaskID || got.Durable.TrackID != rec.TrackID {
		t.Fatalf("round trip %+v", got.Durable)
	}
}

func TestEncodeLineErrors(t *testing.T) {
	rec := sampleDurable()
	rec.TaskID = "bad \xff"
	if _, err := writeback.EncodeLine(rec); settle.ErrorCode(err) != settle.InvalidInput {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := writeback.EncodeLine("x"); settle.ErrorCode(err) != settle.Internal {
		t.Errorf("unsupported type: %v", err)
	}
	if _, err := writeback.EncodeLine((*writeback.DurableRecord)(nil)); err == nil {
		t.Error("nil record encoded")
	}
}

func TestConflictLineRoundTrip(t *testing.T) {
	b := cleanBinding()
	c := writeback.ConflictRecord{Schema: writeback.ConflictSchema, ConflictID: "cid", Classification: writeback.TrackMismatch,
		TaskID: b.TaskID, TrackID: b.TrackID, BatchID: b.BatchID, WritebackID: b.WritebackID(),
		Candidate: b.Record(writeback.TrackMismatch), Reasons: []string{"r1", "r\n2"}, RecordedAt: "2025"}
	line, err := writeback.EncodeLine(&c)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := writeback.DecodeLine(line)
	if !ok || got.Kind != writeback.KindConflict || got.Conflict == nil {
		t.Fatalf("decode %q", line)
	}
	again, err := writeback.EncodeLine(got.Conflict)
	if err != nil || !bytes.Equal(again, line) {
		t.Errorf("round trip\n got: %s\nwant: %s", again, line)
	}
	c.Candidate, c.Reasons = nil, nil
	line, _ = writeback.EncodeLine(c)
	if !bytes.Contains(line, []byte(`"candidate": null`)) || !bytes.Contains(line, []byte(`"reasons": []`)) {
		t.Errorf("empty conflict %s", line)
	}
}

func TestDecodeLine(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		kind  writeback.RecordKind // "" = skipped
		check func(t *testing.T, r writeback.LedgerRecord)
	}{
		{name: "empty", line: ""},
		{name: "blank", line: " \t\r"},
		{name: "not json", line: "{not json"},
		{name: "torn", line: `{"schema": "durable_success_writeback.v1"`},
		{name: "array", line: "[1,2]"},
		{name: "number", line: "3"},
		{name: "null", line: "null"},
		{name: "no schema", line: `{"task_id": "t"}`},
		{name: "unknown schema", line: `{"schema": "other.v1"}`},
		{name: "schema not a string", line: `{"schema": 5}`},
		{name: "invalid utf-8", line: "{\"schema\": \"callback_4tuple_ledger_record.v1\", \"task_id\": \"\xff\"}"},
		{name: "trailing data", line: `{"schema": "callback_4tuple_ledger_record.v1"} x`},
		{name: "trailing comma", line: `{"schema": "callback_4tuple_ledger_record.v1",}`},
		{name: "control character in a string", line: "{\"schema\": \"callback_4tuple_ledger_record.v1\", \"task_id\": \"a\x01\"}"},
		{name: "form feed between tokens", line: "{\"schema\":\x0c\"callback_4tuple_ledger_record.v1\"}"},
		{name: "registry", line: `{"schema": "callback_4tuple_ledger_record.v1", "task_id": "t", "no_fallback": true, "fallback_callback_cron_id": null}`,
			kind: writeback.KindRegistry, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Registry.TaskID != "t" || !r.Registry.NoFallback || r.Registry.FallbackCallbackCronID != nil {
					t.Errorf("%+v", r.Registry)
				}
			}},
		{name: "python whitespace around", line: "\x0c\u3000 {\"schema\": \"callback_4tuple_ledger_record.v1\"}\r\u00a0",
			kind: writeback.KindRegistry},
		{name: "no_fallback truthiness", line: `{"schema": "callback_4tuple_ledger_record.v1", "no_fallback": "no", "fallback_callback_cron_id": 5}`,
			kind: writeback.KindRegistry, check: func(t *testing.T, r writeback.LedgerRecord) {
				if !r.Registry.NoFallback || r.Registry.FallbackCallbackCronID != nil {
					t.Errorf("%+v", r.Registry)
				}
			}},
		{name: "no_fallback zero", line: `{"schema": "callback_4tuple_ledger_record.v1", "no_fallback": 0.0}`,
			kind: writeback.KindRegistry, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Registry.NoFallback {
					t.Errorf("%+v", r.Registry)
				}
			}},
		{name: "non-string fields read as empty", line: `{"schema": "durable_success_writeback.v1", "task_id": 5, "track_id": null, "batch_id": ["B"], "chat_id": {"a": 1}, "collector_key": true, "fallback_callback_cron_id": "f"}`,
			kind: writeback.KindDurable, check: func(t *testing.T, r writeback.LedgerRecord) {
				d := r.Durable
				if d.TaskID != "" || d.TrackID != "" || d.BatchID != "" || d.ChatID != "" || d.CollectorKey != "" || d.FallbackCallbackCronID == nil || *d.FallbackCallbackCronID != "f" {
					t.Errorf("%+v", d)
				}
			}},
		{name: "duplicate keys last wins", line: `{"schema": "x", "task_id": "a", "task_id": null, "schema": "durable_success_writeback.v1", "track_id": 1, "track_id": "T"}`,
			kind: writeback.KindDurable, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Durable.TaskID != "" || r.Durable.TrackID != "T" {
					t.Errorf("%+v", r.Durable)
				}
			}},
		{name: "duplicate schema last wins", line: `{"schema": "durable_success_writeback.v1", "schema": "other"}`},
		{name: "simple escapes", line: `{"schema":"durable_success_writeback.v1","task_id":"a\"b\\c\/d\n\t\r\b\f"}`,
			kind: writeback.KindDurable, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Durable.TaskID != "a\"b\\c/d\n\t\r\b\f" {
					t.Errorf("%q", r.Durable.TaskID)
				}
			}},
		{name: "unicode escapes", line: `{"schema": "durable_success_writeback.v1", "task_id": "\u00e9\ud83d\ude00\ud800"}`,
			kind: writeback.KindDurable, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Durable.TaskID != "é😀\xed\xa0\x80" {
					t.Errorf("%q", r.Durable.TaskID)
				}
			}},
		{name: "empty object of a conflict", line: `{"schema": "writeback_conflict.v1", "candidate": 1, "reasons": [1, "r"]}`,
			kind: writeback.KindConflict, check: func(t *testing.T, r writeback.LedgerRecord) {
				if r.Conflict.Candidate != nil || len(r.Conflict.Reasons) != 2 || r.Conflict.Reasons[1] != "r" {
					t.Errorf("%+v", r.Conflict)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := writeback.DecodeLine([]byte(tt.line))
			if ok != (tt.kind != "") {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tt.kind != "", r)
			}
			if !ok {
				return
			}
			if r.Kind != tt.kind || string(r.Raw) != tt.line {
				t.Errorf("kind %s raw %q", r.Kind, r.Raw)
			}
			n := 0
			for _, p := range []bool{r.Durable != nil, r.Registry != nil, r.Conflict != nil} {
				if p {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d records set", n)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestDecodeLineWithNewline(t *testing.T) {
	line, _ := writeback.EncodeLine(sampleDurable())
	r, ok := writeback.DecodeLine(line)
	if !ok || r.Durable.TaskID != sampleDurable().TaskID || !strings.HasSuffix(string(r.Raw), "\n") {
		t.Fatalf("decode %+v", r)
	}
}

// benchLines are typical ledger lines: a durable success, its registry
// mirror and a conflict.
func benchLines(b *testing.B) map[string][]byte {
	b.Helper()
	bd := cleanBinding()
	rec := bd.Record(writeback.DurableSuccessWritten)
	mirror, _ := writeback.MirrorRecord(rec, testConfig)
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: bd, Expected: map[string]any{"task_id": "x"}}, testConfig, writeback.NewMemView())
	c := writeback.NewConflict(d, bd, d.Reasons, timeZero)
	out := map[string][]byte{}
	for name, v := range map[string]any{"durable": rec, "registry": &mirror, "conflict": &c} {
		line, err := writeback.EncodeLine(v)
		if err != nil {
			b.Fatal(err)
		}
		out[name] = line[:len(line)-1]
	}
	return out
}

func BenchmarkDecodeLine(b *testing.B) {
	for _, name := range []string{"durable", "registry", "conflict"} {
		line := benchLines(b)[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, ok := writeback.DecodeLine(line); !ok {
					b.Fatal("not decoded")
				}
			}
		})
	}
}

func BenchmarkEncodeLine(b *testing.B) {
	rec := cleanBinding().Record(writeback.DurableSuccessWritten)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := writeback.EncodeLine(rec); err != nil {
			b.Fatal(err)
		}
	}
}

var timeZero = time.Unix(0, 0)
