package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
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

// BenchmarkWritebackHandler measures the server's own work per write-back
// (routing, authentication, decoding, the store's group commit, the event,
// the answer) without the network: requests go straight to the handler
// from 64 goroutines, so the group commit gathers them as under load.
func BenchmarkWritebackHandler(b *testing.B) {
	e := startEnv(b, envOptions{})
	h := e.srv.Handler()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := mustJSON(writebackBody(fmt.Sprintf("bench-task-%d", i), "T1", "bench-batch", keyA))
			req := httptest.NewRequest("POST", "/v1/writebacks", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer tok-collector-a")
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 201 {
				b.Errorf("HTTP %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
