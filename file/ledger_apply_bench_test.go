package file

import (
	"fmt"
	"testing"
	"time"

	"github.com/settlehq/settle/writeback"
)

// BenchmarkApplyGroup measures the serial, CPU-only part of a group
// commit per write-back: evaluating and encoding each write-back of a
// group against the group's stage (apply), then indexing the staged
// records as commit does after the fsync. No file is touched. The index
// starts with applyBenchRecords records (applyBenchRecords/2 write-backs).
func BenchmarkApplyGroup(b *testing.B) {
	const applyBenchRecords = 100_000
	cfg := writeback.Config{CollectorKeys: []string{"anu-a", "anu-b"}, DefaultChatID: "chat-default"}
	binding := func(i int) writeback.Binding {
		task := fmt.Sprintf("task-%07d", i)
		return writeback.Binding{
			TaskID: task, TrackID: fmt.Sprintf("T%d", i%3+1), BatchID: fmt.Sprintf("batch-%06d", i/3),
			DispatchID: "disp-" + task, DispatchIDSource: "source_recorded",
			NormalCollectorCronID: "ncc-" + task, NormalCollectorCronIDSource: "source_recorded",
			CollectorKey: "anu-a", CollectorRole: "ANU", AuthoritativeVerdict: "AUTHORITATIVE_PASS",
			TerminalStatus: "COMPLETED", CompletedAt: "2025-01-01T00:00:00+09:00",
			SourceResultPath: "verdicts/" + task + ".json", ExecutorKey: "exec-1",
		}
	}
	for _, group := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			l := &Ledger{cfg: cfg, now: time.Now, view: writeback.NewMemView()}
			l.view.Presize(applyBenchRecords)
			next := 0
			var seq int64
			commit := func(n int) {
				s := &stage{base: l.view, next: seq, conflicts: map[string]bool{},
					recs: make([]staged, 0, 2*n), data: make([]byte, 0, 1536*n)}
				for range n {
					out, err := l.apply(writeback.WritebackRequest{Binding: binding(next)}, s)
					if err != nil || !out.Decision.Appended {
						b.Fatalf("write-back %d: %v %+v", next, err, out.Decision)
					}
					next++
				}
				for i := range s.recs {
					r := &s.recs[i]
					r.rec.Raw = s.data[r.off : r.off+int64(r.n)]
					l.view.Add(r.rec)
					r.rec.Raw = nil
				}
				seq += int64(len(s.recs))
			}
			for next < applyBenchRecords/2 {
				commit(min(512, applyBenchRecords/2-next))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += group {
				commit(min(group, b.N-done))
			}
		})
	}
}
