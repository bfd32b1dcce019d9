package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Several servers on one PostgreSQL database (SETTLE_TEST_POSTGRES); the
// client's conformance on PostgreSQL is in conformance_test.go.

// TestPostgresServersSettleExactlyOnce: the last two tracks of 30 batches
// land concurrently on two servers sharing one database; each batch gets
// one batch.settled event and one first consolidation, and a client of
// one server resumes the stream of the other's events.
func TestPostgresServersSettleExactlyOnce(t *testing.T) {
	schema := newSchema(t)
	a := startEnv(t, envOptions{pg: schema})
	b := startEnv(t, envOptions{pg: schema})
	ctx := context.Background()
	const batches = 30
	for i := range batches {
		id := fmt.Sprintf("PG%02d", i)
		if err := a.client("tok-dispatcher").DeclareBatch(ctx, writeback.Batch{BatchID: id, Tracks: []writeback.TrackTask{
			{TrackID: "T1", TaskID: id + "-t1"}, {TrackID: "T2", TaskID: id + "-t2"}}}); err != nil {
			t.Fatal(err)
		}
	}
	clients := []*httpapi.Client{a.client("tok-collector-a"), b.client("tok-collector-b")}
	keys := []string{keyA, keyB}
	var wg sync.WaitGroup
	var mu sync.Mutex
	first := map[string]int{}
	start := make(chan struct{})
	for i := range batches {
		id := fmt.Sprintf("PG%02d", i)
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				track := fmt.Sprintf("T%d", k+1)
				r, err := clients[k].PostWriteback(ctx, writebackBody(id+"-"+strings.ToLower(track), track, id, keys[k]))
				if err != nil || r.Status != 201 {
					t.Errorf("%s %s: %+v %v", id, track, r, err)
					return
				}
				if r.FirstConsolidation {
					mu.Lock()
					first[id]++
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	evs := allEvents(t, a.events)
	settled := settledBatches(t, evs)
	if len(settled) != batches || countTypes(evs)[event.WritebackRecorded] != 2*batches {
		t.Fatalf("%d batch.settled, %v", len(settled), countTypes(evs))
	}
	for i := range batches {
		if id := fmt.Sprintf("PG%02d", i); first[id] != 1 {
			t.Fatalf("batch %s: %d first consolidations", id, first[id])
		}
	}
	// A stream from server B, resumed from server A's ids.
	got := collect(t, b.client("tok-reader"), 10, len(evs)-10)
	wantSequence(t, got, 11)
}

// TestPostgresServersSceneEventsExactlyOnce: on PostgreSQL every scene
// write goes through a settle server (no tool writes the database behind
// them). The same candidate posted concurrently to two servers sharing a
// database is announced by one scene.version_created; each status save,
// on either server, by one scene.status_saved; of the same activation
// raced on both servers from the same page, the one that moved the
// pointer is announced by one scene.activated, and so is each activation
// on either server; and a client of one server reads the other's events
// in the same order.
func TestPostgresServersSceneEventsExactlyOnce(t *testing.T) {
	schema := newSchema(t)
	a := startEnv(t, envOptions{pg: schema})
	b := startEnv(t, envOptions{pg: schema})
	ctx := context.Background()
	ref := scene.Ref{Project: "P", Episode: "1", Batch: "B1"}
	sc, err := scene.DecodeInput([]byte(`{"scene_id": "B1", "beats": [{"beat_id": "S1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	clients := []*httpapi.Client{a.client("tok-operator"), b.client("tok-operator")}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if v, err := clients[i%2].WriteCandidate(ctx, ref, sc, "race", false); err != nil || v != 1 {
				t.Errorf("candidate: version %d, %v", v, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	const saves = 10
	for i := range saves {
		patch := fmt.Sprintf(`[{"op": "replace", "path": "/beats/0/max_takes", "value": %d}]`, i+4)
		if _, err := clients[i%2].PatchStatus(ctx, ref, 1, []byte(patch)); err != nil {
			t.Fatal(err)
		}
	}
	// A second version, then its activation raced on both servers from
	// the same page (If-Match "1"): one moves the pointer and announces
	// it, the others are refused and announce nothing; then one
	// activation on each server, each announced once.
	sc2, err := scene.DecodeInput([]byte(`{"scene_id": "B1", "beats": [{"beat_id": "S1"}, {"beat_id": "S2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := clients[1].WriteCandidate(ctx, ref, sc2, "re-derive", false); err != nil || v != 2 {
		t.Fatalf("second version: %d %v", v, err)
	}
	envs := []*env{a, b}
	var moved atomic.Int32
	start = make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ans := envs[i%2].do(call{method: "POST", path: "/v1/projects/P/episodes/1/scenes/B1/activate", token: "tok-operator",
				body: `{"version": 2}`, header: map[string]string{"If-Match": `"1"`}})
			switch ans.status {
			case http.StatusOK:
				moved.Add(1)
			case http.StatusConflict, http.StatusPreconditionFailed:
			default:
				t.Errorf("activation: %d %s", ans.status, ans.body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if moved.Load() != 1 {
		t.Fatalf("%d raced activations moved the pointer, want 1", moved.Load())
	}
	if err := clients[0].Activate(ctx, ref, 1); err != nil {
		t.Fatal(err)
	}
	if err := clients[1].Activate(ctx, ref, 2); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, a.events)
	if n := countTypes(evs); n[event.SceneVersionCreated] != 2 || n[event.SceneStatusSaved] != saves || n[event.SceneActivated] != 3 {
		t.Fatalf("scene events: %v", n)
	}
	got := collect(t, clients[1], 0, len(evs))
	for i := range evs {
		if got[i].ID != evs[i].ID || got[i].Type != evs[i].Type || string(got[i].Data) != string(evs[i].Data) {
			t.Fatalf("event %d through server B: %+v, in the log: %+v", i, got[i], evs[i])
		}
	}
}
