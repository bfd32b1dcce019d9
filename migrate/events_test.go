package migrate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/migrate"
)

// TestEventsKeepTheirIDs: the event log goes file -> PostgreSQL -> file
// with every id, its retention floor and its removed keys, so a client's
// Last-Event-ID means the same event on the new store, a resume below the
// floor is still refused, and a removed key is still never appended; a
// re-run after the source grew copies only the new events. The source is
// one active file, or sealed segments of 4 events whose compaction drops
// whole segments.
func TestEventsKeepTheirIDs(t *testing.T) {
	for _, c := range []struct {
		name     string
		segment  int
		floor    int64
		retained int64
	}{{"one-file", 0, 15, 24}, {"segments", 4, 12, 27}} {
		t.Run(c.name, func(t *testing.T) { testEventsKeepTheirIDs(t, c.segment, c.floor, c.retained) })
	}
}

func testEventsKeepTheirIDs(t *testing.T, segment int, floor, retained int64) {
	pg := pgURL(t)
	src, back := t.TempDir(), t.TempDir()
	ev := openEvents(t, src, segment)
	appendN := func(from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			var err error
			if i%3 == 0 {
				_, _, err = ev.AppendOnce(ctx, fmt.Sprintf("key%d", i), event.BatchSettled, map[string]int{"i": i})
			} else {
				_, err = ev.Append(ctx, event.WritebackRecorded, map[string]any{"i": i, "s": "é\u2028<"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(1, 30)
	// A line another tool left that is no event keeps its id.
	f, err := os.OpenFile(filepath.Join(src, filepath.FromSlash(file.EventsRelPath)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not an event\n")
	f.Close()
	appendN(32, 40)
	if res, err := ev.Compact(ctx, file.Retention{MaxEvents: 25}); err != nil || res.Floor != floor {
		t.Fatalf("compact: %+v %v", res, err)
	}
	if segment > 0 {
		segs, err := os.ReadDir(filepath.Join(src, filepath.FromSlash(file.EventsRelPath)) + ".segments")
		if err != nil || len(segs) == 0 {
			t.Fatalf("no segments: %v", err)
		}
	}

	r := mustRun(t, "file:"+src, pg, migrate.Options{})
	if r.Events.Copied != retained || r.Events.Source != retained {
		t.Fatalf("file -> pg events: %s", counts(r.Events))
	}
	appendN(41, 45)
	r = mustRun(t, "file:"+src, pg, migrate.Options{})
	if r.Events.Copied != 5 || r.Events.Same != retained {
		t.Fatalf("catch-up: %s", counts(r.Events))
	}
	ev.Close()
	if r := mustRun(t, pg, "file:"+back, migrate.Options{}); r.Events.Copied != retained+5 {
		t.Fatalf("pg -> file events: %s", counts(r.Events))
	}

	s := openPostgres(t, pg)
	defer s.Close()
	orig := openEvents(t, src, 0)
	defer orig.Close()
	dst := openEvents(t, back, 0)
	defer dst.Close()
	want, err := orig.Since(ctx, floor, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]event.Log{"postgres": s, "file copy": dst} {
		got, err := l.Since(ctx, floor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Type != w.Type || g.Key != w.Key || string(g.Data) != string(w.Data) || !g.Time.Truncate(time.Microsecond).Equal(w.Time.Truncate(time.Microsecond)) {
				t.Fatalf("%s: event %+v, want %+v", name, g, w)
			}
		}
		if _, err := l.Since(ctx, floor-1, 10); settle.ErrorCode(err) != settle.Compacted {
			t.Fatalf("%s: resume below the floor: %v", name, err)
		}
		for _, key := range []string{"key3", "key30"} { // removed, retained
			if _, appended, err := l.AppendOnce(ctx, key, event.BatchSettled, nil); err != nil || appended {
				t.Fatalf("%s: AppendOnce %s: %v %v", name, key, appended, err)
			}
		}
		if e, err := l.Append(ctx, event.WritebackRecorded, nil); err != nil || e.ID != 46 {
			t.Fatalf("%s: next id %d %v", name, e.ID, err)
		}
	}
}
