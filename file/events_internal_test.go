package file

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestEventsSegmentsCompactByAge: an age policy drops the sealed segments
// whose every event is older than the age, keeps the first one that has a
// younger event, and compacts the active file only once no segment is
// left.
func TestEventsSegmentsCompactByAge(t *testing.T) {
	dir := t.TempDir()
	ev, err := OpenEvents(EventsOptions{Root: dir, SegmentEvents: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 14 {
		ev.now = func() time.Time { return t0.Add(time.Duration(i) * time.Hour) }
		if _, err := ev.Append(ctx, "test.aged", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Events 1..14 at hours 0..13; segments 1-4, 5-8, 9-12; active 13-14.
	ev.now = func() time.Time { return t0.Add(16 * time.Hour) }
	res, err := ev.Compact(ctx, Retention{MaxAge: 9*time.Hour + time.Minute}) // keeps hours >= 7 (events 8..)
	if err != nil || res.Floor != 4 || res.Retained != 10 {
		t.Fatalf("compact by age: %+v %v", res, err)
	}
	if _, err := ev.Since(ctx, 3, 1); settle.ErrorCode(err) != settle.Compacted {
		t.Fatalf("since 3: %v", err)
	}
	res, err = ev.Compact(ctx, Retention{MaxAge: 3*time.Hour + time.Minute}) // keeps hours >= 13 (events 14..)
	if err != nil || res.Floor != 13 || res.Retained != 1 {
		t.Fatalf("compact by age into the active file: %+v %v", res, err)
	}
	evs, err := ev.Since(ctx, 13, 10)
	if err != nil || len(evs) != 1 || evs[0].ID != 14 {
		t.Fatalf("since 13: %+v %v", evs, err)
	}
}

// TestSealMetaSameIndex: a segment sealed from what this process knows of
// its own events (key hashes, times) has the .idx that parsing its lines
// gives, with events of another process on the same log in between, keyed
// and unkeyed, appended, posted and flushed.
func TestSealMetaSameIndex(t *testing.T) {
	rng := testenv.Rand(t)
	ctx := context.Background()
	root := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *Events {
		e, err := OpenEvents(EventsOptions{Root: root, SegmentEvents: 7, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()
	used := 0
	for i := range 120 {
		e := a
		if rng.Intn(4) == 0 {
			e = b
		}
		key := fmt.Sprintf("k-%d", rng.Intn(90))
		data := map[string]any{"i": i, "s": strings.Repeat("é\"<", rng.Intn(3))}
		var err error
		switch rng.Intn(4) {
		case 0:
			_, err = e.Append(ctx, "t.plain", data)
		case 1:
			err = e.PostOnce(ctx, key, "t.posted", data)
			if err == nil {
				err = e.Flush(ctx)
			}
		default:
			_, _, err = e.AppendOnce(ctx, key, "t.once", data)
		}
		if err != nil {
			t.Fatal(err)
		}
		used++
	}
	if segs := checkSegmentIdx(t, a.segDir()); segs < 5 {
		t.Fatalf("%d segments sealed of %d events, want at least 5", segs, used)
	}
}

// TestSealConcurrentGroups: groups of concurrent appends straddle the
// segment boundary, so every seal leaves lines in the active file that
// the next seal takes: each .idx is the one its lines give, and the log
// reads back every event once, in order, with its own key.
func TestSealConcurrentGroups(t *testing.T) {
	ctx := context.Background()
	e, err := OpenEvents(EventsOptions{Root: t.TempDir(), SegmentEvents: 7, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const writers, each = 16, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, _, err := e.AppendOnce(ctx, fmt.Sprintf("k-%d-%d", w, i), "t.once", map[string]int{"w": w, "i": i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if segs := checkSegmentIdx(t, e.segDir()); segs < writers*each/7-1 {
		t.Fatalf("%d segments sealed of %d events", segs, writers*each)
	}
	evs, err := e.Since(ctx, 0, 2*writers*each)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		var d struct{ W, I int }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if ev.ID != int64(i+1) || seen[ev.Key] || ev.Key != fmt.Sprintf("k-%d-%d", d.W, d.I) {
			t.Fatalf("event %d: id %d, key %q (seen %v), data %s", i, ev.ID, ev.Key, seen[ev.Key], ev.Data)
		}
		seen[ev.Key] = true
	}
	if len(evs) != writers*each {
		t.Fatalf("%d events read back, want %d", len(evs), writers*each)
	}
}

// checkSegmentIdx checks that every sealed segment in dir has the .idx
// its lines give, and returns how many there are.
func checkSegmentIdx(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs := 0
	for _, de := range ents {
		stem, ok := strings.CutSuffix(de.Name(), ".jsonl")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		idx, err := os.ReadFile(filepath.Join(dir, stem+".idx"))
		if err != nil {
			t.Fatal(err)
		}
		last, err := strconv.ParseInt(stem, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		lines := int64(strings.Count(string(data), "\n"))
		if want := buildIdx(last-lines+1, data); string(idx) != string(want) {
			t.Errorf("segment %s: .idx differs from the one its lines give", de.Name())
		}
		segs++
	}
	return segs
}

// TestEventLineIsMarshal: an event line is json.Marshal of the event, for
// types and keys holding every character encoding/json escapes.
func TestEventLineIsMarshal(t *testing.T) {
	rng := testenv.Rand(t)
	pieces := []string{"a", "Z", ".", ":", "é", "日本", "😀", "\u2028", "<", ">", "&", "\"", "\\", "\n", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\xff", "\xc3"}
	for i := range 5000 {
		ev := event.Event{ID: rng.Int63n(1 << 40), Type: testenv.RandString(rng, pieces, 8), Key: testenv.RandString(rng, pieces, 8),
			Time: time.Unix(rng.Int63n(1<<32), rng.Int63n(1e9)).UTC(), Data: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeEventLine(ev); string(got) != string(want) {
			t.Fatalf("%#v:\ngot  %s\nwant %s", ev, got, want)
		}
	}
}

// BenchmarkEventLine: one keyed event line (a writeback.recorded's shape)
// appended into a group's buffer, against json.Marshal of the event, the
// bytes it must equal.
func BenchmarkEventLine(b *testing.B) {
	ev := event.Event{ID: 123456, Type: "writeback.recorded", Key: "writeback.recorded:wb-2f6c1e0a9b7d4c3e",
		Time: time.Date(2026, 12, 6, 1, 2, 3, 456789000, time.UTC),
		Data: json.RawMessage(`{"writeback_id":"wb-2f6c1e0a9b7d4c3e","task_id":"task-000123","track_id":"T1","batch_id":"batch-7","verdict":"PASS","classification":"DURABLE_SUCCESS_WRITTEN","seq":4242}`)}
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = appendEventLine(buf[:0], ev)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSegmentListingMemo: a group commit takes the segments from the
// memoized listing while the directory is unchanged, and sees every seal
// and compaction, its own or another process's, as the directory
// changes.
func TestSegmentListingMemo(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	open := func() *Events {
		e, err := OpenEvents(EventsOptions{Root: root, SegmentEvents: 4, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	a, b := open(), open()
	appendN := func(e *Events, n int) {
		t.Helper()
		for range n {
			if _, err := e.Append(ctx, "t.plain", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// memoize lists a's segments directory as if it had been listed long
	// after its last change, so the listing is memoized.
	memoize := func() {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(a.segDir(), &st); err != nil {
			t.Fatal(err)
		}
		later := func() time.Time { return time.Now().Add(time.Hour) }
		if _, err := a.segNames.get(keyOf(&st), later, func() ([]string, error) { return readSegNames(a.segDir()) }); err != nil {
			t.Fatal(err)
		}
		if !a.segNames.valid {
			t.Fatal("listing not memoized")
		}
	}
	// same checks that a's segments are those of a fresh listing.
	same := func(what string) {
		t.Helper()
		if err := a.refresh(); err != nil {
			t.Fatal(err)
		}
		a.wmu.Lock()
		err := a.resyncSegments()
		a.wmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		names, err := readSegNames(a.segDir())
		if err != nil {
			t.Fatal(err)
		}
		a.imu.RLock()
		var got []string
		for _, s := range a.segs {
			got = append(got, filepath.Base(s.path))
		}
		a.imu.RUnlock()
		var want []string
		for _, n := range names {
			if strings.HasSuffix(n, ".jsonl") {
				want = append(want, n)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: segments %v, the directory holds %v", what, got, want)
		}
	}
	appendN(a, 13) // segments 1-4, 5-8, 9-12
	memoize()
	same("memoized")
	// The memo is what a listing of the unchanged directory returns.
	a.segNames.mu.Lock()
	full := a.segNames.val
	a.segNames.val = slices.DeleteFunc(slices.Clone(full), func(n string) bool { return strings.HasPrefix(n, "00000000000000000012") })
	a.segNames.mu.Unlock()
	a.imu.RLock()
	old := a.segs
	a.imu.RUnlock()
	segs, err := a.listSegments(old)
	if err != nil || len(segs) != 2 {
		t.Fatalf("listing of the unchanged directory: %d segments, %v; want the memo's 2", len(segs), err)
	}
	a.segNames.mu.Lock()
	a.segNames.val = full
	a.segNames.mu.Unlock()
	appendN(b, 4) // another process seals 13-16
	same("after another process's seal")
	memoize()
	appendN(a, 4) // this process seals 17-20
	same("after a seal")
	memoize()
	if _, err := b.Compact(ctx, Retention{MaxEvents: 6}); err != nil {
		t.Fatal(err)
	}
	same("after another process's compaction")
	memoize()
	appendN(a, 1)
	same("after an append")
}
