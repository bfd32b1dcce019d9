package writeback_test

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

var testConfig = writeback.Config{CollectorKeys: []string{"anu-b", "anu-a"}, DefaultChatID: "chat-default"}

const (
	testRoot = "/ws"
	testSrc  = "/ws/verdicts/v.json"
)

func extract(t *testing.T, doc string, mod ...func(*writeback.ExtractOptions)) (writeback.Binding, error) {
	t.Helper()
	opt := writeback.ExtractOptions{BatchID: "B1", Root: testRoot, SourcePath: testSrc, Config: testConfig}
	for _, m := range mod {
		m(&opt)
	}
	return writeback.Extract([]byte(doc), opt)
}

func mustExtract(t *testing.T, doc string, mod ...func(*writeback.ExtractOptions)) writeback.Binding {
	t.Helper()
	b, err := extract(t, doc, mod...)
	if err != nil {
		t.Fatalf("Extract(%s): %v", doc, err)
	}
	return b
}

func withTrack(s string) func(*writeback.ExtractOptions) {
	return func(o *writeback.ExtractOptions) { o.TrackID = s }
}

func withExec(s string) func(*writeback.ExtractOptions) {
	return func(o *writeback.ExtractOptions) { o.ExecutorKey = s }
}

func TestExtractFields(t *testing.T) {
	type pick func(b writeback.Binding) string
	task := func(b writeback.Binding) string { return b.TaskID }
	track := func(b writeback.Binding) string { return b.TrackID }
	verdict := func(b writeback.Binding) string { return b.AuthoritativeVerdict }
	key := func(b writeback.Binding) string { return b.CollectorKey }
	role := func(b writeback.Binding) string { return b.CollectorRole }
	exec := func(b writeback.Binding) string { return b.ExecutorKey }
	chat := func(b writeback.Binding) string { return b.ChatID }
	disp := func(b writeback.Binding) string { return b.DispatchID + " " + b.DispatchIDSource }
	ncc := func(b writeback.Binding) string { return b.NormalCollectorCronID + " " + b.NormalCollectorCronIDSource }
	fb := func(b writeback.Binding) string {
		if b.FallbackCallbackCronID == nil {
			return "<nil>"
		}
		return *b.FallbackCallbackCronID
	}
	done := func(b writeback.Binding) string { return b.CompletedAt }
	self := func(b writeback.Binding) string {
		if b.SessionIsExecutorSelf {
			return "self"
		}
		return "independent"
	}

	tests := []struct {
		name string
		doc  string
		mod  []func(*writeback.ExtractOptions)
		get  pick
		want string
	}{
		// task id: task_id, then task; normalized.
		{"task_id", `{"task_id": "task-1"}`, nil, task, "task-1"},
		{"task fallback when task_id missing", `{"task": "task-2"}`, nil, task, "task-2"},
		{"task fallback when task_id blank", `{"task_id": "  ", "task": "task-2"}`, nil, task, "task-2"},
		{"task fallback when task_id not a string", `{"task_id": 5, "task": "task-2"}`, nil, task, "task-2"},
		{"task_id wins over task", `{"task_id": "task-1", "task": "task-2"}`, nil, task, "task-1"},
		{"task normalized at a space", `{"task_id": "  task-2553+50 (TRACK 1 — x)"}`, nil, task, "task-2553+50"},
		{"task normalized at a tab", `{"task_id": "task-1\tmore"}`, nil, task, "task-1"},
		{"task normalized at a paren", `{"task_id": "task-1(x)"}`, nil, task, "task-1"},
		{"task stripped of unicode spaces", `{"task_id": "\u3000task-1\u00a0"}`, nil, task, "task-1"},
		{"task keeps an inner nbsp", `{"task_id": "task\u00a0one"}`, nil, task, "task\u00a0one"},
		{"task paren first", `{"task_id": "(x) task-1"}`, nil, task, ""},
		{"task missing", `{}`, nil, task, ""},

		// track: argument, track, track_id, UNKNOWN_TRACK.
		{"track argument wins", `{"track": "T1"}`, []func(*writeback.ExtractOptions){withTrack("T9")}, track, "T9"},
		{"track argument stripped", `{"track": "T1"}`, []func(*writeback.ExtractOptions){withTrack(" T9 ")}, track, "T9"},
		{"blank track argument ignored", `{"track": "T1"}`, []func(*writeback.ExtractOptions){withTrack("  ")}, track, "T1"},
		{"track before track_id", `{"track": "T1", "track_id": "T2"}`, nil, track, "T1"},
		{"track_id fallback", `{"track": 3, "track_id": "T2"}`, nil, track, "T2"},
		{"unknown track", `{"track": ""}`, nil, track, writeback.UnknownTrack},

		// verdict.
		{"authoritative_verdict", `{"authoritative_verdict": " PASS ", "verdict": "FAIL"}`, nil, verdict, "PASS"},
		{"verdict fallback", `{"authoritative_verdict": null, "verdict": "ACCEPTED"}`, nil, verdict, "ACCEPTED"},

		// collector key: four, collector_owner_key, collector_key; stripped.
		{"four collector_key first", `{"four_tuple_record": {"collector_key": "k4"}, "collector_owner_key": "ko", "collector_key": "kt"}`, nil, key, "k4"},
		{"collector_owner_key second", `{"four_tuple_record": {"collector_key": ""}, "collector_owner_key": "ko", "collector_key": "kt"}`, nil, key, "ko"},
		{"collector_key third", `{"collector_key": "kt"}`, nil, key, "kt"},
		{"key stripped at paren", `{"collector_key": "7943afbe12c12f7d (self-chain, 영구 비권위)"}`, nil, key, "7943afbe12c12f7d"},
		{"key first word", `{"collector_key": "  abc def"}`, nil, key, "abc"},
		{"key glued paren", `{"collector_key": "abc(x)"}`, nil, key, "abc"},

		// configured-key fallback.
		{"configured key when role ANU", `{"collector_role": "ANU"}`, nil, key, "anu-a"},
		{"configured key when role ANU padded", `{"collector_role": " ANU "}`, nil, key, "anu-a"},
		{"configured key when self false", `{"collector_role": "ANU", "executor_self_collector": false}`, nil, key, "anu-a"},
		{"configured key when self null", `{"collector_role": "ANU", "executor_self_collector": null}`, nil, key, "anu-a"},
		{"configured key when self 0", `{"collector_role": "ANU", "executor_self_collector": 0}`, nil, key, "anu-a"},
		{"configured key when self -0.0", `{"collector_role": "ANU", "executor_self_collector": -0.0}`, nil, key, "anu-a"},
		{"no configured key when self empty string", `{"collector_role": "ANU", "executor_self_collector": ""}`, nil, key, ""},
		{"no configured key when self empty list", `{"collector_role": "ANU", "executor_self_collector": []}`, nil, key, ""},
		{"no configured key when self true", `{"collector_role": "ANU", "executor_self_collector": true}`, nil, key, ""},
		{"no configured key without role", `{}`, nil, key, ""},
		{"no configured key for a four role", `{"four_tuple_record": {"collector_role": "ANU"}}`, nil, key, ""},
		{"no configured key for role anu", `{"collector_role": "anu"}`, nil, key, ""},

		// role.
		{"four role first", `{"four_tuple_record": {"collector_role": "X"}, "collector_role": "ANU"}`, nil, role, "X"},
		{"top role", `{"collector_role": " EXEC "}`, nil, role, "EXEC"},
		{"default role", `{"collector_role": ""}`, nil, role, "ANU"},

		// executor key.
		{"executor argument wins", `{"executor_key": "e1"}`, []func(*writeback.ExtractOptions){withExec("e9 (self)")}, exec, "e9"},
		{"four executor key", `{"four_tuple_record": {"executor_key": "e4"}, "executor_key": "e1"}`, nil, exec, "e4"},
		{"top executor key", `{"executor_key": "e1 more"}`, nil, exec, "e1"},
		{"no executor key", `{}`, nil, exec, ""},

		// chat id.
		{"four chat", `{"four_tuple_record": {"chat_id": "c4"}, "chat_id": "ct", "batch_coordinator_integration": {"chat_id": "cb"}}`, nil, chat, "c4"},
		{"top chat", `{"chat_id": "ct", "batch_coordinator_integration": {"chat_id": "cb"}}`, nil, chat, "ct"},
		{"bci chat", `{"chat_id": 1, "batch_coordinator_integration": {"chat_id": " cb "}}`, nil, chat, "cb"},
		{"falsy bci", `{"batch_coordinator_integration": 0}`, nil, chat, ""},

		// dispatch id.
		{"four dispatch_cron_id", `{"four_tuple_record": {"dispatch_cron_id": "d1", "dispatch_id": "d2"}, "dispatch_cron_id": "d3", "dispatch_id": "d4"}`, nil, disp, "d1 source_recorded"},
		{"four dispatch_id", `{"four_tuple_record": {"dispatch_id": "d2"}, "dispatch_cron_id": "d3", "dispatch_id": "d4"}`, nil, disp, "d2 source_recorded"},
		{"top dispatch_cron_id", `{"dispatch_cron_id": "d3", "dispatch_id": "d4"}`, nil, disp, "d3 source_recorded"},
		{"top dispatch_id", `{"dispatch_cron_id": " ", "dispatch_id": "d4"}`, nil, disp, "d4 source_recorded"},
		{"derived dispatch", `{"task_id": "task-7 x"}`, nil, disp, "derived:task-7 derived_from_task_id"},
		{"derived dispatch without task", `{}`, nil, disp, "derived: derived_from_task_id"},

		// normal collector cron id.
		{"four ncc", `{"four_tuple_record": {"normal_collector_cron_id": "n4"}, "normal_collector_cron_id": "nt"}`, nil, ncc, "n4 source_recorded"},
		{"top ncc", `{"normal_collector_cron_id": "nt"}`, nil, ncc, "nt source_recorded"},
		{"derived ncc", `{"collector_key": "k1 (x)"}`, nil, ncc, "ANU-normal-callback:k1 derived_from_collector_key"},
		{"derived ncc without key", `{}`, nil, ncc, "ANU-normal-callback: derived_from_collector_key"},

		// fallback cron id.
		{"four fallback", `{"four_tuple_record": {"fallback_callback_cron_id": "f4"}, "fallback_callback_cron_id": "ft"}`, nil, fb, "f4"},
		{"top fallback", `{"fallback_callback_cron_id": " ft "}`, nil, fb, "ft"},
		{"empty fallback is none", `{"fallback_callback_cron_id": ""}`, nil, fb, "<nil>"},

		// completed at.
		{"ts_kst first", `{"ts_kst": "t1", "completed_at": "t2", "four_tuple_record": {"ts_kst": "t3"}}`, nil, done, "t1"},
		{"completed_at second", `{"ts_kst": null, "completed_at": "t2", "four_tuple_record": {"ts_kst": "t3"}}`, nil, done, "t2"},
		{"four ts_kst last", `{"four_tuple_record": {"ts_kst": "t3"}}`, nil, done, "t3"},

		// self-session flags (Python truthiness).
		{"not self by default", `{}`, nil, self, "independent"},
		{"executor_self_collector", `{"executor_self_collector": 1}`, nil, self, "self"},
		{"session_is_executor_self", `{"session_is_executor_self": "no"}`, nil, self, "self"},
		{"executor_self_chain_authoritative", `{"executor_self_chain_authoritative": [0]}`, nil, self, "self"},
		{"nan is truthy", `{"executor_self_collector": NaN}`, nil, self, "self"},
		{"falsy flags", `{"executor_self_collector": 0.0, "session_is_executor_self": "", "executor_self_chain_authoritative": {}}`, nil, self, "independent"},

		// falsy non-object sub-records are ignored.
		{"four_tuple_record 0", `{"four_tuple_record": 0, "collector_key": "kt"}`, nil, key, "kt"},
		{"four_tuple_record empty list", `{"four_tuple_record": [], "collector_key": "kt"}`, nil, key, "kt"},
		{"four_tuple_record empty string", `{"four_tuple_record": "", "collector_key": "kt"}`, nil, key, "kt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustExtract(t, tt.doc, tt.mod...)
			if got := tt.get(b); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtractConstantFields(t *testing.T) {
	b := mustExtract(t, `{"task_id": "task-1"}`)
	if b.TerminalStatus != writeback.StatusCompleted || b.BatchID != "B1" || b.SourceResultPath != "verdicts/v.json" {
		t.Errorf("binding %+v", b)
	}
}

func TestExtractRefusesWhatTheSeedCrashesOn(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		mod  []func(*writeback.ExtractOptions)
	}{
		{"invalid json", `{"task_id": `, nil},
		{"empty file", ``, nil},
		{"trailing data", `{} {}`, nil},
		{"array", `[1, 2]`, nil},
		{"string", `"x"`, nil},
		{"null", `null`, nil},
		{"byte order mark", "\xef\xbb\xbf{}", nil},
		{"invalid utf-8", "{\"task_id\": \"\xff\"}", nil},
		{"four_tuple_record list", `{"four_tuple_record": [1]}`, nil},
		{"four_tuple_record string", `{"four_tuple_record": "x"}`, nil},
		{"four_tuple_record number", `{"four_tuple_record": 2}`, nil},
		{"batch_coordinator_integration number", `{"batch_coordinator_integration": 1}`, nil},
		{"batch_coordinator_integration list", `{"batch_coordinator_integration": ["x"]}`, nil},
		{"collector key starts with paren", `{"collector_key": "(x) k"}`, nil},
		{"four collector key starts with paren", `{"four_tuple_record": {"collector_key": "(k"}}`, nil},
		{"executor key starts with paren", `{"executor_key": "(x)"}`, nil},
		{"executor argument starts with paren", `{}`, []func(*writeback.ExtractOptions){withExec("(x)")}},
		{"lone surrogate", `{"task_id": "\ud800x"}`, nil},
		{"lone surrogate in chat", `{"chat_id": "a\udfffb"}`, nil},
		{"invalid batch bytes", `{}`, []func(*writeback.ExtractOptions){func(o *writeback.ExtractOptions) { o.BatchID = "B\xff" }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extract(t, tt.doc, tt.mod...)
			if settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("err = %v, want %s", err, settle.InvalidInput)
			}
		})
	}
}

func TestExtractSurrogatePairIsFine(t *testing.T) {
	b := mustExtract(t, `{"task_id": "task-\ud83d\ude00"}`)
	if b.TaskID != "task-😀" {
		t.Errorf("task %q", b.TaskID)
	}
}

func TestRelPath(t *testing.T) {
	tests := []struct {
		name, root, resolved, asGiven, want string
	}{
		{"under root", "/ws", "/ws/a/b.json", "/ws/a/b.json", "a/b.json"},
		{"root with trailing slash", "/ws/", "/ws/a/b.json", "x", "a/b.json"},
		{"root with dot and double slashes", "/./ws//", "/ws/a/b.json", "x", "a/b.json"},
		{"root itself", "/ws", "/ws", "x", "."},
		{"filesystem root", "/", "/ws/a.json", "x", "ws/a.json"},
		{"outside root", "/ws", "/other/a.json", "/other//./a.json", "/other/a.json"},
		{"sibling prefix is not under", "/ws", "/wsx/a.json", "/wsx/a.json", "/wsx/a.json"},
		{"relative root", "ws", "/ws/a.json", "ws/a.json", "ws/a.json"},
		{"dot root", ".", "/ws/a.json", "./a.json", "a.json"},
		{"empty root", "", "/ws/a.json", "a.json/", "a.json"},
		{"double-slash root differs", "//ws", "/ws/a.json", "/ws/a.json", "/ws/a.json"},
		{"double-slash given kept", "/elsewhere", "/ws/a.json", "//ws/a.json", "//ws/a.json"},
		{"triple slash collapses", "/elsewhere", "/ws/a.json", "///ws/a.json", "/ws/a.json"},
		{"dotdot kept in root", "/ws/../ws", "/ws/a.json", "q", "q"},
		{"dotdot kept as given", "/elsewhere", "/ws/a.json", "../ws/./a.json", "../ws/a.json"},
		{"empty as given", "/elsewhere", "/ws/a.json", "", "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := writeback.RelPath(tt.root, tt.resolved, tt.asGiven); got != tt.want {
				t.Errorf("RelPath(%q, %q, %q) = %q, want %q", tt.root, tt.resolved, tt.asGiven, got, tt.want)
			}
		})
	}
}

