package file

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
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

// TestBatchCacheRefusesSwappedLinks: a declaration held in the cache is
// refused (PathRefused) once any directory on its path, or the file
// itself, is replaced by a symbolic link to the very same file, so the
// cache never answers for a path that now leaves the root.
func TestBatchCacheRefusesSwappedLinks(t *testing.T) {
	ctx := context.Background()
	for _, rel := range []string{"memory", "memory/events", BatchesRelDir, BatchesRelDir + "/B1.json"} {
		t.Run(rel, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			l, err := OpenLedger(LedgerOptions{Root: root, Config: writeback.Config{CollectorKeys: []string{"anu0000000000001"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// No batches directory yet, then no declaration: not found.
			want := settle.ErrorCode(writeback.ErrBatchNotFound("B1"))
			if _, err := getBatch(t, l, "B1"); settle.ErrorCode(err) != want {
				t.Fatalf("GetBatch before any declaration: %v, want %s", err, want)
			}
			if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "B0", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "z"}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := getBatch(t, l, "B1"); settle.ErrorCode(err) != want {
				t.Fatalf("GetBatch of an undeclared batch: %v, want %s", err, want)
			}
			b := writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "a"}}}
			if err := l.DeclareBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := l.GetBatch(ctx, "B1"); err != nil {
				t.Fatal(err)
			}
			// Force the declaration into the cache (a fresh file is not
			// cached within racyMargin of its change).
			path := filepath.Join(root, filepath.FromSlash(BatchesRelDir), "B1.json")
			k, err := statOf(path)
			if err != nil {
				t.Fatal(err)
			}
			l.batches.put(path, k, b, time.Now().Add(time.Hour))
			if _, _, hit, _, _ := l.cachedLookup("B1"); !hit {
				t.Fatal("declaration not cached")
			}
			p := filepath.Join(root, filepath.FromSlash(rel))
			moved := filepath.Join(base, "moved")
			if err := os.Rename(p, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(moved, p); err != nil {
				t.Fatal(err)
			}
			_, err = getBatch(t, l, "B1")
			if got := settle.ErrorCode(err); got != settle.PathRefused {
				t.Fatalf("GetBatch through a swapped link %s: %v (code %s), want %s", rel, err, got, settle.PathRefused)
			}
			if l.batches.noOpenat2.Load() {
				t.Fatal("a link under the root turned the one-walk lookup off")
			}
		})
	}
}

// TestBatchCacheRootBehindLink: a root whose own path holds a symbolic
// link is served (links above the root are the user's choice); the
// lookup falls back to a walk below the root, and still hits the cache.
func TestBatchCacheRootBehindLink(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "link", "root")
	l, b := declaredB1(t, root)
	got, err := getBatch(t, l, "B1")
	if err != nil || got.Tracks[0].TaskID != "a" {
		t.Fatalf("GetBatch under a linked root: %+v %v", got, err)
	}
	if !l.batches.noOpenat2.Load() {
		t.Fatal("openat2 refuses the root's link, yet stays in use")
	}
	cacheB1(t, l, b)
	if _, _, hit, _, ok := l.cachedLookup("B1"); !ok || !hit {
		t.Fatalf("cached declaration under a linked root: hit %v ok %v", hit, ok)
	}
	if _, err := getBatch(t, l, "B2"); settle.ErrorCode(err) != settle.ErrorCode(writeback.ErrBatchNotFound("B2")) {
		t.Fatalf("undeclared batch under a linked root: %v", err)
	}
}

// TestFindBatchIsGetBatch: FindBatch answers as GetBatch does, with an
// undeclared batch and an id that cannot be declared as not found
// instead of their errors, through every state of a declaration.
func TestFindBatchIsGetBatch(t *testing.T) {
	ctx := context.Background()
	l, b := declaredB1(t, t.TempDir())
	path := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir), "B1.json")
	for _, id := range []string{"B1", "B2", "", "../B1", "B1/x", ".hidden", "B 1"} {
		_, _ = getBatch(t, l, id)
	}
	cacheB1(t, l, b)
	_, _ = getBatch(t, l, "B1")
	for _, body := range []string{`{"batch_id": "B9", "tracks": []}`, `{"batch_id":`, `[]`} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := getBatch(t, l, "B1"); err == nil {
			t.Fatalf("declaration %s read without an error", body)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := getBatch(t, l, "B1"); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("removed declaration: %v", err)
	}
	if err := l.DeclareBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := getBatch(t, l, "B1"); err != nil || got.BatchID != "B1" {
		t.Fatalf("declared again: %+v %v", got, err)
	}
}

// getBatch is l.GetBatch(id), checked against l.FindBatch(id): the same
// batch when it is found, not found (and no error) where GetBatch says
// NotFound or InvalidInput, and the same error otherwise.
func getBatch(t testing.TB, l *Ledger, id string) (writeback.Batch, error) {
	t.Helper()
	ctx := context.Background()
	b, err := l.GetBatch(ctx, id)
	fb, found, ferr := l.FindBatch(ctx, id)
	code := settle.ErrorCode(err)
	switch {
	case err == nil:
		if !found || ferr != nil || !reflect.DeepEqual(fb, b) {
			t.Fatalf("batch %q: GetBatch %+v, FindBatch %+v found %v err %v", id, b, fb, found, ferr)
		}
	case code == settle.NotFound || code == settle.InvalidInput:
		if found || ferr != nil || !reflect.DeepEqual(fb, writeback.Batch{}) {
			t.Fatalf("batch %q: GetBatch %v, FindBatch %+v found %v err %v", id, err, fb, found, ferr)
		}
	default:
		if found || ferr == nil || ferr.Error() != err.Error() {
			t.Fatalf("batch %q: GetBatch %v, FindBatch found %v err %v", id, err, found, ferr)
		}
	}
	return b, err
}

// BenchmarkGetBatchCached: a cached declaration's lookup, by one openat2
// walk against an lstat of each component below the root.
func BenchmarkGetBatchCached(b *testing.B) {
	l, d := declaredB1(b, b.TempDir())
	cacheB1(b, l, d)
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "lstat-walk"
		}
		b.Run(name, func(b *testing.B) {
			l.batches.noOpenat2.Store(walk)
			for b.Loop() {
				if _, _, hit, _, _ := l.cachedLookup("B1"); !hit {
					b.Fatal("not cached")
				}
			}
		})
	}
}

// declaredB1 opens a ledger at root (closed with the test) and declares
// batch B1 in it.
func declaredB1(t testing.TB, root string) (*Ledger, writeback.Batch) {
	t.Helper()
	l, err := OpenLedger(LedgerOptions{Root: root, Config: writeback.Config{CollectorKeys: []string{"anu0000000000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "a"}}}
	if err := l.DeclareBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return l, b
}

// cacheB1 puts B1's declaration in the cache (a fresh file is not cached
// within racyMargin of its change).
func cacheB1(t testing.TB, l *Ledger, b writeback.Batch) {
	t.Helper()
	path := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir), "B1.json")
	k, err := statOf(path)
	if err != nil {
		t.Fatal(err)
	}
	l.batches.put(path, k, b, time.Now().Add(time.Hour))
}
