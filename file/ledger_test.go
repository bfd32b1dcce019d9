package file_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

func TestOpenLedgerPathAllowlist(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	cases := []struct {
		name   string
		ledger string
		code   settle.Code
	}{
		{"default", "", ""},
		{"default explicit", lgLedgerPath(root), ""},
		{"isolated ledger named like the default", filepath.Join(other, "x", file.LedgerFileName), ""},
		{"other name under root", filepath.Join(root, "memory", "events", "other.jsonl"), settle.PathRefused},
		{"other name elsewhere", filepath.Join(other, "ledger.jsonl"), settle.PathRefused},
		{"default name with a suffix", filepath.Join(other, file.LedgerFileName+".bak"), settle.PathRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := file.OpenLedger(file.LedgerOptions{Root: root, LedgerPath: tc.ledger, Config: storetest.Config(), Logger: lgQuiet()})
			if tc.code == "" {
				if err != nil {
					t.Fatalf("OpenLedger: %v", err)
				}
				l.Close()
				return
			}
			storetest.WantCode(t, err, tc.code)
		})
	}
}

func TestTornTailRepair(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("task-1", "T1", "b"))
	fi, _ := os.Stat(path)
	tornAt := fi.Size()
	torn := lgLine(t, storetest.Registry("task-torn", writeback.StatusRegistered))
	torn = torn[:len(torn)/2] // a writer died mid-line
	file.AppendRawForTest(t, path, torn)

	// Readers see the complete lines only.
	l2 := lgOpen(t, root)
	if st := l2.Stats(); st.Lines != 2 || st.Skipped != 0 || st.Offset != tornAt {
		t.Fatalf("stats before repair: %+v", st)
	}
	rep, err := l2.Check(lgCtx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TornTail == nil || rep.TornTail.Offset != tornAt || rep.TornTail.Bytes != int64(len(torn)) {
		t.Fatalf("Check torn tail = %+v", rep.TornTail)
	}
	if !rep.IndexAgrees || rep.OK() {
		t.Fatalf("Check: %+v", rep)
	}

	// The next append repairs it first.
	lgWriteback(t, l, storetest.Binding("task-2", "T1", "b"))
	st := l.Stats()
	if st.TornRepairs != 1 || st.TornBytes != int64(len(torn)) {
		t.Fatalf("stats after repair: %+v", st)
	}
	if lt := st.LastTorn; lt == nil || lt.Offset != tornAt || lt.Bytes != int64(len(torn)) || lt.Sidecar != fmt.Sprintf("%s.torn-%d", path, tornAt) {
		t.Fatalf("LastTorn %+v", st.LastTorn)
	}
	side, err := os.ReadFile(fmt.Sprintf("%s.torn-%d", path, tornAt))
	if err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	if string(side) != torn {
		t.Fatalf("sidecar holds %q, want %q", side, torn)
	}
	kinds, _ := lgCheckFile(t, path)
	if kinds[writeback.KindDurable] != 2 || kinds[writeback.KindRegistry] != 2 {
		t.Fatalf("after repair: %v", kinds)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), torn) || data[len(data)-1] != '\n' {
		t.Fatal("torn bytes are still in the ledger")
	}
	rep, err = l2.Check(lgCtx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Records[writeback.KindDurable] != 2 || len(rep.TornSidecars) != 1 {
		t.Fatalf("Check after repair: %+v", rep)
	}

	t.Run("second torn tail at the same offset keeps both sidecars", func(t *testing.T) {
		fi, _ := os.Stat(path)
		file.AppendRawForTest(t, path, "{\"schema\": \"dur")
		lgWriteback(t, l, storetest.Binding("task-3", "T1", "b"))
		// Truncate back to the same offset and tear again.
		file.AppendRawForTest(t, path, "x")
		if err := os.Truncate(path, fi.Size()); err != nil {
			t.Fatal(err)
		}
		file.AppendRawForTest(t, path, "{\"sch")
		lgWriteback(t, l, storetest.Binding("task-4", "T1", "b"))
		a, err1 := os.ReadFile(fmt.Sprintf("%s.torn-%d", path, fi.Size()))
		b, err2 := os.ReadFile(fmt.Sprintf("%s.torn-%d.1", path, fi.Size()))
		if err1 != nil || err2 != nil || string(a) != "{\"schema\": \"dur" || string(b) != "{\"sch" {
			t.Fatalf("sidecars %q %v, %q %v", a, err1, b, err2)
		}
		lgCheckFile(t, path)
	})
}

