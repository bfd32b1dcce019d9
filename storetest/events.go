package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
)

// CheckIDs fails unless evs have exactly the ids want, in order.
func CheckIDs(t *testing.T, evs []event.Event, want ...int64) {
	t.Helper()
	var got []int64
	for _, e := range evs {
		got = append(got, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("ids %v, want %v", got, want)
	}
}

// RunEvents runs the event.Log conformance suite. open returns a new,
// empty log.
func RunEvents(t *testing.T, open func(t *testing.T) event.Log) {
	t.Run("AppendSince", func(t *testing.T) {
		t.Parallel()
		ev := open(t)
		if evs, err := ev.Since(bg, 0, 10); err != nil || len(evs) != 0 {
			t.Fatalf("empty log: %v %v", evs, err)
		}
		var appended []event.Event
		for i := 1; i <= 10; i++ {
			e, err := ev.Append(bg, event.WritebackRecorded, map[string]int{"n": i})
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != int64(i) || e.Type != event.WritebackRecorded || e.Time.IsZero() || e.Key != "" {
				t.Fatalf("append %d: %+v", i, e)
			}
			appended = append(appended, e)
		}
		all, err := ev.Since(bg, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		CheckIDs(t, all, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		for i, e := range all {
			a := appended[i]
			if e.Type != a.Type || !e.Time.Equal(a.Time) || string(e.Data) != string(a.Data) {
				t.Fatalf("event %d read back as %+v, appended %+v", i+1, e, a)
			}
		}
		if string(all[3].Data) != `{"n":4}` {
			t.Fatalf("event 4 data %s", all[3].Data)
		}
		page, err := ev.Since(bg, 5, 2)
		if err != nil {
			t.Fatal(err)
		}
		CheckIDs(t, page, 6, 7)
		if none, err := ev.Since(bg, 10, 5); err != nil || len(none) != 0 {
			t.Fatalf("since last: %v %v", none, err)
		}
		if neg, err := ev.Since(bg, -3, 0); err != nil || len(neg) != 10 || neg[0].ID != 1 {
			t.Fatalf("negative cursor, default limit: %d events %v", len(neg), err)
		}
		e, err := ev.Append(bg, event.BatchSettled, json.RawMessage(`{ "a" : [1, 2] }`))
		if err != nil || e.ID != 11 || string(e.Data) != `{"a":[1,2]}` {
			t.Fatalf("raw data is compacted: %+v %v", e, err)
		}
		e, err = ev.Append(bg, event.SceneActivated, nil)
		if err != nil || string(e.Data) != "null" {
			t.Fatalf("nil data: %+v %v", e, err)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		t.Parallel()
		ev := open(t)
		tests := []struct {
			name string
			run  func() error
		}{
			{"empty type", func() error { _, err := ev.Append(bg, "", nil); return err }},
			{"data not JSON", func() error { _, err := ev.Append(bg, "x", json.RawMessage("{")); return err }},
			{"unmarshalable data", func() error { _, err := ev.Append(bg, "x", func() {}); return err }},
			{"empty key", func() error { _, _, err := ev.AppendOnce(bg, "", "x", nil); return err }},
			{"oversized event", func() error { _, err := ev.Append(bg, "x", strings.Repeat("a", 2<<20)); return err }},
		}
		for _, tt := range tests {
			if err := tt.run(); settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("%s: err = %v, want INVALID_INPUT", tt.name, err)
			}
		}
		if e, err := ev.Append(bg, "x", nil); err != nil || e.ID != 1 {
			t.Fatalf("first real append: %+v %v", e, err)
		}
	})
	t.Run("AppendOnce", func(t *testing.T) {
		t.Parallel()
		appendOnceRace(t, []event.Log{open(t)})
	})
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		ev := open(t)
		waitCases(t, ev, ev)
	})
	t.Run("WaitClosed", func(t *testing.T) {
		t.Parallel()
		ev := open(t)
		ch := ev.Wait(bg, 100)
		ev.Close()
		within(t, ch, 10*time.Second, "closing when the log closed")
	})
}

// RunEventsShared runs the cases that need several logs on one backend
// (several servers): open returns n logs sharing one new, empty log.
func RunEventsShared(t *testing.T, open func(t *testing.T, n int) []event.Log) {
	t.Run("AppendOnce", func(t *testing.T) { t.Parallel(); appendOnceRace(t, open(t, 3)) })
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		ls := open(t, 2)
		waitCases(t, ls[0], ls[1])
	})
	t.Run("ResumeFromAnyLog", func(t *testing.T) {
		t.Parallel()
		ls := open(t, 2)
		for i := range 6 {
			if _, err := ls[i%2].Append(bg, event.WritebackRecorded, map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		a, err := ls[0].Since(bg, 2, 100)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ls[1].Since(bg, 2, 100)
		if err != nil {
			t.Fatal(err)
		}
		CheckIDs(t, a, 3, 4, 5, 6)
		CheckIDs(t, b, 3, 4, 5, 6)
		for i := range a {
			if string(a[i].Data) != string(b[i].Data) || a[i].Type != b[i].Type || !a[i].Time.Equal(b[i].Time) {
				t.Fatalf("event %d differs between logs: %+v / %+v", a[i].ID, a[i], b[i])
			}
		}
	})
	t.Run("CompactRetention", func(t *testing.T) {
		t.Parallel()
		ls := open(t, 2)
		c, ok := ls[0].(event.Compactor)
		if !ok {
			t.Skip("this log has no retention")
		}
		for i := 1; i <= 20; i++ {
			var err error
			if i%2 == 0 {
				_, _, err = ls[i%2].AppendOnce(bg, fmt.Sprintf("k%d", i), event.BatchSettled, map[string]int{"i": i})
			} else {
				_, err = ls[i%2].Append(bg, event.WritebackRecorded, map[string]int{"i": i})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		before, err := ls[1].Since(bg, 12, 100)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Compact(bg, event.Retention{MaxEvents: 8})
		if err != nil || res.Floor != 12 || res.Removed != 12 || res.Retained != 8 {
			t.Fatalf("compact: %+v %v", res, err)
		}
		for _, l := range ls {
			if _, err := l.Since(bg, 11, 10); settle.ErrorCode(err) != settle.Compacted {
				t.Fatalf("resume below the floor: %v", err)
			}
			if f, err := l.(event.Floorer).Floor(bg); err != nil || f != 12 {
				t.Fatalf("floor %d %v", f, err)
			}
			after, err := l.Since(bg, 12, 100)
			if err != nil {
				t.Fatal(err)
			}
			CheckIDs(t, after, 13, 14, 15, 16, 17, 18, 19, 20)
			for i := range after {
				if string(after[i].Data) != string(before[i].Data) || after[i].Key != before[i].Key || !after[i].Time.Equal(before[i].Time) {
					t.Fatalf("retained event %d changed", after[i].ID)
				}
			}
			// A removed key and a retained key stay taken.
			for _, key := range []string{"k4", "k18"} {
				if _, appended, err := l.AppendOnce(bg, key, event.BatchSettled, nil); err != nil || appended {
					t.Fatalf("AppendOnce %s after compaction: %v %v", key, appended, err)
				}
			}
		}
		if e, err := ls[1].Append(bg, event.WritebackRecorded, nil); err != nil || e.ID != 21 {
			t.Fatalf("next id %d %v", e.ID, err)
		}
		if res, err := c.Compact(bg, event.Retention{MaxAge: time.Hour}); err != nil || res.Removed != 0 || res.Floor != 12 {
			t.Fatalf("nothing older than an hour: %+v %v", res, err)
		}
	})
	t.Run("ConcurrentAppendsGetDistinctIDs", func(t *testing.T) {
		t.Parallel()
		ls := open(t, 3)
		const n = 30
		var wg sync.WaitGroup
		ids := make([]int64, n)
		for i := range n {
			wg.Go(func() {
				e, err := ls[i%len(ls)].Append(bg, event.WritebackRecorded, nil)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = e.ID
			})
		}
		wg.Wait()
		seen := map[int64]bool{}
		for _, id := range ids {
			if id < 1 || id > n || seen[id] {
				t.Fatalf("ids %v are not 1..%d", ids, n)
			}
			seen[id] = true
		}
		all, err := ls[0].Since(bg, 0, 1000)
		if err != nil || len(all) != n {
			t.Fatalf("%d events %v", len(all), err)
		}
	})
}

func appendOnceRace(t *testing.T, ls []event.Log) {
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	appended := 0
	ids := map[int64]bool{}
	for i := range n {
		wg.Go(func() {
			l := ls[i%len(ls)]
			key := fmt.Sprintf("batch.settled:B%d", i%4)
			e, ok, err := l.AppendOnce(bg, key, event.BatchSettled, map[string]int{"caller": i})
			if err != nil {
				t.Error(err)
				return
			}
			if e.Key != key || e.ID == 0 || e.Type != event.BatchSettled {
				t.Errorf("event %+v for key %s", e, key)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				appended++
			}
			ids[e.ID] = true
		})
	}
	wg.Wait()
	if appended != 4 || len(ids) != 4 {
		t.Fatalf("appended %d events with %d ids, want 4 and 4", appended, len(ids))
	}
	e, ok, err := ls[0].AppendOnce(bg, "batch.settled:B2", event.BatchSettled, nil)
	if err != nil || ok || !ids[e.ID] || e.Key != "batch.settled:B2" {
		t.Fatalf("append once of an existing key: %+v %v %v", e, ok, err)
	}
	all, err := ls[len(ls)-1].Since(bg, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	CheckIDs(t, all, 1, 2, 3, 4)
	e, err = ls[0].Append(bg, event.WritebackRecorded, nil)
	if err != nil || e.ID != 5 {
		t.Fatalf("append after keyed events: %+v %v", e, err)
	}
}

// waitCases: a waits, b appends (the same log, or another server's).
func waitCases(t *testing.T, a, b event.Log) {
	ch := a.Wait(bg, 0)
	select {
	case <-ch:
		t.Fatal("closed before any event")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := b.Append(bg, "x", nil); err != nil {
		t.Fatal(err)
	}
	within(t, ch, 10*time.Second, "the wake-up by an append")
	ch = a.Wait(bg, 1)
	if _, err := b.Append(bg, "y", nil); err != nil {
		t.Fatal(err)
	}
	within(t, ch, 10*time.Second, "the wake-up by the second append")
	evs, err := a.Since(bg, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	CheckIDs(t, evs, 2)
	select {
	case <-a.Wait(bg, 0):
	case <-time.After(10 * time.Second):
		t.Fatal("not closed for an existing event")
	}
	cctx, cancel := context.WithCancel(bg)
	ch = a.Wait(cctx, 100)
	cancel()
	within(t, ch, 10*time.Second, "closing when the context ended")
}

// within receives from ch, failing t if nothing comes within d.
func within[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not end within %s", what, d)
		panic("unreachable")
	}
}
