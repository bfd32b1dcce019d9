package file_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
)

// TestEventsCompactRetention: a count policy removes the oldest events;
// a resume below the floor is COMPACTED, every retained event keeps its
// id and bytes, a removed key is still never appended again, ids go on
// from where they were, and another opener sees the same.
func TestEventsCompactRetention(t *testing.T) {
	dir := t.TempDir()
	ev := openEvents(t, dir)
	ctx := context.Background()
	for i := 1; i <= 100; i++ {
		var err error
		if i%2 == 0 {
			_, _, err = ev.AppendOnce(ctx, fmt.Sprintf("k%d", i), "test.keyed", map[string]int{"i": i})
		} else {
			_, err = ev.Append(ctx, "test.plain", map[string]int{"i": i})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	before, err := ev.Since(ctx, 60, 1000)
	if err != nil {
		t.Fatal(err)
	}
	other := openEvents(t, dir) // another opener, indexed before the compaction

	res, err := ev.Compact(ctx, file.Retention{MaxEvents: 40})
	if err != nil {
		t.Fatal(err)
	}
	if res.Floor != 60 || res.Removed != 60 || res.Retained != 40 {
		t.Fatalf("compact: %+v", res)
	}
	for _, log := range []*file.Events{ev, other, openEvents(t, dir)} {
		if _, err := log.Since(ctx, 59, 10); settle.ErrorCode(err) != settle.Compacted {
			t.Fatalf("since 59 below the floor: %v", err)
		}
		after, err := log.Since(ctx, 60, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("retained %d events, want %d", len(after), len(before))
		}
		for i := range after {
			if after[i].ID != before[i].ID || after[i].Key != before[i].Key || string(after[i].Data) != string(before[i].Data) || !after[i].Time.Equal(before[i].Time) {
				t.Fatalf("event %d changed: %+v != %+v", before[i].ID, after[i], before[i])
			}
		}
		if f, err := log.Floor(ctx); err != nil || f != 60 {
			t.Fatalf("floor %d %v", f, err)
		}
	}
	// Removed and retained keys are both still present for AppendOnce.
	for _, key := range []string{"k2", "k60", "k100"} {
		if _, appended, err := other.AppendOnce(ctx, key, "test.keyed", nil); err != nil || appended {
			t.Fatalf("AppendOnce %s after compaction: appended=%v %v", key, appended, err)
		}
	}
	e, err := other.Append(ctx, "test.plain", nil)
	if err != nil || e.ID != 101 {
		t.Fatalf("next id after compaction: %d %v", e.ID, err)
	}
	// Compacting what is already gone removes nothing.
	if res, err := ev.Compact(ctx, file.Retention{MaxEvents: 41}); err != nil || res.Removed != 0 || res.Floor != 60 {
		t.Fatalf("second compaction: %+v %v", res, err)
	}
}

// TestEventsCompactByAge: events older than the age go, lines that do not
// decode before them go with them, younger ones stay.
func TestEventsCompactByAge(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano)
	lines := ""
	for i := 1; i <= 5; i++ {
		lines += fmt.Sprintf(`{"id":%d,"type":"test.old","time":%q,"key":"old%d","data":{}}`+"\n", i, old, i)
	}
	lines += "not json\n"
	file.AppendRawForTest(t, eventsPath(dir), lines)
	ev := openEvents(t, dir)
	ctx := context.Background()
	for range 3 {
		if _, err := ev.Append(ctx, "test.new", nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ev.Compact(ctx, file.Retention{MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Floor != 6 || res.Retained != 3 {
		t.Fatalf("compact by age: %+v", res)
	}
	evs, err := ev.Since(ctx, 6, 100)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckIDs(t, evs, 7, 8, 9)
	if _, appended, err := ev.AppendOnce(ctx, "old3", "test.old", nil); err != nil || appended {
		t.Fatalf("removed key appended again: %v %v", appended, err)
	}
}

// TestEventsCompactUnderConcurrentReaders: writers append through one
// opener, a reader follows through another, and a third compacts over and
// over; the reader, which keeps up, sees every event exactly once and in
// order, and nothing retained is lost.
func TestEventsCompactUnderConcurrentReaders(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	writer, reader, compactor := openEvents(t, dir), openEvents(t, dir), openEvents(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const total = 600
	// The writer stays at most window events ahead of the reader, below
	// the smallest retention (300): a reader that keeps up must never be
	// compacted past, however the goroutines are scheduled.
	const window = 200
	progress := make(chan int64, 1)
	compacted := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var read int64
		for i := 1; i <= total; i += 10 {
			for int64(i+9)-read > window {
				select {
				case read = <-progress:
				case <-ctx.Done():
					werr = ctx.Err()
					return
				}
			}
			if i > 500 {
				// Past the largest retention (400): the rest waits
				// for a compaction, so one runs while the reader reads.
				select {
				case <-compacted:
				case <-ctx.Done():
					werr = ctx.Err()
					return
				}
			}
			if werr = appendMixedFrom(ctx, writer, i, i+9, 3); werr != nil {
				return
			}
		}
	}()
	compactDone := make(chan struct{})
	var compactions int
	var cerr error
	go func() {
		defer close(compactDone)
		for ctx.Err() == nil {
			res, err := compactor.Compact(ctx, file.Retention{MaxEvents: int64(300 + rng.IntN(100))})
			if err != nil && ctx.Err() == nil {
				cerr = err
				return
			}
			if res.Removed > 0 {
				if compactions == 0 {
					close(compacted)
				}
				compactions++
			}
		}
	}()
	var got []event.Event
	var after int64
	for after < total {
		evs, err := reader.Since(ctx, after, 50)
		if err != nil {
			t.Fatalf("reader at %d: %v", after, err)
		}
		if len(evs) == 0 {
			<-reader.Wait(ctx, after)
			continue
		}
		got = append(got, evs...)
		after = evs[len(evs)-1].ID
		select {
		case <-progress:
		default:
		}
		progress <- after
	}
	wg.Wait()
	cancel()
	<-compactDone
	if werr != nil || (cerr != nil && !errors.Is(cerr, context.Canceled)) {
		t.Fatalf("writer %v, compactor %v", werr, cerr)
	}
	for i, e := range got {
		var d struct{ I int }
		if err := json.Unmarshal(e.Data, &d); err != nil || e.ID != int64(i+1) || d.I != i+1 {
			t.Fatalf("event %d: %+v (%v)", i+1, e, err)
		}
	}
	if compactions == 0 {
		t.Fatal("no compaction ran while the reader read")
	}
	t.Logf("%d compactions while %d events were appended and read", compactions, total)
}
