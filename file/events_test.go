package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
)

// openEvents opens an event log in dir and closes it at cleanup.
func openEvents(t testing.TB, dir string) *file.Events {
	t.Helper()
	ev, err := file.OpenEvents(file.EventsOptions{Root: dir, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("open events: %v", err)
	}
	t.Cleanup(func() { ev.Close() })
	return ev
}

func eventsPath(dir string) string { return filepath.Join(dir, filepath.FromSlash(file.EventsRelPath)) }

// checkIDs fails unless evs have exactly the ids want, in order.
func checkIDs(t *testing.T, evs []event.Event, want ...int64) {
	t.Helper()
	var got []int64
	for _, e := range evs {
		got = append(got, e.ID)
	}
	if len(got) != len(want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("ids %v, want %v", got, want)
		}
	}
}

func TestEventsAppendSinceAndReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	for i := 1; i <= 10; i++ {
		e, err := ev.Append(ctx, event.WritebackRecorded, map[string]int{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != int64(i) {
			t.Fatalf("append %d: id %d", i, e.ID)
		}
	}
	all, err := ev.Since(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, all, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	if string(all[3].Data) != `{"n":4}` || all[3].Type != event.WritebackRecorded || all[3].Time.IsZero() {
		t.Fatalf("event 4 = %+v", all[3])
	}
	page, err := ev.Since(ctx, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, page, 6, 7)
	none, err := ev.Since(ctx, 10, 5)
	if err != nil || len(none) != 0 {
		t.Fatalf("since last: %v %v", none, err)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Append(ctx, "x", nil); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("append after close: %v", err)
	}

	again := openEvents(t, dir)
	all2, err := again.Since(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all2) != 10 || string(all2[9].Data) != `{"n":10}` {
		t.Fatalf("after reopen: %+v", all2)
	}
	e, err := again.Append(ctx, event.BatchSettled, json.RawMessage(`{ "a" : 1 }`))
	if err != nil || e.ID != 11 || string(e.Data) != `{"a":1}` {
		t.Fatalf("append after reopen: %+v %v", e, err)
	}
	// Every line is one event with its id.
	data, err := os.ReadFile(eventsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[10], `{"id":11,"type":"batch.settled"`) {
		t.Fatalf("file lines: %q", lines)
	}
}

func TestEventsRefusals(t *testing.T) {
	ctx := context.Background()
	ev := openEvents(t, t.TempDir())
	tests := []struct {
		name string
		run  func() error
	}{
		{"empty type", func() error { _, err := ev.Append(ctx, "", nil); return err }},
		{"data not JSON", func() error { _, err := ev.Append(ctx, "x", json.RawMessage("{")); return err }},
		{"unmarshalable data", func() error { _, err := ev.Append(ctx, "x", func() {}); return err }},
		{"empty key", func() error { _, _, err := ev.AppendOnce(ctx, "", "x", nil); return err }},
		{"oversized event", func() error { _, err := ev.Append(ctx, "x", strings.Repeat("a", 2<<20)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("err = %v, want INVALID_INPUT", err)
			}
		})
	}
	// Nothing was written by the refusals.
	if e, err := ev.Append(ctx, "x", nil); err != nil || e.ID != 1 {
		t.Fatalf("first real append: %+v %v", e, err)
	}
}

func TestEventsAppendOnceConcurrent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Two logs on one file exclude each other through the flock, as two
	// servers do.
	logs := []*file.Events{openEvents(t, dir), openEvents(t, dir)}
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	appended := 0
	ids := map[int64]bool{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logs[i%2]
			key := "batch.settled:B" + string(rune('0'+i%4))
			e, ok, err := l.AppendOnce(ctx, key, event.BatchSettled, map[string]int{"caller": i})
			if err != nil {
				t.Error(err)
				return
			}
			if e.Key != key || e.ID == 0 {
				t.Errorf("event %+v for key %s", e, key)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				appended++
			}
			ids[e.ID] = true
		}()
	}
	wg.Wait()
	if appended != 4 || len(ids) != 4 {
		t.Fatalf("appended %d events with %d ids, want 4 and 4", appended, len(ids))
	}
	// After a reopen the keys are still known.
	fresh := openEvents(t, dir)
	e, ok, err := fresh.AppendOnce(ctx, "batch.settled:B2", event.BatchSettled, nil)
	if err != nil || ok || !ids[e.ID] {
		t.Fatalf("append once after reopen: %+v %v %v", e, ok, err)
	}
	all, err := fresh.Since(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, all, 1, 2, 3, 4)
}