func TestSkippedLines(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	good := lgLine(t, storetest.Registry("task-a", writeback.StatusRegistered))
	lines := []string{
		good,
		"[1,2]\n",
		"not json at all\n",
		"\n",
		"   \n",
		"{\"schema\": \"something_else.v1\"}\n",
		"42\n",
		"{\"schema\": \"callback_4tuple_ledger_record.v1\", \"task_id\": \"task-b\"}\n", // malformed but a registry record for the seed
		good,
	}
	file.AppendRawForTest(t, path, strings.Join(lines, ""))
	l := lgOpen(t, root)
	st := l.Stats()
	if st.Lines != int64(len(lines)) || st.Skipped != 6 || st.Records[writeback.KindRegistry] != 3 {
		t.Fatalf("stats %+v", st)
	}
	recs := storetest.AllRecords(t, l, writeback.RecordQuery{})
	for i, r := range recs {
		if r.Seq != int64(i) {
			t.Fatalf("record %d has Seq %d", i, r.Seq)
		}
	}
	if len(recs) != 3 || string(recs[0].Raw)+"\n" != good || recs[1].Registry.TaskID != "task-b" {
		t.Fatalf("records %+v", recs)
	}
	rep, err := l.Check(lgCtx)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := []int64{2, 3, 4, 5, 6, 7}
	if rep.Skipped != 6 || len(rep.SkippedLines) != 6 || !rep.IndexAgrees || rep.TornTail != nil {
		t.Fatalf("Check %+v", rep)
	}
	for i, s := range rep.SkippedLines {
		if s.Line != wantLines[i] || s.Reason == "" {
			t.Fatalf("skipped line %d: %+v", i, s)
		}
	}
	// An append after skipped lines keeps them and goes on.
	if err := l.AppendRegistry(lgCtx, storetest.Registry("task-c", writeback.StatusRegistered)); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.RegistryHistory(lgCtx, "task-c"); len(h) != 1 {
		t.Fatalf("history %v", h)
	}
}

