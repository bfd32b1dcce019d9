package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
)

// openEvents opens an event log in dir and closes it at cleanup.
func openEvents(t testing.TB, dir string) *file.Events {
	t.Helper()
	return openEventsWith(t, file.EventsOptions{Root: dir, PollInterval: 10 * time.Millisecond})
}

// openEventsWith opens an event log with opts and closes it at cleanup.
func openEventsWith(t testing.TB, opts file.EventsOptions) *file.Events {
	t.Helper()
	ev, err := file.OpenEvents(opts)
	if err != nil {
		t.Fatalf("open events: %v", err)
	}
	t.Cleanup(func() { ev.Close() })
	return ev
}

func eventsPath(dir string) string { return filepath.Join(dir, filepath.FromSlash(file.EventsRelPath)) }

// appendMixed appends events 1 to total to l, every keyedEvery-th keyed
// ("c" and its number), and returns the first error.
func appendMixed(ctx context.Context, l event.Log, total, keyedEvery int) error {
	return appendMixedFrom(ctx, l, 1, total, keyedEvery)
}

// appendMixedFrom appends events from to last of appendMixed's sequence.
func appendMixedFrom(ctx context.Context, l event.Log, from, last, keyedEvery int) error {
	for i := from; i <= last; i++ {
		var err error
		if i%keyedEvery == 0 {
			_, _, err = l.AppendOnce(ctx, fmt.Sprintf("c%d", i), "test.keyed", map[string]int{"i": i})
		} else {
			_, err = l.Append(ctx, "test.plain", map[string]int{"i": i})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// holdFirstAppend holds the first group of appends inside its write until
// release is closed; entered is closed once it is held. Later appends
// queue behind it.
func holdFirstAppend(t *testing.T) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	durable.SetFailpoint("before-append", func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	})
	t.Cleanup(func() { durable.SetFailpoint("before-append", nil) })
	return entered, release
}

// The log survives a close: events and taken keys are read back from the
// file, the next id follows the last, and each line is one event. Append,
// Since, paging and refusals on an open log are storetest.RunEvents cases.
func TestEventsReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	for i := 1; i <= 9; i++ {
		if _, err := ev.Append(ctx, event.WritebackRecorded, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := ev.AppendOnce(ctx, "batch.settled:B2", event.BatchSettled, nil); err != nil || !ok {
		t.Fatalf("append once: %v %v", ok, err)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Append(ctx, "x", nil); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("append after close: %v", err)
	}

	again := openEvents(t, dir)
	all, err := again.Since(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10 || string(all[8].Data) != `{"n":9}` || all[9].Key != "batch.settled:B2" {
		t.Fatalf("after reopen: %+v", all)
	}
	if e, ok, err := again.AppendOnce(ctx, "batch.settled:B2", event.BatchSettled, nil); err != nil || ok || e.ID != 10 {
		t.Fatalf("append once after reopen: %+v %v %v", e, ok, err)
	}
	e, err := again.Append(ctx, event.BatchSettled, json.RawMessage(`{ "a" : 1 }`))
	if err != nil || e.ID != 11 || string(e.Data) != `{"a":1}` {
		t.Fatalf("append after reopen: %+v %v", e, err)
	}
	data, err := os.ReadFile(eventsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[10], `{"id":11,"type":"batch.settled"`) {
		t.Fatalf("file lines: %q", lines)
	}
}

func TestEventsGroupCommit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ev := openEvents(t, dir)
	entered, release := holdFirstAppend(t)

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
	storetest.CheckIDs(t, all, 1)
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
	storetest.CheckIDs(t, all, 1, 2)
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
	file.AppendRawForTest(t, path, `{"id":1,"type":"a","time":"2024-01-01T00:00:00Z","data":null}
not json
{"id":3,"type":"c","time":"2024-01-01T00:00:00Z","key":"k","data":{"x":1}}
`)
	ev := openEvents(t, dir)
	all, err := ev.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckIDs(t, all, 1, 3)
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
		file.AppendRawForTest(t, eventsPath(dir), string(content))
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