func TestExtractSourcePathAsGivenDefault(t *testing.T) {
	b := mustExtract(t, `{}`, func(o *writeback.ExtractOptions) {
		o.Root = "/elsewhere"
		o.SourcePath = "/ws//v.json"
	})
	if b.SourceResultPath != "/ws/v.json" {
		t.Errorf("source_result_path %q", b.SourceResultPath)
	}
	b = mustExtract(t, `{}`, func(o *writeback.ExtractOptions) {
		o.Root = "/elsewhere"
		o.SourcePathAsGiven = "v.json"
	})
	if b.SourceResultPath != "v.json" {
		t.Errorf("source_result_path %q", b.SourceResultPath)
	}
}

func TestLedgerPathAllowed(t *testing.T) {
	tests := []struct {
		name, root, resolved, asGiven string
		ok                            bool
	}{
		{"default path", "/ws", "/ws/memory/events/callback_4tuple_index.jsonl", "/ws/memory/events/callback_4tuple_index.jsonl", true},
		{"isolated ledger", "/ws", "/tmp/x/callback_4tuple_index.jsonl", "/tmp/x/callback_4tuple_index.jsonl", true},
		{"other name", "/ws", "/ws/memory/events/other.jsonl", "/ws/memory/events/other.jsonl", false},
		{"trailing slash name", "/ws", "/tmp/callback_4tuple_index.jsonl", "/tmp/callback_4tuple_index.jsonl/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := writeback.LedgerPathAllowed(tt.root, tt.resolved, tt.asGiven)
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok && settle.ErrorCode(err) != settle.PathRefused {
				t.Fatalf("err = %v, want %s", err, settle.PathRefused)
			}
		})
	}
}

