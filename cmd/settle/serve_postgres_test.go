package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// pgServeConfig skips in -short mode (the test builds and runs the
// binary) and returns a store URL on a fresh schema of the test database
// and a server config on it (a new root), set over the defaults.
func pgServeConfig(t *testing.T, set map[string]any) (store, config string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the settle binary")
	}
	store = testenv.PostgresURL(t, "cli_")
	cfg := map[string]any{"store": store, "root": t.TempDir()}
	for k, v := range set {
		cfg[k] = v
	}
	return store, serverConfigWith(t, cfg)
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
