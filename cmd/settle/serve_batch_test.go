package main

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/writeback"
)

// crashBatch is batch g/i of TestCrashUnderLoadBatched: 64 distinct
// verdicts, the same on every call.
func crashBatch(g, i int) []httpapi.WritebackBody {
	out := make([]httpapi.WritebackBody, 64)
	for k := range out {
		out[k] = httpapi.WritebackBody{Verdict: crashVerdict(fmt.Sprintf("cb-%02d-%04d-%02d", g, i, k)), BatchID: "CRASHB", TrackID: "T1"}
	}
	return out
}

// TestCrashUnderLoadBatched: the server is killed with SIGKILL while 16
// clients send batches of 64 write-backs; after a restart every
// acknowledged item is in the ledger once, each item has its durable
// record and its registry mirror or neither, and retrying every batch
// sent completes them (idempotent skips for the ones written).
func TestCrashUnderLoadBatched(t *testing.T) {
	config := serverConfig(t, t.TempDir())
	bin, srv, c := crashServe(t, config)

	const clients = 16
	sent := make([]int, clients) // batches started per client
	acked := crashLoad(t, srv, clients, 600, func(ctx context.Context, g, i int) ([]string, error) {
		sent[g] = i + 1
		res, err := c.PostWritebackBatch(ctx, crashBatch(g, i))
		var tasks []string
		for _, r := range res {
			if r.Status == 201 && r.Decision != nil && r.Decision.DurableRecord != nil {
				tasks = append(tasks, r.Decision.DurableRecord.TaskID)
			}
		}
		return tasks, err
	})

	again := startServe(t, bin, config)
	op := again.client(t, "tok-operator")
	durable, mirrors := kindsByTask(t, op, writeback.KindDurable), kindsByTask(t, op, writeback.KindRegistry)
	for task := range acked {
		if durable[task] != 1 {
			t.Errorf("acknowledged write-back %s is in the ledger %d times", task, durable[task])
		}
	}
	for task, n := range durable {
		if n != 1 || mirrors[task] != 1 {
			t.Errorf("write-back %s: %d durable records, %d mirrors after the kill", task, n, mirrors[task])
		}
	}
	for task, n := range mirrors {
		if durable[task] != 1 {
			t.Errorf("write-back %s: %d mirrors without its durable record", task, n)
		}
	}

	// Retry every batch sent, the one in flight at the kill included.
	rc := again.client(t, "tok-collector")
	skips, written, items := 0, 0, 0
	for g := range clients {
		for i := range sent[g] {
			res, err := rc.PostWritebackBatch(context.Background(), crashBatch(g, i))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				items++
				switch r.Status {
				case 200:
					skips++
				case 201:
					written++
				default:
					b, _ := json.Marshal(r)
					t.Fatalf("retry: %s", b)
				}
			}
		}
	}
	durable, mirrors = kindsByTask(t, op, writeback.KindDurable), kindsByTask(t, op, writeback.KindRegistry)
	if len(durable) != items {
		t.Errorf("%d write-backs in the ledger after the retry, want %d", len(durable), items)
	}
	for task, n := range durable {
		if n != 1 || mirrors[task] != 1 {
			t.Errorf("write-back %s: %d durable records, %d mirrors after the retry", task, n, mirrors[task])
		}
	}
	if skips < len(acked) {
		t.Errorf("%d idempotent skips on retry, fewer than the %d acknowledged", skips, len(acked))
	}
	t.Logf("%d items acknowledged before SIGKILL; retry of %d items: %d skips, %d written", len(acked), items, skips, written)
	again.stop(t, syscall.SIGTERM)
}