func TestRebuildWhenFileReplacedOrShrunk(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	l := lgOpen(t, root)
	for i := range 3 {
		lgWriteback(t, l, storetest.Binding(fmt.Sprintf("task-%d", i), "T1", "b"))
	}
	if n := len(storetest.AllRecords(t, l, writeback.RecordQuery{})); n != 6 {
		t.Fatalf("%d records", n)
	}

	t.Run("replaced", func(t *testing.T) {
		content := lgLine(t, storetest.Registry("task-new", writeback.StatusRegistered))
		if err := durable.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		recs := storetest.AllRecords(t, l, writeback.RecordQuery{})
		if len(recs) != 1 || recs[0].Registry.TaskID != "task-new" {
			t.Fatalf("after replace: %+v", recs)
		}
		if h, _ := l.RegistryHistory(lgCtx, "task-0"); len(h) != 0 {
			t.Fatal("index kept records of the replaced file")
		}
		if l.Stats().Rebuilds == 0 {
			t.Fatal("no rebuild counted")
		}
		// Appends go to the new file.
		lgWriteback(t, l, storetest.Binding("task-0", "T1", "b"))
		if k, _ := lgCheckFile(t, path); k[writeback.KindDurable] != 1 || k[writeback.KindRegistry] != 2 {
			t.Fatalf("new file kinds %v", k)
		}
	})

	t.Run("shrunk", func(t *testing.T) {
		data, _ := os.ReadFile(path)
		first := strings.Index(string(data), "\n") + 1
		if err := os.Truncate(path, int64(first)); err != nil {
			t.Fatal(err)
		}
		before := l.Stats().Rebuilds
		recs := storetest.AllRecords(t, l, writeback.RecordQuery{})
		if len(recs) != 1 || l.Stats().Rebuilds != before+1 {
			t.Fatalf("after shrink: %d records, rebuilds %d", len(recs), l.Stats().Rebuilds)
		}
		out := lgWriteback(t, l, storetest.Binding("task-0", "T1", "b"))
		lgWantClass(t, out, writeback.DurableSuccessWritten, true)
	})

	t.Run("rewritten in place", func(t *testing.T) {
		data, _ := os.ReadFile(path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(strings.Repeat(" ", len(data)-1) + "x" + "\n" + lgLine(t, storetest.Registry("task-x", writeback.StatusRegistered)))
		f.Close()
		recs := storetest.AllRecords(t, l, writeback.RecordQuery{})
		if len(recs) != 1 || recs[0].Registry.TaskID != "task-x" {
			t.Fatalf("after in-place rewrite: %+v", recs)
		}
	})

	t.Run("removed", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if recs := storetest.AllRecords(t, l, writeback.RecordQuery{}); len(recs) != 0 {
			t.Fatalf("after remove: %d records", len(recs))
		}
		lgWriteback(t, l, storetest.Binding("task-9", "T1", "b"))
		if k, _ := lgCheckFile(t, path); k[writeback.KindDurable] != 1 {
			t.Fatalf("recreated ledger kinds %v", k)
		}
	})
}

func TestCatchUpSeesOtherWriters(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	a := lgOpen(t, root)
	b := lgOpen(t, root)
	lgWriteback(t, a, storetest.Binding("task-1", "T1", "b"))
	// b learns about a's record without reopening: an identical request
	// is a skip, not a duplicate.
	lgWantClass(t, lgWriteback(t, b, storetest.Binding("task-1", "T1", "b")), writeback.WritebackIdempotentSkip, false)

	// A raw (Python-like) appender.
	file.AppendRawForTest(t, path, lgLine(t, storetest.Registry("task-py", writeback.StatusRegistered)))
	if h, err := a.RegistryHistory(lgCtx, "task-py"); err != nil || len(h) != 1 {
		t.Fatalf("history %v %v", h, err)
	}
	if c, _ := b.Classify(lgCtx, "task-py"); c != writeback.ClassRegistered {
		t.Fatalf("classify %s", c)
	}
	// A line still being written is not consumed.
	line := lgLine(t, storetest.Registry("task-slow", writeback.StatusFailed))
	file.AppendRawForTest(t, path, line[:10])
	if h, _ := a.RegistryHistory(lgCtx, "task-slow"); len(h) != 0 {
		t.Fatal("partial line consumed")
	}
	file.AppendRawForTest(t, path, line[10:])
	if c, _ := a.Classify(lgCtx, "task-slow"); c != writeback.ClassFailed {
		t.Fatalf("classify after completion %s", c)
	}
	kinds, wids := lgCheckFile(t, path)
	if kinds[writeback.KindDurable] != 1 || wids[storetest.Binding("task-1", "T1", "b").WritebackID()] != 1 {
		t.Fatalf("kinds %v", kinds)
	}
	for _, l := range []*file.Ledger{a, b} {
		rep, err := l.Check(lgCtx)
		if err != nil || !rep.OK() {
			t.Fatalf("Check %+v %v", rep, err)
		}
	}
}

