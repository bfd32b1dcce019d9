package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
)

// benchEventLog writes a log of n keyed events under root, sealed in
// segments of size events (size <= 0: all in the active file), as the
// seal would write it.
func benchEventLog(b *testing.B, root string, n, size int) {
	b.Helper()
	path := filepath.Join(root, filepath.FromSlash(EventsRelPath))
	if err := os.MkdirAll(path+".segments", 0o755); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var chunk []byte
	first := int64(1)
	flush := func(last int64, active bool) {
		if active {
			data := append([]byte(`{"events_floor":`+strconv.FormatInt(first-1, 10)+"}\n"), chunk...)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
			return
		}
		name := filepath.Join(path+".segments", segName(last))
		if err := os.WriteFile(name+".idx", buildIdx(first, chunk), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(name+".jsonl", chunk, 0o644); err != nil {
			b.Fatal(err)
		}
		chunk, first = chunk[:0], last+1
	}
	for id := int64(1); id <= int64(n); id++ {
		ev := event.Event{ID: id, Type: "batch.settled", Time: t0.Add(time.Duration(id) * time.Millisecond),
			Key: "batch.settled:B" + strconv.FormatInt(id, 10), Data: []byte(`{"batch":"B` + strconv.FormatInt(id, 10) + `","status":"settled"}`)}
		chunk = append(appendEventLine(chunk, ev), '\n')
		if size > 0 && id%int64(size) == 0 {
			flush(id, false)
		}
	}
	flush(int64(n), true)
}

// BenchmarkEventsFreshOpenAppendOnce opens a log of 1M keyed events (as a
// new process does) and does one AppendOnce of a new key, then closes
// it: with the default segments, and (the same-run reference) the same
// events in one file, which the open must read whole.
// SETTLE_BENCH_EVENTS sets the number of events.
func BenchmarkEventsFreshOpenAppendOnce(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SETTLE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, layout := range []struct {
		name string
		size int
	}{{"segments", DefaultSegmentEvents}, {"one-file", -1}} {
		b.Run(fmt.Sprintf("%s/%d", layout.name, n), func(b *testing.B) {
			root := b.TempDir()
			benchEventLog(b, root, n, layout.size)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				ev, err := OpenEvents(EventsOptions{Root: root, SegmentEvents: layout.size})
				if err != nil {
					b.Fatal(err)
				}
				_, appended, err := ev.AppendOnce(ctx, "bench-"+strconv.Itoa(i), "bench.event", nil)
				if err != nil || !appended {
					b.Fatalf("append once: %v %v", appended, err)
				}
				ev.Close()
			}
		})
	}
}
