package file_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
)

func TestEventsPostOnceOrderAndVisibility(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	// Hold the first group inside its write so the posted events are
	// queued, not yet durable, when we look.
	entered, release := holdFirstAppend(t)

	if err := ev.PostOnce(ctx, "k1", event.WritebackRecorded, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := ev.PostOnce(ctx, "k2", event.WritebackRecorded, map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	if err := ev.PostOnce(ctx, "k2", event.WritebackRecorded, map[string]int{"n": 99}); err != nil {
		t.Fatal(err)
	}
	// Not durable yet: readers must not see them.
	if evs, err := ev.Since(ctx, 0, 10); err != nil || len(evs) != 0 {
		t.Fatalf("before the fsync: %+v %v", evs, err)
	}
	done := make(chan event.Event)
	go func() {
		e, err := ev.Append(ctx, event.BatchSettled, nil)
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	// k2, its repeat and the append wait behind the held group.
	testenv.Until(t, 10*time.Second, func() bool { return ev.QueuedForTest() == 3 })
	close(release)
	last := <-done
	if last.ID != 3 {
		t.Fatalf("append after two posts got id %d, want 3", last.ID)
	}
	evs, err := ev.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckIDs(t, evs, 1, 2, 3)
	if evs[0].Key != "k1" || evs[1].Key != "k2" || string(evs[1].Data) != `{"n":2}` || evs[2].Type != event.BatchSettled {
		t.Fatalf("events %+v", evs)
	}
	// A key already in the log: nothing is queued.
	if err := ev.PostOnce(ctx, "k1", event.WritebackRecorded, nil); err != nil {
		t.Fatal(err)
	}
	if err := ev.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := ev.Stats(); st.Events != 3 || st.PostLost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEventsCloseCommitsPostedEvents(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	const n = 200
	for i := range n {
		if err := ev.PostOnce(ctx, "k"+strconv.Itoa(i), event.WritebackRecorded, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ev.PostOnce(ctx, "late", event.WritebackRecorded, nil); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("post after close: %v, want UNAVAILABLE", err)
	}
	again := openEvents(t, dir)
	evs, err := again.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d events after close and reopen, want %d", len(evs), n)
	}
	for i, e := range evs {
		if string(e.Data) != itoa(i) {
			t.Fatalf("event %d data %s, want %d", e.ID, e.Data, i)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestEventsPostFailureIsCountedAndPoisons(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	boom := errors.New("injected fsync failure")
	durable.SetFailpoint("before-fsync", func() error { return boom })
	err := ev.PostOnce(ctx, "k1", event.WritebackRecorded, nil)
	if err != nil {
		durable.SetFailpoint("before-fsync", nil)
		t.Fatalf("post: %v (the failure comes later, in the commit)", err)
	}
	if err := ev.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	durable.SetFailpoint("before-fsync", nil)
	st := ev.Stats()
	if st.PostLost != 1 || !st.Poisoned || st.Events != 0 {
		t.Fatalf("stats after a failed posted commit: %+v", st)
	}
	if err := ev.PostOnce(ctx, "k2", event.WritebackRecorded, nil); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("post on a poisoned log: %v, want UNAVAILABLE", err)
	}
	if evs, err := ev.Since(ctx, 0, 10); err != nil || len(evs) != 0 {
		t.Fatalf("a failed posted event is visible: %+v %v", evs, err)
	}
}
