package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/settlehq/settle/writeback"
)

func listedIDs(t *testing.T, l *Ledger) []string {
	t.Helper()
	es, err := l.ListBatches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.BatchID)
	}
	slices.Sort(ids)
	return ids
}

// TestListBatchesMemo: a memoized listing is dropped when a declaration
// changes the directory, and temporary files and stray names are not
// batches.
func TestListBatchesMemo(t *testing.T) {
	root := t.TempDir()
	l, err := OpenLedger(LedgerOptions{Root: root, Config: writeback.Config{CollectorKeys: []string{"anu0000000000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if ids := listedIDs(t, l); len(ids) != 0 {
		t.Fatalf("empty store lists %v", ids)
	}
	// The directory looks old enough to memoize.
	l.now = func() time.Time { return time.Now().Add(time.Hour) }
	decl := func(id string) {
		if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: id, Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "t-" + id}}}); err != nil {
			t.Fatal(err)
		}
	}
	decl("A")
	dir := filepath.Join(root, filepath.FromSlash(BatchesRelDir))
	for _, stray := range []string{"A.json.tmp-1-2", ".hidden.json", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, stray), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if ids := listedIDs(t, l); !slices.Equal(ids, []string{"A"}) {
		t.Fatalf("listed %v, want [A]", ids)
	}
	if !l.batchList.valid {
		t.Fatal("the listing of an old directory was not memoized")
	}
	decl("B")
	if ids := listedIDs(t, l); !slices.Equal(ids, []string{"A", "B"}) {
		t.Fatalf("after declaring B: %v", ids)
	}
	// A replaced declaration is listed with its new time.
	before, _ := l.ListBatches(ctx)
	decl("A")
	after, _ := l.ListBatches(ctx)
	find := func(es []writeback.BatchEntry, id string) time.Time {
		for _, e := range es {
			if e.BatchID == id {
				return e.DeclaredAt
			}
		}
		t.Fatalf("%s not listed", id)
		return time.Time{}
	}
	if find(after, "A").Before(find(before, "A")) {
		t.Fatal("a replaced declaration kept an older time")
	}
	// A directory changed just now is listed but not memoized.
	l.now = time.Now
	l.batchList = statMemo[[]writeback.BatchEntry]{}
	decl("C")
	if ids := listedIDs(t, l); !slices.Equal(ids, []string{"A", "B", "C"}) || l.batchList.valid {
		t.Fatalf("fresh directory: %v memoized=%v", ids, l.batchList.valid)
	}
}
