package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/settlehq/settle/writeback"
)

// BenchmarkAnswerEncoding measures encoding/json on the documents of one
// write-back, its decision answer and its writeback.recorded event data, to
// set against BenchmarkWritebackHandler's cost of a whole request.
func BenchmarkAnswerEncoding(b *testing.B) {
	d, rd := answerDocs()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(d); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(rd); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAnswerAppendJSON is BenchmarkAnswerEncoding's documents
// through the encoders the write-back routes use.
func BenchmarkAnswerAppendJSON(b *testing.B) {
	d, rd := answerDocs()
	b.ReportAllocs()
	for b.Loop() {
		_ = d.AppendJSON(make([]byte, 0, 1536))
		_ = rd.AppendJSON(make([]byte, 0, 384))
	}
}

// answerDocs are the documents of one write-back: its decision answer and
// its writeback.recorded event data.
func answerDocs() (*writeback.Decision, *RecordedData) {
	rec := &writeback.DurableRecord{Schema: "durable_success_writeback_v1", TaskID: "bench-task-123456", TrackID: "T1",
		DispatchID: "dispatch-123456", DispatchIDSource: "verdict", NormalCollectorCronID: "cron-a", NormalCollectorCronIDSource: "registry",
		CollectorKey: "anu0000000000001", CollectorRole: "normal", AuthoritativeVerdict: "PASS", TerminalStatus: "done",
		CompletedAt: "2026-12-05T08:00:00Z", SourceResultPath: "results/bench-task-123456.json", BatchID: "bench-batch",
		ExecutorKey: "exec-1", ChatID: "6937032012", WritebackClassification: writeback.DurableSuccessWritten, WritebackID: "wb-0123456789abcdef"}
	d := &writeback.Decision{Schema: "writeback_decision_v1", Verdict: "PASS", Classification: writeback.DurableSuccessWritten,
		TaskID: rec.TaskID, TrackID: rec.TrackID, BatchID: rec.BatchID, DurableRecord: rec, Appended: true, Reasons: []string{}}
	rd := &RecordedData{WritebackID: rec.WritebackID, TaskID: rec.TaskID, TrackID: rec.TrackID, BatchID: rec.BatchID,
		DispatchID: rec.DispatchID, CollectorKey: rec.CollectorKey, AuthoritativeVerdict: rec.AuthoritativeVerdict, CompletedAt: rec.CompletedAt}
	return d, rd
}
