package file

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
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
