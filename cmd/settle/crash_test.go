package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// The crash tests kill a settle server with SIGKILL while clients write
// back, restart it, and check that every acknowledged write-back is in
// the ledger once.

// crashVerdict is a passing verdict of task by the configured collector
// (crashKey), the same on every call.
func crashVerdict(task string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"task_id": task, "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU",
		"collector_key": crashKey, "executor_key": "exec000000000001", "dispatch_id": "dispatch-" + task,
		"normal_collector_cron_id": "ncc", "ts_kst": "2026-01-01T00:00:00+09:00",
	})
	return b
}

// kindsByTask counts the records of a kind per task.
func kindsByTask(t *testing.T, c *httpapi.Client, kind writeback.RecordKind) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range storetest.AllRecords(t, c, writeback.RecordQuery{Kind: kind, Limit: 1000}) {
		switch {
		case r.Durable != nil:
			out[r.Durable.TaskID]++
		case r.Registry != nil:
			out[r.Registry.TaskID]++
		}
	}
	return out
}

// crashServe starts a server of the built binary on config for a crash
// test (skipped in -short) and returns the binary, the server and a
// collector's client.
func crashServe(t *testing.T, config string) (string, *serverProc, *httpapi.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the settle binary")
	}
	bin := settleBinary(t)
	srv := startServe(t, bin, config)
	return bin, srv, srv.client(t, "tok-collector")
}

// crashLoad runs writers goroutines, each calling post(ctx, g, i) for its
// number g and i = 0, 1, 2, ... until stopped; post returns the tasks a
// request got acknowledged. Once enough tasks are acknowledged (within a
// minute) srv is killed with SIGKILL and the writers are stopped. It
// returns the acknowledged tasks.
func crashLoad(t *testing.T, srv *serverProc, writers, enough int, post func(ctx context.Context, g, i int) ([]string, error)) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]bool{}
	reached := make(chan struct{})
	closeReached := sync.OnceFunc(func() { close(reached) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				tasks, err := post(ctx, g, i)
				if err != nil {
					// The server is gone, or the request failed: try
					// again after a pause, until stopped.
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				for _, task := range tasks {
					acked[task] = true
				}
				if len(acked) >= enough {
					closeReached()
				}
				mu.Unlock()
			}
		})
	}
	testenv.Within(t, reached, 60*time.Second, fmt.Sprintf("%d acknowledged write-backs", enough))
	srv.stop(t, syscall.SIGKILL)
	// Requests in flight fail or are cancelled: none is acknowledged now.
	cancel()
	wg.Wait()
	return acked
}

// postCrashVerdict posts the write-back of task through c, returning it
// as acknowledged on a 201.
func postCrashVerdict(ctx context.Context, c *httpapi.Client, task string) ([]string, error) {
	r, err := c.PostWriteback(ctx, httpapi.WritebackBody{Verdict: crashVerdict(task), BatchID: "CRASH", TrackID: "T1"})
	if err != nil || r.Status != 201 {
		return nil, err
	}
	return []string{task}, nil
}

// TestCrashUnderLoad: the server is killed with SIGKILL while 64 clients
// write back; after a restart every write-back that got a 201 is in the
// ledger, and none twice.
func TestCrashUnderLoad(t *testing.T) {
	config := serverConfig(t, t.TempDir())
	bin, srv, c := crashServe(t, config)

	acked := crashLoad(t, srv, 64, 300, func(ctx context.Context, g, i int) ([]string, error) {
		return postCrashVerdict(ctx, c, fmt.Sprintf("crash-%02d-%05d", g, i))
	})

	again := startServe(t, bin, config)
	have := kindsByTask(t, again.client(t, "tok-operator"), writeback.KindDurable)
	for task := range acked {
		if have[task] != 1 {
			t.Errorf("acknowledged write-back %s is in the ledger %d times", task, have[task])
		}
	}
	for task, n := range have {
		if n != 1 {
			t.Errorf("write-back %s is in the ledger %d times", task, n)
		}
	}
	t.Logf("%d write-backs acknowledged before SIGKILL, %d in the ledger after restart", len(acked), len(have))

	// SIGTERM: a graceful shutdown, exit status 0.
	if err := again.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-again.done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

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

// TestPostgresCrashPostedEvents: a server on PostgreSQL posts each
// write-back's writeback.recorded event (event.Poster) and answers before
// the event's commit. Killed with SIGKILL under load, then restarted: every
// acknowledged write-back is in the ledger once, and every durable record
// has its event (a posted event lost with the process is re-created by the
// restarted server's reconciliation), once.
func TestPostgresCrashPostedEvents(t *testing.T) {
	store, config := pgServeConfig(t, nil)
	bin, srv, c := crashServe(t, config)

	acked := crashLoad(t, srv, 32, 200, func(ctx context.Context, g, i int) ([]string, error) {
		return postCrashVerdict(ctx, c, fmt.Sprintf("pgcrash-%02d-%05d", g, i))
	})

	again := startServe(t, bin, config)
	have := map[string]int{}
	var wids []string
	for _, r := range storetest.AllRecords(t, again.client(t, "tok-operator"), writeback.RecordQuery{Kind: writeback.KindDurable, Limit: 1000}) {
		have[r.Durable.TaskID]++
		wids = append(wids, r.Durable.WritebackID)
	}
	for task := range acked {
		if have[task] != 1 {
			t.Errorf("acknowledged write-back %s is in the ledger %d times", task, have[task])
		}
	}

	db, err := pgx.Connect(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	// The restarted server reconciles in the background: wait (bounded)
	// until every durable record has its event.
	testenv.Until(t, 60*time.Second, func() bool {
		rows, err := db.Query(context.Background(), "SELECT key FROM events WHERE type = 'writeback.recorded'")
		if err != nil {
			t.Fatal(err)
		}
		ks, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]int{}
		for _, k := range ks {
			keys[k]++
		}
		missing := 0
		for _, w := range wids {
			switch n := keys[derive.RecordedKey(w)]; n {
			case 0:
				missing++
			case 1:
			default:
				t.Fatalf("write-back %s has %d writeback.recorded events", w, n)
			}
		}
		return missing == 0
	})
	t.Logf("%d write-backs acknowledged before SIGKILL, %d durable, every one with its event", len(acked), len(wids))
}