func TestEventsGroupCommit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	durable.SetFailpoint("before-append", func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	})
	t.Cleanup(func() { durable.SetFailpoint("before-append", nil) })

	const n = 64
	var wg sync.WaitGroup
	ids := make(chan int64, n)
	run := func() {
		defer wg.Done()
		e, err := ev.Append(ctx, event.WritebackRecorded, nil)
		if err != nil {
			t.Error(err)
			return
		}
		ids <- e.ID
	}
	wg.Add(1)
	go run()
	<-entered // the first group is inside its write
	for range n - 1 {
		wg.Add(1)
		go run()
	}
	testenv.Until(t, 10*time.Second, func() bool { return ev.QueuedForTest() == n-1 })
	close(release)
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids, want %d", len(seen), n)
	}
	st := ev.Stats()
	if st.Events != n || st.Fsyncs >= n/4 || st.MaxGroup < 2 {
		t.Fatalf("stats %+v: want %d events in far fewer fsyncs", st, n)
	}
}

func TestEventsPoisonedAfterFailedFsync(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	if _, err := ev.Append(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected fsync failure")
	durable.SetFailpoint("before-fsync", func() error { return boom })
	_, err := ev.Append(ctx, "b", nil)
	durable.SetFailpoint("before-fsync", nil)
	if settle.ErrorCode(err) != settle.Unavailable || !errors.Is(err, boom) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	if _, _, err := ev.AppendOnce(ctx, "k", "c", nil); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("append after failure: %v, want UNAVAILABLE", err)
	}
	if !ev.Stats().Poisoned {
		t.Fatal("stats do not report the poisoned log")
	}
	// Reads keep working and never show the failed event.
	all, err := ev.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, all, 1)
	ev.Close()
	again := openEvents(t, dir)
	e, err := again.Append(ctx, "d", nil)
	if err != nil || e.ID != 2 {
		t.Fatalf("append after reopen: %+v %v", e, err)
	}
}

