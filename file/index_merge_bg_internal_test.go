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

func ixWriteback(t *testing.T, l *Ledger, task string) {
	t.Helper()
	out, err := l.Writeback(context.Background(), writeback.WritebackRequest{Binding: storetest.Binding(task, "T1", "bg")})
	if err != nil || !out.Decision.Appended {
		t.Fatalf("write-back %s: %v %+v", task, err, out.Decision)
	}
}

// setMergeKnobs sets the merge thresholds for one test.
func setMergeKnobs(t *testing.T, rows, background, deltaMap int) {
	m, b, d := mergeRows, backgroundMergeAfter, deltaMapAfter
	t.Cleanup(func() { mergeRows, backgroundMergeAfter, deltaMapAfter = m, b, d })
	mergeRows, backgroundMergeAfter, deltaMapAfter = rows, background, deltaMap
}

// TestIndexBackgroundMerge: a busy store rewrites its base in the
// background and installs it at a later save; every lookup of the kept
// store, and of a store opened afresh on the files it leaves, equals a
// full scan of the ledger, and no tmp file is left.
func TestIndexBackgroundMerge(t *testing.T) {
	for _, deltaMap := range []int{0, 1 << 30} {
		t.Run(fmt.Sprintf("deltaMapAfter=%d", deltaMap), func(t *testing.T) {
			setMergeKnobs(t, 16, 0, deltaMap)
			root := t.TempDir()
			path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
			l := ixOpen(t, root)
			defer func() { l.Close() }()
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
			ixCompare(t, "kept store", l, ixFullScan(t, path))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if tmps := ixTmpFiles(t, path); len(tmps) > 0 {
				t.Errorf("tmp files left after Close: %v", tmps)
			}
			fresh := ixOpen(t, root)
			defer fresh.Close()
			if fresh.Stats().IndexLoaded == 0 {
				t.Error("a fresh store did not load the index the background merges left")
			}
			ixCompare(t, "fresh store", fresh, ixFullScan(t, path))
		})
	}
}

// TestIndexMergeAbandoned: a merge whose base another writer replaced
// meanwhile is dropped, with its tmp files, and the store goes on from the
// other writer's files.
func TestIndexMergeAbandoned(t *testing.T) {
	setMergeKnobs(t, 16, 40, 0)
	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	busy := ixOpen(t, root)
	defer busy.Close()
	i := 0
	for ; i < 400 && !ixMergeRunning(busy); i++ {
		ixWriteback(t, busy, fmt.Sprintf("busy-%d", i))
	}
	if !ixMergeRunning(busy) {
		t.Fatal("the busy store started no background merge")
	}
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
	ixCompare(t, "busy store", busy, ixFullScan(t, path))
	busy.Close()
	if tmps := ixTmpFiles(t, path); len(tmps) > 0 {
		t.Errorf("tmp files left: %v", tmps)
	}
	fresh := ixOpen(t, root)
	defer fresh.Close()
	ixCompare(t, "fresh store", fresh, ixFullScan(t, path))
}

// TestIndexMergeSweepsDeadTmp: a merge removes the tmp files of merges
// whose process died before installing them, and keeps those of a live
// process.
func TestIndexMergeSweepsDeadTmp(t *testing.T) {
	setMergeKnobs(t, 16, 0, 0)
	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	l := ixOpen(t, root)
	defer l.Close()
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
	for i := 0; i < 400 && !ixMergeRunning(l); i++ {
		ixWriteback(t, l, fmt.Sprintf("task-%d", i))
	}
	if !ixWaitMerge(l) {
		t.Fatal("no background merge started")
	}
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