// TestDeclareBatchFile: a declaration is a file of its own under the
// batches directory (the conformance suite checks what it reads back).
func TestDeclareBatchFile(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	if err := l.DeclareBatch(lgCtx, writeback.Batch{BatchID: "b1", Tracks: storetest.Tracks("b1", 3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "memory", "events", "batches", "b1.json")); err != nil {
		t.Fatal(err)
	}
}

// TestAppendRegistryInvalidCreatesNoFile: a refused registry record does
// not even create the ledger file.
func TestAppendRegistryInvalidCreatesNoFile(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	bad := storetest.Registry("task-1", "BOGUS")
	bad.NoFallback = false
	storetest.WantCode(t, l.AppendRegistry(lgCtx, bad), settle.InvalidInput)
	if _, err := os.Stat(lgLedgerPath(root)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an invalid record created the ledger")
	}
}

// TestRecordsFollowForeignAppends: the posting lists of Records take in
// lines another writer appended to the file.
func TestRecordsFollowForeignAppends(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("task-3", "T1", "b1"))
	if err := l.AppendRegistry(lgCtx, storetest.Registry("task-3", writeback.StatusDispatched)); err != nil {
		t.Fatal(err)
	}
	before := len(storetest.AllRecords(t, l, writeback.RecordQuery{TaskID: "task-3"}))
	if err := l.AppendRegistry(lgCtx, storetest.Registry("task-3", writeback.StatusFailed)); err != nil {
		t.Fatal(err)
	}
	file.AppendRawForTest(t, lgLedgerPath(root), lgLine(t, storetest.Registry("task-3", writeback.StatusCancelled)))
	got := storetest.AllRecords(t, l, writeback.RecordQuery{TaskID: "task-3"})
	if len(got) != before+2 || got[len(got)-1].Registry.Status != writeback.StatusCancelled {
		t.Fatalf("%d records for task-3, want %d", len(got), before+2)
	}
}

func TestGroupCommit(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	const n = 64
	outs := make([]writeback.WritebackOutcome, n)
	errs := make([]error, n)
	storetest.Together(n, func(i int) {
		// Pairs of identical requests: one success, one skip.
		outs[i], errs[i] = l.Writeback(lgCtx, lgReq(storetest.Binding(fmt.Sprintf("task-%d", i/2), "T1", "b")))
	})
	success := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch outs[i].Decision.Classification {
		case writeback.DurableSuccessWritten:
			success[outs[i].Decision.TaskID]++
		case writeback.WritebackIdempotentSkip:
		default:
			t.Fatalf("request %d: %s", i, outs[i].Decision.Classification)
		}
	}
	if len(success) != n/2 {
		t.Fatalf("%d tasks succeeded, want %d", len(success), n/2)
	}
	for task, c := range success {
		if c != 1 {
			t.Fatalf("task %s succeeded %d times", task, c)
		}
	}
	_, wids := lgCheckFile(t, lgLedgerPath(root))
	if len(wids) != n/2 {
		t.Fatalf("%d writeback ids in the ledger", len(wids))
	}
	for id, c := range wids {
		if c != 1 {
			t.Fatalf("writeback id %s present %d times", id, c)
		}
	}
	st := l.Stats()
	if st.Fsyncs >= n/2 || st.GroupedRequests != n || st.MaxGroup < 2 {
		t.Fatalf("no group commit: %+v", st)
	}
	t.Logf("%d requests in %d groups, %d fsyncs, largest group %d", n, st.Groups, st.Fsyncs, st.MaxGroup)
}