func TestEventsTornTailRepaired(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	for range 2 {
		if _, err := ev.Append(ctx, "a", nil); err != nil {
			t.Fatal(err)
		}
	}
	ev.Close()
	path := eventsPath(dir)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := `{"id":3,"type":"a","ti`
	if _, err := f.WriteString(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()

	again := openEvents(t, dir)
	all, err := again.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, all, 1, 2)
	e, err := again.Append(ctx, "b", nil)
	if err != nil || e.ID != 3 {
		t.Fatalf("append after torn tail: %+v %v", e, err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte(torn)) || bytes.Count(data, []byte("\n")) != 3 {
		t.Fatalf("torn tail not repaired:\n%s", data)
	}
	side, _ := filepath.Glob(path + ".torn-*")
	if len(side) != 1 {
		t.Fatalf("sidecars %v", side)
	}
	if b, _ := os.ReadFile(side[0]); string(b) != torn {
		t.Fatalf("sidecar holds %q", b)
	}
	if again.Stats().TornRepairs != 1 {
		t.Fatalf("stats %+v", again.Stats())
	}
}

func TestEventsUndecodableLineKeepsItsID(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	path := eventsPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	content := `{"id":1,"type":"a","time":"2024-01-01T00:00:00Z","data":null}
not json
{"id":3,"type":"c","time":"2024-01-01T00:00:00Z","key":"k","data":{"x":1}}
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := openEvents(t, dir)
	all, err := ev.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, all, 1, 3)
	if e, ok, err := ev.AppendOnce(ctx, "k", "c", nil); err != nil || ok || e.ID != 3 {
		t.Fatalf("existing key: %+v %v %v", e, ok, err)
	}
	if e, err := ev.Append(ctx, "d", nil); err != nil || e.ID != 4 {
		t.Fatalf("append: %+v %v", e, err)
	}
	if st := ev.Stats(); st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEventsWait(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := openEvents(t, dir)
	b := openEvents(t, dir) // another "server" on the same file

	t.Run("in process", func(t *testing.T) {
		ch := a.Wait(ctx, 0)
		select {
		case <-ch:
			t.Fatal("closed before any event")
		case <-time.After(30 * time.Millisecond):
		}
		if _, err := a.Append(ctx, "x", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("not woken by an append")
		}
	})
	t.Run("other log on the file", func(t *testing.T) {
		ch := b.Wait(ctx, 1)
		if _, err := a.Append(ctx, "y", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("not woken by another log's append")
		}
		evs, err := b.Since(ctx, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, evs, 2)
	})
	t.Run("already there", func(t *testing.T) {
		select {
		case <-b.Wait(ctx, 0):
		case <-time.After(5 * time.Second):
			t.Fatal("not closed for an existing event")
		}
	})
	t.Run("context ends", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		ch := a.Wait(cctx, 100)
		cancel()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("not closed when the context ended")
		}
	})
	t.Run("log closed", func(t *testing.T) {
		c := openEvents(t, dir)
		ch := c.Wait(ctx, 100)
		c.Close()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("not closed when the log closed")
		}
	})
}

// FuzzEventsOpen: any file content opens, reads without error, and the
// next append gets the id after the last complete line.
func FuzzEventsOpen(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(`{"id":1,"type":"a","time":"2024-01-01T00:00:00Z","data":1}` + "\n"))
	f.Add([]byte("garbage\n\n{\"id\":9,\"type\":\"b\",\"key\":\"k\"}\n{\"torn"))
	f.Add([]byte(`{"id":1,"type":"a","time":"not a time","data":1}` + "\n"))
	f.Add([]byte("[1,2]\nnull\n\"s\"\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		path := eventsPath(dir)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		ev, err := file.OpenEvents(file.EventsOptions{Root: dir})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer ev.Close()
		ctx := context.Background()
		evs, err := ev.Since(ctx, 0, 1<<20)
		if err != nil {
			t.Fatalf("since: %v", err)
		}
		lines := int64(bytes.Count(content, []byte("\n")))
		prev := int64(0)
		for _, e := range evs {
			if e.ID <= prev || e.ID > lines {
				t.Fatalf("event id %d after %d (lines %d)", e.ID, prev, lines)
			}
			prev = e.ID
		}
		e, err := ev.Append(ctx, "x", nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if e.ID != lines+1 {
			t.Fatalf("appended id %d, want %d", e.ID, lines+1)
		}
	})
}

// The event line is what encoding/json makes of the event.
func TestEventsLineIsJSONOfTheEvent(t *testing.T) {
	dir := t.TempDir()
	ev := openEvents(t, dir)
	ctx := context.Background()
	data := map[string]any{"s": "quote \" and \\ and <html> and \u2028", "n": 1.5, "nested": map[string]any{"x": []int{1, 2}}}
	if _, _, err := ev.AppendOnce(ctx, "key \"with\" quotes\u00e9", "type.x", data); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Append(ctx, "type.y", json.RawMessage(" [1, 2,\n 3] ")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(eventsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	all, err := ev.Since(ctx, 0, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("%v %v", all, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for i, e := range all {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if lines[i] != string(want) {
			t.Fatalf("line %d:\n got %s\nwant %s", i+1, lines[i], want)
		}
	}
}
