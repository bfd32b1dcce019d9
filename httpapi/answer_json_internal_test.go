package httpapi

import (
	"encoding/json"
	"math/rand"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// TestBatchResponseAppendJSON: the batch answer's encoder gives
// json.Marshal's bytes, every optional member present or not.
func TestBatchResponseAppendJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	pieces := []string{"a", "Z", "0", "-", "é", "\u2028", "<", "&", "\"", "\\", "\n", "\xff"}
	s := func() string {
		out := ""
		for range rng.Intn(6) {
			out += pieces[rng.Intn(len(pieces))]
		}
		return out
	}
	for range 2000 {
		var resp WritebackBatchResponse
		if rng.Intn(10) > 0 {
			resp.Results = []WritebackBatchResult{}
		}
		for range rng.Intn(4) {
			r := WritebackBatchResult{Status: rng.Intn(600), ConflictRecorded: rng.Intn(2) == 0, FirstConsolidation: rng.Intn(2) == 0}
			if rng.Intn(2) == 0 {
				r.BatchDecision = s()
			}
			if rng.Intn(3) == 0 {
				r.Error = &APIError{Code: s(), Message: s()}
			}
			if rng.Intn(3) > 0 {
				d := &writeback.Decision{Schema: s(), Verdict: s(), Classification: s(), TaskID: s(), TrackID: s(), BatchID: s(), Appended: rng.Intn(2) == 0}
				if rng.Intn(2) == 0 {
					d.Reasons = []string{s(), s()}
				}
				if rng.Intn(2) == 0 {
					f := s()
					d.DurableRecord = &writeback.DurableRecord{TaskID: s(), WritebackID: s(), ChatID: s(), FallbackCallbackCronID: &f}
				}
				r.Decision = d
			}
			resp.Results = append(resp.Results, r)
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}

// BenchmarkAnswerAppendJSON is BenchmarkAnswerEncoding's documents
// through the encoders the write-back routes use.
func BenchmarkAnswerAppendJSON(b *testing.B) {
	rec := &writeback.DurableRecord{Schema: "durable_success_writeback_v1", TaskID: "bench-task-123456", TrackID: "T1",
		DispatchID: "dispatch-123456", DispatchIDSource: "verdict", NormalCollectorCronID: "cron-a", NormalCollectorCronIDSource: "registry",
		CollectorKey: "anu0000000000001", CollectorRole: "normal", AuthoritativeVerdict: "PASS", TerminalStatus: "done",
		CompletedAt: "2026-12-05T08:00:00Z", SourceResultPath: "results/bench-task-123456.json", BatchID: "bench-batch",
		ExecutorKey: "exec-1", ChatID: "6937032012", WritebackClassification: writeback.DurableSuccessWritten, WritebackID: "wb-0123456789abcdef"}
	d := &writeback.Decision{Schema: "writeback_decision_v1", Verdict: "PASS", Classification: writeback.DurableSuccessWritten,
		TaskID: rec.TaskID, TrackID: rec.TrackID, BatchID: rec.BatchID, DurableRecord: rec, Appended: true, Reasons: []string{}}
	rd := &RecordedData{WritebackID: rec.WritebackID, TaskID: rec.TaskID, TrackID: rec.TrackID, BatchID: rec.BatchID,
		DispatchID: rec.DispatchID, CollectorKey: rec.CollectorKey, AuthoritativeVerdict: rec.AuthoritativeVerdict, CompletedAt: rec.CompletedAt}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.AppendJSON(make([]byte, 0, 1536))
		_ = rd.AppendJSON(make([]byte, 0, 384))
	}
}
