package file

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// ixWaitMerge waits until the background merge of l's index, if one is
// running or ended uninstalled, has ended; it reports whether there was one.
func ixWaitMerge(l *Ledger) bool {
	l.mu.Lock()
	m := l.ix.merge
	l.mu.Unlock()
	if m == nil {
		return false
	}
	<-m.done
	return true
}

// ixMergeRunning reports whether l's index has a background merge not yet
// installed.
func ixMergeRunning(l *Ledger) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ix.merge != nil
}

// ixTmpFiles lists the tmp files beside the ledger at path.
func ixTmpFiles(t *testing.T, path string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var tmps []string
	for _, e := range ents {
		if strings.Contains(e.Name(), durable.TmpMarker) {
			tmps = append(tmps, e.Name())
		}
	}
	return tmps
}

// ixStartMerge writes back through l until its index runs a background
// merge.
func ixStartMerge(t *testing.T, l *Ledger, prefix string) {
	t.Helper()
	for i := 0; i < 400 && !ixMergeRunning(l); i++ {
		ixWriteback(t, l, fmt.Sprintf("%s-%d", prefix, i))
	}
	if !ixMergeRunning(l) {
		t.Fatal("400 write-backs started no background merge")
	}
}

// ixCloseAndReopen checks the lookups of l, closes it, checks that no tmp
// file is left, and checks a store opened afresh, which must load the
// index l's merges left.
func ixCloseAndReopen(t *testing.T, l *Ledger, who, root, path string) {
	t.Helper()
	ixCompare(t, who, l, ixFullScan(t, path))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if tmps := ixTmpFiles(t, path); len(tmps) > 0 {
		t.Errorf("tmp files left after Close: %v", tmps)
	}
	fresh := ixOpen(t, root)
	defer fresh.Close()
	if fresh.Stats().IndexLoaded == 0 {
		t.Error("a fresh store did not load the index files left")
	}
	ixCompare(t, "fresh store", fresh, ixFullScan(t, path))
}

func ixWriteback(t *testing.T, l *Ledger, task string) {
	t.Helper()
	out, err := l.Writeback(context.Background(), writeback.WritebackRequest{Binding: storetest.Binding(task, "T1", "bg")})
	if err != nil || !out.Decision.Appended {
		t.Fatalf("write-back %s: %v %+v", task, err, out.Decision)
	}
}

// ixMergeStore sets the merge thresholds for one test and opens a store on
// a fresh root; the store is closed at the test's end.
func ixMergeStore(t *testing.T, rows, background, deltaMap int) (l *Ledger, root, path string) {
	m, b, d := mergeRows, backgroundMergeAfter, deltaMapAfter
	t.Cleanup(func() { mergeRows, backgroundMergeAfter, deltaMapAfter = m, b, d })
	mergeRows, backgroundMergeAfter, deltaMapAfter = rows, background, deltaMap
	root = t.TempDir()
	path = filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	l = ixOpen(t, root)
	t.Cleanup(func() { l.Close() })
	return l, root, path
}

// TestIndexBackgroundMerge: a busy store rewrites its base in the
// background and installs it at a later save; every lookup of the kept
// store, and of a store opened afresh on the files it leaves, equals a
// full scan of the ledger, and no tmp file is left.
func TestIndexBackgroundMerge(t *testing.T) {
	for _, deltaMap := range []int{0, 1 << 30} {
		t.Run(fmt.Sprintf("deltaMapAfter=%d", deltaMap), func(t *testing.T) {
			l, root, path := ixMergeStore(t, 16, 0, deltaMap)
			started := 0
			for i := range 200 {
				ixWriteback(t, l, fmt.Sprintf("task-%d", i))
				if i%7 == 3 && ixWaitMerge(l) {
					started++
					ixCompare(t, fmt.Sprintf("after write-back %d, a merge ended", i), l, ixFullScan(t, path))
				}
			}
			st := l.Stats()
			if st.IndexMerges == 0 || started == 0 {
				t.Fatalf("no background merge installed: %d installed, %d waited for", st.IndexMerges, started)
			}
			t.Logf("%d background merges installed (last %v), %d index saves", st.IndexMerges, st.LastIndexMerge, st.IndexSaves)
			ixCloseAndReopen(t, l, "kept store", root, path)
		})
	}
}

// TestIndexMergeAbandoned: a merge whose base another writer replaced
// meanwhile is dropped, with its tmp files, and the store goes on from the
// other writer's files.
func TestIndexMergeAbandoned(t *testing.T) {
	busy, root, path := ixMergeStore(t, 16, 40, 0)
	ixStartMerge(t, busy, "busy")
	busy.mu.Lock()
	m := busy.ix.merge
	busy.mu.Unlock()
	// Another store (a new process: too few lookups to merge in the
	// background) rewrites the base in place.
	other := ixOpen(t, root)
	for j := range 40 {
		ixWriteback(t, other, fmt.Sprintf("other-%d", j))
	}
	other.Close()
	<-m.done
	ixWriteback(t, busy, "busy-after")
	if ixMergeRunning(busy) && ixWaitMerge(busy) {
		ixWriteback(t, busy, "busy-after-2")
	}
	busy.mu.Lock()
	same := busy.ix.merge == m
	busy.mu.Unlock()
	if same {
		t.Fatal("the merge of a replaced base is still pending")
	}
	if got := busy.Stats().IndexMerges; got != 0 {
		t.Errorf("%d merges installed over another writer's base", got)
	}
	ixCloseAndReopen(t, busy, "busy store", root, path)
}

// TestIndexMergeSweepsDeadTmp: a merge removes the tmp files of merges
// whose process died before installing them, and keeps those of a live
// process.
func TestIndexMergeSweepsDeadTmp(t *testing.T) {
	l, _, path := ixMergeStore(t, 16, 0, 0)
	ixWriteback(t, l, "first")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid, livePid := dead.Process.Pid, os.Getppid()
	orphans := []string{
		fmt.Sprintf("%s%s%s%d-0123456789ab", path, idxSuffix, durable.TmpMarker, deadPid),
		fmt.Sprintf("%s%s%s%d-0123456789ab", path, logSuffix, durable.TmpMarker, deadPid),
	}
	live := fmt.Sprintf("%s%s%s%d-0123456789ab", path, idxSuffix, durable.TmpMarker, livePid)
	for _, p := range append(orphans, live) {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ixStartMerge(t, l, "task")
	ixWaitMerge(l)
	for _, p := range orphans {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s (pid %d, gone) not removed: %v", filepath.Base(p), deadPid, err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("%s (pid %d, alive) removed: %v", filepath.Base(live), livePid, err)
	}
	os.Remove(live)
}
