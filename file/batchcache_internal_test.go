package file

import (
	"testing"
	"time"

	"github.com/settlehq/settle/writeback"
)

func TestBatchCacheRacyRule(t *testing.T) {
	var c batchCache
	now := time.Now()
	old := now.Add(-time.Hour)
	k := statKey{dev: 1, ino: 2, size: 10, ctimeS: old.Unix(), mtimeS: old.Unix()}
	b := writeback.Batch{BatchID: "B", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "a"}}}

	c.put("p", k, b, now)
	got, ok := c.get("p", k)
	if !ok || got.Tracks[0].TaskID != "a" {
		t.Fatalf("an old file is cached: %+v %v", got, ok)
	}
	got.Tracks[0].TaskID = "edited"
	if again, _ := c.get("p", k); again.Tracks[0].TaskID != "a" {
		t.Fatal("a caller's edit reached the cache")
	}
	k2 := k
	k2.mtimeN++
	if _, ok := c.get("p", k2); ok {
		t.Fatal("a changed mtime hits the cache")
	}

	// Changed within the margin before the read: never cached.
	fresh := statKey{dev: 1, ino: 3, size: 10, ctimeS: now.Unix(), ctimeN: int64(now.Nanosecond()), mtimeS: old.Unix()}
	c.put("q", fresh, b, now.Add(racyMargin/2))
	if _, ok := c.get("q", fresh); ok {
		t.Fatal("a file changed just before its read is cached")
	}
	c.put("q", fresh, b, now.Add(2*racyMargin))
	if _, ok := c.get("q", fresh); !ok {
		t.Fatal("a file old enough at its read is not cached")
	}
}