func TestPythonPath(t *testing.T) {
	for in, want := range map[string]string{
		"": ".", ".": ".", "a//b/./c/": "a/b/c", "/": "/", "//": "//", "///": "/", "//a": "//a",
		"a/../b": "a/../b", "./": ".",
	} {
		if got := writeback.PythonPath(in); got != want {
			t.Errorf("PythonPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"task_id": "task-1 (x)", "collector_key": "k (x)", "four_tuple_record": {"chat_id": "c"}}`,
		`{"collector_role": "ANU", "executor_self_collector": 0}`, `{"four_tuple_record": [1]}`,
		`{"collector_key": "(x)"}`, `{"task_id": "\ud800"}`, `{"batch_coordinator_integration": {"chat_id": 1}}`,
		`{"task_id": "\u3000t\u00a0(", "track": " ", "verdict": "PASS", "fallback_callback_cron_id": "f"}`,
		"\xef\xbb\xbf{}", `{"a": NaN, "executor_self_collector": -0.0}`,
		`{"task_id": "` + strings.Repeat("t", settle.MaxIDBytes+1) + `"}`, `{"x": ` + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + `}`,
	} {
		f.Add([]byte(s), "B1", "", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, batch, track, exec string) {
		b, err := writeback.Extract(data, writeback.ExtractOptions{
			BatchID: batch, TrackID: track, ExecutorKey: exec, Root: "/ws", SourcePath: "/ws/v.json", Config: testConfig,
		})
		if err != nil {
			if settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("error code %s: %v", settle.ErrorCode(err), err)
			}
			return
		}
		if err := writeback.CheckBindingLimits(&b); err != nil {
			t.Fatalf("extracted a binding past the limits: %v", err)
		}
		if b.TrackID == "" || b.DispatchID == "" || b.NormalCollectorCronID == "" || b.CollectorRole == "" {
			t.Fatalf("empty derived field: %+v", b)
		}
		if strings.ContainsAny(b.CollectorKey+b.ExecutorKey, "( \t") {
			t.Fatalf("unstripped key: %+v", b)
		}
		// Every extracted binding encodes, and reads back the same.
		rec := b.Record(writeback.DurableSuccessWritten)
		line, err := writeback.EncodeLine(rec)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		got, ok := writeback.DecodeLine(line)
		if !ok || got.Durable == nil {
			t.Fatalf("round trip: %q not read back", line)
		}
		if again, err := writeback.EncodeLine(got.Durable); err != nil || string(again) != string(line) {
			t.Fatalf("round trip: %q -> %q (%v)", line, again, err)
		}
	})
}
