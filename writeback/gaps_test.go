package writeback_test

import (
	"strings"
	"testing"

	"github.com/settlehq/settle/writeback"
)

// TestVerdictGapsNameTheField: a verdict that lacks what a write-back needs
// keeps the seed's decision, and its reasons name the missing or unusable
// field of the verdict file.
func TestVerdictGapsNameTheField(t *testing.T) {
	cfg := writeback.Config{CollectorKeys: []string{"anu-a"}, DefaultChatID: "chat-1"}
	full := `"task_id": "task-1", "track": "T1", "authoritative_verdict": "PASS", "collector_key": "anu-a", "collector_role": "ANU", "executor_key": "exec-1", "ts_kst": "2025-01-01T00:00:00+09:00"`
	for _, c := range []struct {
		name, verdict string
		cfg           writeback.Config
		class         string
		want          []string // substrings of the reasons
	}{
		{"empty verdict", `{}`, cfg, writeback.SelfChainNoWriteback,
			[]string{"no authoritative_verdict (nor verdict)", "task_id (or task)", "names no collector key", "ts_kst, completed_at"}},
		{"no collector key", `{"task_id": "task-1", "authoritative_verdict": "PASS", "ts_kst": "t"}`, cfg, writeback.SelfChainNoWriteback,
			[]string{"names no collector key: set four_tuple_record.collector_key, collector_owner_key or collector_key"}},
		{"unconfigured collector key", `{` + strings.Replace(full, `"anu-a"`, `"anu-zzz"`, 1) + `}`, cfg, writeback.SelfChainNoWriteback,
			[]string{`collector_key 'anu-zzz' is not one of the configured collector keys`}},
		{"no keys configured", `{` + full + `}`, writeback.Config{DefaultChatID: "chat-1"}, writeback.SelfChainNoWriteback,
			[]string{"no collector keys are configured"}},
		{"role not ANU", `{` + strings.Replace(full, `"ANU"`, `"EXECUTOR"`, 1) + `}`, cfg, writeback.SelfChainNoWriteback,
			[]string{`collector_role 'EXECUTOR' is not "ANU"`}},
		{"self collection", `{` + strings.Replace(full, `"exec-1"`, `"anu-a"`, 1) + `}`, cfg, writeback.SelfChainNoWriteback,
			[]string{"collector_key equals executor_key"}},
		{"executor session", `{` + full + `, "session_is_executor_self": true}`, cfg, writeback.SelfChainNoWriteback,
			[]string{"collector session is the executor's own"}},
		{"no completion time", `{` + strings.Replace(full, `"ts_kst"`, `"ts_other"`, 1) + `}`, cfg, writeback.WritebackBindingConflict,
			[]string{"no completion time: ts_kst, completed_at or four_tuple_record.ts_kst"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := writeback.Extract([]byte(c.verdict), writeback.ExtractOptions{BatchID: "B1", Root: "/w", SourcePath: "/w/v.json", Config: c.cfg})
			if err != nil {
				t.Fatal(err)
			}
			d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, c.cfg, nil)
			if d.Verdict != "FAIL" || d.Classification != c.class {
				t.Fatalf("decision %s %s, want FAIL %s", d.Verdict, d.Classification, c.class)
			}
			all := strings.Join(d.Reasons, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("reasons do not say %q:\n%s", w, all)
				}
			}
		})
	}
	// A clean verdict has no gaps.
	b, err := writeback.Extract([]byte(`{`+full+`}`), writeback.ExtractOptions{BatchID: "B1", Root: "/w", SourcePath: "/w/v.json", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if g := writeback.VerdictGaps(b, cfg); g != nil {
		t.Fatalf("gaps of a clean verdict: %q", g)
	}
	if d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, cfg, nil); d.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("clean verdict: %s %q", d.Classification, d.Reasons)
	}
}