// TestFsyncFailure: a failed fsync fails every request of its group and
// of a group written while it ran (UNAVAILABLE, none acknowledged), cuts
// the ledger back to before them and poisons the store, which refuses
// every operation until reopened; what was acknowledged before survives.
func TestFsyncFailure(t *testing.T) {
	injected := errors.New("injected fsync failure")
	type fixture struct {
		root, path string
		l          *file.Ledger
		before     []byte        // the ledger's bytes before the failure
		inFsync    chan struct{} // closed when the first fsync is reached
		gate       chan struct{} // close to let the first fsync fail
	}
	// start opens a ledger holding one acknowledged success (task-ok) and
	// makes every fsync fail with injected, the first once gate is closed.
	start := func(t *testing.T) *fixture {
		f := &fixture{root: t.TempDir(), inFsync: make(chan struct{}), gate: make(chan struct{})}
		f.path = lgLedgerPath(f.root)
		f.l = lgOpen(t, f.root)
		lgWriteback(t, f.l, storetest.Binding("task-ok", "T1", "b"))
		f.before, _ = os.ReadFile(f.path)
		var once sync.Once
		durable.SetFailpoint("before-fsync", func() error {
			once.Do(func() { close(f.inFsync); <-f.gate })
			return injected
		})
		t.Cleanup(func() { durable.SetFailpoint("before-fsync", nil) })
		return f
	}
	// poisoned checks the store and the file after the failure, then
	// reopens the ledger without the failpoint: it holds the acknowledged
	// record alone.
	poisoned := func(t *testing.T, f *fixture) *file.Ledger {
		t.Helper()
		if st := f.l.Stats(); !st.Poisoned || st.FsyncErrors != 1 {
			t.Fatalf("stats %+v: want poisoned after one fsync error", st)
		}
		_, err := f.l.Writeback(lgCtx, lgReq(storetest.Binding("task-later", "T1", "b")))
		storetest.WantCode(t, err, settle.Unavailable)
		storetest.WantCode(t, f.l.AppendRegistry(lgCtx, storetest.Registry("task-later", writeback.StatusRegistered)), settle.Unavailable)
		_, err = f.l.RegistryHistory(lgCtx, "task-ok")
		storetest.WantCode(t, err, settle.Unavailable)
		if after, _ := os.ReadFile(f.path); string(after) != string(f.before) {
			t.Fatalf("ledger not cut back to before the failed groups: %d bytes, want %d", len(after), len(f.before))
		}
		if err := f.l.Close(); err != nil {
			t.Fatal(err)
		}
		durable.SetFailpoint("before-fsync", nil)
		l2 := lgOpen(t, f.root)
		if k, _ := lgCheckFile(t, f.path); k[writeback.KindDurable] != 1 {
			t.Fatalf("kinds %v: want the acknowledged record alone", k)
		}
		lgWantClass(t, lgWriteback(t, l2, storetest.Binding("task-ok", "T1", "b")), writeback.WritebackIdempotentSkip, false)
		return l2
	}

	t.Run("requests queued behind the failed group", func(t *testing.T) {
		f := start(t)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		outs := make([]writeback.WritebackOutcome, n)
		for i := range n {
			wg.Go(func() {
				outs[i], errs[i] = f.l.Writeback(lgCtx, lgReq(storetest.Binding(fmt.Sprintf("task-%d", i), "T1", "b")))
			})
		}
		// The first group is held in its fsync so the rest queue up.
		testenv.Within(t, f.inFsync, 10*time.Second, "the first group's fsync")
		close(f.gate)
		wg.Wait()
		for i := range n {
			if code := settle.ErrorCode(errs[i]); code != settle.Unavailable {
				t.Fatalf("request %d: err %v outcome %+v, want UNAVAILABLE", i, errs[i], outs[i])
			}
			if outs[i].Decision.Appended {
				t.Fatalf("request %d acknowledged", i)
			}
		}
		l2 := poisoned(t, f)
		lgWantClass(t, lgWriteback(t, l2, storetest.Binding("task-0", "T1", "b")), writeback.DurableSuccessWritten, true)
	})

	// Group B is written while group A is being fsynced; A's fsync fails,
	// so both fail.
	t.Run("group written during the failed fsync", func(t *testing.T) {
		f := start(t)
		overlap := make(chan struct{}, 1)
		durable.SetFailpoint("group-overlap", func() error {
			select {
			case overlap <- struct{}{}:
			default:
			}
			return nil
		})
		t.Cleanup(func() { durable.SetFailpoint("group-overlap", nil) })
		type answer struct {
			out writeback.WritebackOutcome
			err error
		}
		wb := func(task string) chan answer {
			ch := make(chan answer, 1)
			go func() {
				out, err := f.l.Writeback(lgCtx, lgReq(storetest.Binding(task, "T1", "b")))
				ch <- answer{out, err}
			}()
			return ch
		}
		a := wb("task-a")
		testenv.Within(t, f.inFsync, 10*time.Second, "group A's fsync")
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		withA := fi.Size()
		b := wb("task-b")
		testenv.Within(t, overlap, 10*time.Second, "group B staged during A's fsync")
		// B's write follows the failpoint.
		testenv.Until(t, 10*time.Second, func() bool {
			fi, err := os.Stat(f.path)
			return err == nil && fi.Size() > withA
		})
		close(f.gate)
		for name, ch := range map[string]chan answer{"A": a, "B": b} {
			got := testenv.Within(t, ch, 10*time.Second, "write-back "+name)
			if settle.ErrorCode(got.err) != settle.Unavailable || !errors.Is(got.err, injected) || got.out.Decision.Appended {
				t.Fatalf("group %s: %+v, %v; want UNAVAILABLE with the fsync error, not appended", name, got.out, got.err)
			}
		}
		l2 := poisoned(t, f)
		lgWantClass(t, lgWriteback(t, l2, storetest.Binding("task-a", "T1", "b")), writeback.DurableSuccessWritten, true)
		lgWantClass(t, lgWriteback(t, l2, storetest.Binding("task-b", "T1", "b")), writeback.DurableSuccessWritten, true)
	})
}

