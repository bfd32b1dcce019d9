package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

func countTypes(evs []event.Event) map[string]int {
	n := map[string]int{}
	for _, ev := range evs {
		n[ev.Type]++
	}
	return n
}

// settledBatches returns the batch of each batch.settled event, failing on
// a duplicate.
func settledBatches(t *testing.T, evs []event.Event) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, ev := range evs {
		if ev.Type != event.BatchSettled {
			continue
		}
		b := strings.TrimPrefix(ev.Key, "batch.settled:")
		if out[b] {
			t.Fatalf("two batch.settled events for %s", b)
		}
		out[b] = true
	}
	return out
}

// TestExactlyOnceSettlement: 50 batches whose last tracks are written back
// concurrently by different clients give 50 batch.settled events and 50
// summaries, also after a restart.
func TestExactlyOnceSettlement(t *testing.T) {
	const batches = 50
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	disp := e.client("tok-dispatcher")
	for i := range batches {
		b := fmt.Sprintf("EO%02d", i)
		if err := disp.DeclareBatch(ctx, writeback.Batch{BatchID: b, Tracks: []writeback.TrackTask{
			{TrackID: "T1", TaskID: b + "-t1"}, {TrackID: "T2", TaskID: b + "-t2"}}}); err != nil {
			t.Fatal(err)
		}
	}
	ca, cb := e.client("tok-collector-a"), e.client("tok-collector-b")
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	first := map[string]int{}
	consolidated := map[string]int{}
	for i := range batches {
		b := fmt.Sprintf("EO%02d", i)
		for k, c := range []*httpapi.Client{ca, cb} {
			key := []string{keyA, keyB}[k]
			track := fmt.Sprintf("T%d", k+1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := c.PostWriteback(ctx, writebackBody(b+"-"+strings.ToLower(track), track, b, key))
				if err != nil || r.Status != 201 {
					t.Errorf("%s %s: %+v %v", b, track, r, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.FirstConsolidation {
					first[b]++
				}
				if r.BatchDecision == writeback.AllSettledConsolidate {
					consolidated[b]++
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	check := func(when string) {
		t.Helper()
		evs := allEvents(t, e.events)
		settled := settledBatches(t, evs)
		if n := countTypes(evs); len(settled) != batches || n[event.WritebackRecorded] != 2*batches {
			t.Fatalf("%s: %d batch.settled, %d writeback.recorded; want %d and %d", when, len(settled), n[event.WritebackRecorded], batches, 2*batches)
		}
		for i := range batches {
			b := fmt.Sprintf("EO%02d", i)
			if !settled[b] {
				t.Fatalf("%s: no batch.settled for %s", when, b)
			}
			if _, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(writeback.SummariesRelDir), b+".json")); err != nil {
				t.Fatalf("%s: summary of %s: %v", when, b, err)
			}
		}
	}
	check("after the write-backs")
	for i := range batches {
		b := fmt.Sprintf("EO%02d", i)
		if first[b] != 1 || consolidated[b] < 1 {
			t.Fatalf("batch %s: %d first consolidations, %d consolidated answers", b, first[b], consolidated[b])
		}
	}
	// Status reads and a restart (with its reconciliation) add nothing.
	if so, err := disp.BatchStatus(ctx, "EO07", "T2"); err != nil || so.Result.Decision != writeback.AllSettledConsolidate || so.FirstConsolidation {
		t.Fatalf("status: %+v %v", so, err)
	}
	e.stop()
	e = startEnv(t, envOptions{root: e.root})
	check("after a restart")
}

// TestSettlementReconciled: what a crash between a durable write and its
// events leaves (records and a summary without events) is repaired at
// startup; a batch settled behind the server's back is announced by its
// next status read.
func TestSettlementReconciled(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	led, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: testConfig(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(task, track, batch string) writeback.Binding {
		b, err := writeback.Extract([]byte(verdict(task, track, keyA)), writeback.ExtractOptions{BatchID: batch, TrackID: track, Root: root, SourcePath: "x", Config: testConfig()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tracks := []writeback.TrackTask{{TrackID: "T1", TaskID: "r-1"}, {TrackID: "T2", TaskID: "r-2"}}
	for _, tt := range tracks {
		if out, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: bind(tt.TaskID, tt.TrackID, "R")}); err != nil || !out.Decision.Appended {
			t.Fatalf("%+v %v", out, err)
		}
	}
	if err := led.DeclareBatch(ctx, writeback.Batch{BatchID: "R", Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	if so, err := led.Settle(ctx, "R", tracks, ""); err != nil || !so.FirstConsolidation {
		t.Fatalf("%+v %v", so, err)
	}
	led.Close()

	e := startEnv(t, envOptions{root: root})
	evs := allEvents(t, e.events)
	if n := countTypes(evs); n[event.WritebackRecorded] != 2 || n[event.BatchSettled] != 1 || len(evs) != 3 {
		t.Fatalf("after reconciliation: %+v", evs)
	}

	// Another writer (the CLI) settles batch Q while the server runs.
	other, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: testConfig(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	qt := []writeback.TrackTask{{TrackID: "T1", TaskID: "q-1"}}
	if err := other.DeclareBatch(ctx, writeback.Batch{BatchID: "Q", Tracks: qt}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Writeback(ctx, writeback.WritebackRequest{Binding: bind("q-1", "T1", "Q")}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Settle(ctx, "Q", qt, ""); err != nil {
		t.Fatal(err)
	}
	so, err := e.client("tok-reader").BatchStatus(ctx, "Q", "")
	if err != nil || so.Result.Decision != writeback.AllSettledConsolidate {
		t.Fatalf("status: %+v %v", so, err)
	}
	if settled := settledBatches(t, allEvents(t, e.events)); !settled["Q"] || !settled["R"] || len(settled) != 2 {
		t.Fatalf("settled: %v", settled)
	}
}

var errEnough = errors.New("enough")

// collect streams events after `after` until n arrive.
func collect(t *testing.T, c *httpapi.Client, after int64, n int) []event.Event {
	t.Helper()
	var got []event.Event
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.StreamEvents(ctx, after, nil, func(ev event.Event) error {
		got = append(got, ev)
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("stream after %d: %v (got %d of %d)", after, err, len(got), n)
	}
	return got
}

func wantSequence(t *testing.T, evs []event.Event, from int64) {
	t.Helper()
	for i, ev := range evs {
		if ev.ID != from+int64(i) {
			var ids []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			t.Fatalf("ids %v, want %d.. in order without gaps or repeats", ids, from)
		}
	}
}

// TestSSEResume: a client that disconnects mid-stream and reconnects with
// Last-Event-ID gets every event once, in order, also across a restart.
func TestSSEResume(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	op := e.client("tok-operator")
	write := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if _, err := op.PostWriteback(ctx, writebackBody(fmt.Sprintf("%s-%d", prefix, i), "T1", "SSE", keyA)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("a", 10)
	reader := e.client("tok-reader")
	first := collect(t, reader, 0, 4) // then the client goes away
	wantSequence(t, first, 1)
	write("b", 5)
	rest := collect(t, reader, first[len(first)-1].ID, 11)
	wantSequence(t, rest, 5)

	// Last-Event-ID across a restart of the server.
	last := rest[len(rest)-1].ID
	e.stop()
	e = startEnv(t, envOptions{root: e.root})
	op = e.client("tok-operator")
	write("c", 3)
	after := collect(t, e.client("tok-reader"), last, 3)
	wantSequence(t, after, last+1)

	// ?types= keeps only the types asked for.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var recorded []event.Event
	err := e.client("tok-reader").StreamEvents(ctx2, 0, []string{event.WritebackRecorded}, func(ev event.Event) error {
		if ev.Type != event.WritebackRecorded {
			return fmt.Errorf("type %s in a filtered stream", ev.Type)
		}
		recorded = append(recorded, ev)
		if len(recorded) == 18 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("filtered stream: %v", err)
	}
	if a := e.do(call{method: "GET", path: "/v1/events?types=nope", token: "tok-reader"}); a.status != 400 {
		t.Fatalf("unknown type: %d", a.status)
	}
}

// TestSSEFollowAcrossRestart: a stream cut by the server going away is
// resumed by FollowEvents with Last-Event-ID; every event arrives once,
// in order.
func TestSSEFollowAcrossRestart(t *testing.T) {
	e := startEnv(t, envOptions{})
	addr := strings.TrimPrefix(e.url, "http://")
	ctx := context.Background()
	write := func(e *env, prefix string, n int) {
		t.Helper()
		op := e.client("tok-operator")
		for i := range n {
			if _, err := op.PostWriteback(ctx, writebackBody(fmt.Sprintf("%s-%d", prefix, i), "T1", "F", keyA)); err != nil {
				t.Fatal(err)
			}
		}
	}
	reader := e.client("tok-reader") // keeps the URL across the restart
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []event.Event
	done := make(chan error, 1)
	go func() {
		done <- reader.FollowEvents(fctx, 0, nil, func(ev event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev)
			return nil
		})
	}()
	wait := func(n int) {
		t.Helper()
		testenv.Until(t, 20*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= n
		})
	}
	write(e, "x", 5)
	wait(5)
	e.stop()
	e = startEnv(t, envOptions{root: e.root, addr: addr})
	write(e, "y", 5)
	wait(10)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 10 {
		t.Fatalf("%d events, want 10", len(got))
	}
	wantSequence(t, got, 1)
}

// TestSSEResumeBelowRetentionFloor: after the event log's retention removed
// events, a client resuming below the floor is refused 410 COMPACTED
// before the stream starts (never a silent gap); one resuming at or above
// it, or starting without a resume point, gets the retained events.
func TestSSEResumeBelowRetentionFloor(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	op := e.client("tok-operator")
	for i := range 10 {
		if _, err := op.PostWriteback(ctx, writebackBody(fmt.Sprintf("ret-%d", i), "T1", "RET", keyA)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.events.(interface{ Flush(context.Context) error }).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := e.events.(event.Compactor).Compact(ctx, event.Retention{MaxEvents: 4})
	if err != nil || res.Floor != 6 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	reader := e.client("tok-reader")
	err = reader.StreamEvents(ctx, 3, nil, func(event.Event) error { return errEnough })
	if settle.ErrorCode(err) != settle.Compacted || !strings.Contains(err.Error(), "re-sync") {
		t.Fatalf("resume below the floor: %v", err)
	}
	wantSequence(t, collect(t, reader, 6, 4), 7)
	wantSequence(t, collect(t, reader, 0, 4), 7)
}
