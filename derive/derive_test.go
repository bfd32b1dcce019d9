package derive_test

import (
	"context"
	"testing"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

func open(t *testing.T) (*file.Ledger, *file.Events, *derive.Deriver) {
	t.Helper()
	root := t.TempDir()
	led, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config()})
	storetest.OK(t, err)
	t.Cleanup(func() { led.Close() })
	ev, err := file.OpenEvents(file.EventsOptions{Root: root})
	storetest.OK(t, err)
	t.Cleanup(func() { ev.Close() })
	d, err := derive.New(derive.Options{Ledger: led, Events: ev, Sync: true})
	storetest.OK(t, err)
	return led, ev, d
}

// declare declares batch with n tracks and returns them.
func declare(t *testing.T, led *file.Ledger, batch string, n int) []writeback.TrackTask {
	t.Helper()
	tracks := storetest.Tracks(batch, n)
	if err := led.DeclareBatch(context.Background(), writeback.Batch{BatchID: batch, Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	return tracks
}

func types(t *testing.T, ev event.Log) map[string]int {
	t.Helper()
	evs, err := ev.Since(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		n[e.Type]++
	}
	return n
}

// TestFirstConsolidationNamesTheCompletingWriteback: whoever wrote the
// summary, the write-back whose record completed the batch is told so,
// also on its idempotent retry, and no other is.
func TestFirstConsolidationNamesTheCompletingWriteback(t *testing.T) {
	led, ev, d := open(t)
	ctx := context.Background()
	tracks := declare(t, led, "B", 2)
	wb := func(i int) *writeback.SettleOutcome {
		t.Helper()
		out, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(tracks[i].TaskID, tracks[i].TrackID, "B")})
		if err != nil {
			t.Fatal(err)
		}
		so, err := d.AfterWriteback(ctx, &out.Decision, out.ConflictRecorded, "test")
		if err != nil || so == nil {
			t.Fatalf("after write-back: %v %v", so, err)
		}
		return so
	}
	if so := wb(0); so.FirstConsolidation || so.Result.Decision != writeback.RecordAndDefer {
		t.Fatalf("first track: %+v", so)
	}
	if so := wb(1); !so.FirstConsolidation || so.Result.Decision != writeback.AllSettledConsolidate {
		t.Fatalf("last track: %+v", so)
	}
	if so := wb(1); !so.FirstConsolidation {
		t.Fatal("the completing write-back's retry is not told it completed the batch")
	}
	if so := wb(0); so.FirstConsolidation {
		t.Fatal("an earlier track's retry is told it completed the batch")
	}
	if n := types(t, ev); n[event.WritebackRecorded] != 2 || n[event.BatchSettled] != 1 {
		t.Fatalf("events %v", n)
	}
}

// TestFollowStepDerivesForeignRecords: records appended without their
// consequences (as a tool writing the ledger alone leaves them) get their
// events and their batch's settlement once; a second pass appends nothing.
func TestFollowStepDerivesForeignRecords(t *testing.T) {
	led, ev, d := open(t)
	ctx := context.Background()
	tracks := declare(t, led, "F", 3)
	for _, tt := range tracks {
		if _, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(tt.TaskID, tt.TrackID, "F")}); err != nil {
			t.Fatal(err)
		}
	}
	cursor, err := d.FollowStep(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if n := types(t, ev); n[event.WritebackRecorded] != 3 || n[event.BatchSettled] != 1 {
		t.Fatalf("events %v", n)
	}
	if _, err := led.Summary(ctx, "F"); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if again, err := d.FollowStep(ctx, -1); err != nil || again != cursor {
		t.Fatalf("second pass: %d %v (cursor %d)", again, err, cursor)
	}
	if st, err := d.Reconcile(ctx); err != nil || st.RecordedAdded != 0 {
		t.Fatalf("reconcile after follow: %+v %v", st, err)
	}
	if n := types(t, ev); n[event.WritebackRecorded] != 3 || n[event.BatchSettled] != 1 {
		t.Fatalf("events after a second pass %v", n)
	}
}

// countingLog counts the AppendOnce calls that reach the event log.
type countingLog struct {
	event.Log
	n int
}

func (c *countingLog) AppendOnce(ctx context.Context, key, typ string, data any) (event.Event, bool, error) {
	c.n++
	return c.Log.AppendOnce(ctx, key, typ, data)
}

// TestWritebackManyLeavesNothingToFollow: the items of a batched
// write-back are derived by their writer, declared batch or not, so a
// follower passing over their records looks nothing up in the event log
// (as for write-backs sent one per request).
func TestWritebackManyLeavesNothingToFollow(t *testing.T) {
	led, ev, _ := open(t)
	log := &countingLog{Log: ev}
	d, err := derive.New(derive.Options{Ledger: led, Events: log, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tracks := storetest.Tracks("M", 2)
	if err := led.DeclareBatch(ctx, writeback.Batch{BatchID: "M", Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	reqs := []writeback.WritebackRequest{
		{Binding: storetest.Binding("undeclared-1", "T1", "U")},
		{Binding: storetest.Binding(tracks[0].TaskID, tracks[0].TrackID, "M")},
		{Binding: storetest.Binding("undeclared-2", "T1", "U")},
	}
	items, err := led.WritebackMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	m := d.Many(items, "test")
	for i := range items {
		if items[i].Err != nil {
			t.Fatalf("item %d: %v", i, items[i].Err)
		}
		if _, err := m.After(ctx, i); err != nil {
			t.Fatalf("after item %d: %v", i, err)
		}
	}
	if log.n != len(reqs) {
		t.Fatalf("%d AppendOnce calls for %d items", log.n, len(reqs))
	}
	log.n = 0
	if _, err := d.FollowStep(ctx, -1); err != nil {
		t.Fatal(err)
	}
	if log.n != 0 {
		t.Fatalf("the follower looked up %d records their writer had derived", log.n)
	}
	if n := types(t, ev); n[event.WritebackRecorded] != len(reqs) {
		t.Fatalf("events %v", n)
	}
}