func TestAppendFailureBeforeWrite(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	durable.SetFailpoint("before-append", func() error { return errors.New("injected write failure") })
	_, err := l.Writeback(lgCtx, lgReq(storetest.Binding("task-1", "T1", "b")))
	durable.SetFailpoint("before-append", nil)
	storetest.WantCode(t, err, settle.Unavailable)
	_, err = l.Writeback(lgCtx, lgReq(storetest.Binding("task-1", "T1", "b")))
	storetest.WantCode(t, err, settle.Unavailable)
	l2 := lgOpen(t, root)
	lgWantClass(t, lgWriteback(t, l2, storetest.Binding("task-1", "T1", "b")), writeback.DurableSuccessWritten, true)
}

func TestClosedStore(t *testing.T) {
	l := lgOpen(t, t.TempDir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := l.Writeback(lgCtx, lgReq(storetest.Binding("task-1", "T1", "b")))
	storetest.WantCode(t, err, settle.Unavailable)
	_, err = l.Records(lgCtx, writeback.RecordQuery{After: -1})
	storetest.WantCode(t, err, settle.Unavailable)
}

func TestCheckReportsDuplicates(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("task-1", "T1", "b"))
	// A foreign writer (the seed's unlocked append) duplicated a record.
	rec := storetest.Binding("task-1", "T1", "b").Record(writeback.DurableSuccessWritten)
	file.AppendRawForTest(t, path, lgLine(t, rec))
	rep, err := l.Check(lgCtx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.DuplicateWritebackIDs) != 1 || len(rep.DuplicateWritebackIDs[0].Seqs) != 2 ||
		rep.DuplicateWritebackIDs[0].Seqs[1] != 2 || !rep.IndexAgrees {
		t.Fatalf("Check %+v", rep)
	}
}

func TestWritebackUnencodableIsInvalid(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	b := storetest.Binding("task-\xff", "T1", "b")
	_, err := l.Writeback(lgCtx, lgReq(b))
	storetest.WantCode(t, err, settle.InvalidInput)
	if st := l.Stats(); st.Poisoned {
		t.Fatal("an invalid request poisoned the store")
	}
	// The store goes on.
	lgWantClass(t, lgWriteback(t, l, storetest.Binding("task-ok", "T1", "b")), writeback.DurableSuccessWritten, true)
	if k, _ := lgCheckFile(t, lgLedgerPath(root)); k[writeback.KindDurable] != 1 {
		t.Fatalf("kinds %v", k)
	}
}
