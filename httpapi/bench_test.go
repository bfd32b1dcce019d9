package httpapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/settlehq/settle/writeback"
)

// BenchmarkWriteback measures write-backs through a real server and the
// Go client, with 64 concurrent clients (b.SetParallelism).
func BenchmarkWriteback(b *testing.B) {
	e := startEnv(b, envOptions{})
	c := e.client("tok-collector-a")
	var n atomic.Int64
	b.SetParallelism(32) // x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			task := fmt.Sprintf("bench-task-%d", i)
			r, err := c.PostWriteback(context.Background(), writebackBody(task, "T1", "bench-batch", keyA))
			if err != nil {
				b.Error(err)
				return
			}
			if r.Decision.Classification != writeback.DurableSuccessWritten {
				b.Errorf("%s: %v", r.Decision.Classification, r.Decision.Reasons)
				return
			}
		}
	})
	b.StopTimer()
	st := e.fileLedger.Stats()
	if st.Groups > 0 {
		b.ReportMetric(float64(st.GroupedRequests)/float64(st.Groups), "req/group")
	}
}
