package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// The differential test of the persistent index: random sequences of
// settle appends, foreign appends (raw lines as the seed writes them,
// corrupt lines, torn tails), truncations, replacements, in-place
// rewrites, corrupted index files and child processes SIGKILLed while they
// update the index. After each step every lookup through the index, of a
// store kept open and of a store opened afresh, equals the answer of a
// full scan of the ledger into a writeback.MemView.

const (
	ixEnvChild = "SETTLE_INDEX_CHILD" // the crash step the child dies at
	ixEnvRoot  = "SETTLE_INDEX_ROOT"
	ixEnvTask  = "SETTLE_INDEX_TASK"
	ixEnvMerge = "SETTLE_INDEX_MERGE"
	ixEnvSteps = "SETTLE_INDEX_STEPS"
	ixEnvBg    = "SETTLE_INDEX_BACKGROUND" // the child merges in the background
)

func ixQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ixOpen(t testing.TB, root string) *Ledger {
	t.Helper()
	l, err := OpenLedger(LedgerOptions{Root: root, Config: storetest.Config(), Logger: ixQuiet()})
	if err != nil {
		t.Fatalf("OpenLedger: %v", err)
	}
	return l
}

// TestIndexChild is the body of the child processes of
// TestIndexDifferential: one write-back, dying (SIGKILL) at the named step
// of the index update. It does nothing unless SETTLE_INDEX_CHILD is set.
func TestIndexChild(t *testing.T) {
	step := os.Getenv(ixEnvChild)
	if step == "" {
		t.Skip("child process body; run by TestIndexDifferential")
	}
	if m, err := strconv.Atoi(os.Getenv(ixEnvMerge)); err == nil {
		mergeRows = m
	}
	indexCrashHook = func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	background := os.Getenv(ixEnvBg) != ""
	if background {
		backgroundMergeAfter = 0
	}
	l, err := OpenLedger(LedgerOptions{Root: os.Getenv(ixEnvRoot), Config: storetest.Config(), Logger: ixQuiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	task := os.Getenv(ixEnvTask)
	for i := range 2 {
		if _, err := l.Writeback(context.Background(), writeback.WritebackRequest{Binding: storetest.Binding(fmt.Sprint(task, "-", i), "T1", "crash")}); err != nil {
			fmt.Fprintln(os.Stderr, "writeback:", err)
			os.Exit(2)
		}
		// In the background, the first write-back's save may start a
		// merge: it dies at "index-merge" once its files are written,
		// or the second write-back's save installs it and dies at
		// "index-base" or "index-log".
		if !background || !ixWaitMerge(l) {
			break
		}
	}
	os.Exit(0)
}

// ixScan is the oracle: the ledger's complete lines decoded into a fresh
// MemView, plus what Records by task and batch return.
type ixScan struct {
	view    *writeback.MemView
	recs    []writeback.LedgerRecord
	lines   int64
	byTask  map[string][]int64
	byBatch map[string][]int64
}

func ixFullScan(t *testing.T, path string) *ixScan {
	t.Helper()
	s := &ixScan{view: writeback.NewMemView(), byTask: map[string][]int64{}, byBatch: map[string][]int64{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data[:i]
		data = data[i+1:]
		s.lines++
		rec, ok := writeback.DecodeLine(line)
		if !ok {
			continue
		}
		rec.Seq = int64(len(s.recs))
		rec.Raw = append([]byte(nil), line...)
		s.view.Add(rec)
		s.recs = append(s.recs, rec)
		task, batch := recordKeys(&rec)
		s.byTask[task] = append(s.byTask[task], rec.Seq)
		if rec.Kind != writeback.KindRegistry {
			s.byBatch[batch] = append(s.byBatch[batch], rec.Seq)
		}
	}
	return s
}

func ixSeqs(xs []writeback.Indexed) []int64 {
	out := []int64{}
	for _, x := range xs {
		out = append(out, x.Seq)
	}
	return out
}

// ixCompare checks every lookup of l against the scan.
func ixCompare(t *testing.T, who string, l *Ledger, s *ixScan) {
	t.Helper()
	ctx := context.Background()
	// Records (every Seq; through the index's rows) bring the store up to
	// date first.
	var all []writeback.LedgerRecord
	for after := int64(-1); ; {
		p, err := l.Records(ctx, writeback.RecordQuery{After: after, Limit: MaxRecordsLimit})
		if err != nil {
			t.Fatalf("%s: Records: %v", who, err)
		}
		all = append(all, p.Records...)
		if p.Next < 0 {
			break
		}
		after = p.Next
	}
	if len(all) != len(s.recs) {
		t.Fatalf("%s: Records lists %d records, the scan %d", who, len(all), len(s.recs))
	}
	for i := range all {
		if all[i].Seq != s.recs[i].Seq || !bytes.Equal(all[i].Raw, s.recs[i].Raw) {
			t.Fatalf("%s: record %d differs: %q vs %q", who, i, all[i].Raw, s.recs[i].Raw)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readable(ctx); err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	wids, idents, tasks, latests, conflicts := map[string]bool{"absent": true}, map[writeback.IdentityKey]bool{}, map[string]bool{"": true, "absent": true}, map[[2]string]bool{}, map[string]bool{"absent": true}
	for _, r := range s.recs {
		switch {
		case r.Durable != nil:
			wids[r.Durable.WritebackID] = true
			idents[r.Durable.Identity()] = true
			tasks[r.Durable.TaskID] = true
			latests[[2]string{r.Durable.BatchID, r.Durable.TrackID}] = true
			latests[[2]string{r.Durable.BatchID, "None"}] = true
		case r.Registry != nil:
			tasks[r.Registry.TaskID] = true
		case r.Conflict != nil:
			conflicts[r.Conflict.ConflictID] = true
		}
	}
	// A run that finds the index inconsistent is repeated after the
	// rebuild: only the last run's mismatches count.
	var mismatches []string
	errf := func(format string, args ...any) { mismatches = append(mismatches, fmt.Sprintf(format, args...)) }
	err := l.withView(func(v *ixView) {
		mismatches = nil
		for id := range wids {
			if got, want := ixSeqs(v.DurableByWritebackID(id)), ixSeqs(s.view.DurableByWritebackID(id)); !reflect.DeepEqual(got, want) {
				errf("%s: DurableByWritebackID(%q) = %v, scan %v", who, id, got, want)
			}
		}
		for k := range idents {
			if got, want := ixSeqs(v.DurableByIdentity(k)), ixSeqs(s.view.DurableByIdentity(k)); !reflect.DeepEqual(got, want) {
				errf("%s: DurableByIdentity(%v) = %v, scan %v", who, k, got, want)
			}
		}
		for task := range tasks {
			if got, want := v.RegistryHistory(task), s.view.RegistryHistory(task); !reflect.DeepEqual(got, want) {
				errf("%s: RegistryHistory(%q) = %d records, scan %d", who, task, len(got), len(want))
			}
		}
		for k := range latests {
			got, want := v.Latest(k[0], k[1]), s.view.Latest(k[0], k[1])
			if (got == nil) != (want == nil) || (got != nil && !reflect.DeepEqual(*got, *want)) {
				errf("%s: Latest(%q, %q) = %v, scan %v", who, k[0], k[1], got, want)
			}
		}
		for id := range conflicts {
			if got, want := v.HasConflict(id), s.view.HasConflict(id); got != want {
				errf("%s: HasConflict(%q) = %v, scan %v", who, id, got, want)
			}
		}
	}, l.rescan)
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	for _, m := range mismatches {
		t.Error(m)
	}
	if l.lines != s.lines {
		t.Errorf("%s: %d lines read, the scan %d", who, l.lines, s.lines)
	}
	if t.Failed() {
		t.FailNow()
	}
	// Records by task and batch (the index's task and batch keys), outside
	// mu.
	l.mu.Unlock()
	defer l.mu.Lock()
	for task, want := range s.byTask {
		ixWantRecords(t, who, l, writeback.RecordQuery{TaskID: task, After: -1, Limit: MaxRecordsLimit}, want)
	}
	for batch, want := range s.byBatch {
		if batch != "" {
			ixWantRecords(t, who, l, writeback.RecordQuery{BatchID: batch, After: -1, Limit: MaxRecordsLimit}, want)
		}
	}
}

func ixWantRecords(t *testing.T, who string, l *Ledger, q writeback.RecordQuery, want []int64) {
	t.Helper()
	p, err := l.Records(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: Records(%+v): %v", who, q, err)
	}
	got := []int64{}
	for _, r := range p.Records {
		got = append(got, r.Seq)
	}
	if len(want) > MaxRecordsLimit {
		want = want[:MaxRecordsLimit]
	}
	if q.TaskID == "" && q.BatchID == "" {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: Records(task %q batch %q) = %v, scan %v", who, q.TaskID, q.BatchID, got, want)
	}
}

// ixForeignLine is a line another tool might append: a record as the seed
// writes it (json.dumps with its default separators), or a corrupt line.
func ixForeignLine(rng *rand.Rand, i int) string {
	task := fmt.Sprintf("task-%d", rng.Intn(12))
	switch rng.Intn(8) {
	case 0:
		return "not json at all"
	case 1:
		return `{"schema": "something_else.v1", "task_id": "x"}`
	case 2:
		return ""
	case 3:
		return fmt.Sprintf(`{"schema": "callback_4tuple_ledger_record.v1", "task_id": %q, "status": "REGISTERED", "ts_kst": "2025-11-22T09:00:00+09:00"}`, task)
	case 4:
		// A durable record whose track_id is not a string.
		return fmt.Sprintf(`{"schema": "durable_success_writeback.v1", "task_id": %q, "track_id": 7, "batch_id": "b%d", "writeback_classification": "DURABLE_SUCCESS_WRITTEN", "writeback_id": "foreign-%d"}`, task, rng.Intn(3), i)
	default:
		b := storetest.Binding(task, fmt.Sprintf("T%d", 1+rng.Intn(3)), fmt.Sprintf("b%d", rng.Intn(3)))
		d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, storetest.Config(), writeback.NewMemView())
		if d.DurableRecord == nil {
			return "{}"
		}
		line, err := writeback.AppendLine(nil, d.DurableRecord)
		if err != nil {
			panic(err)
		}
		return string(bytes.TrimSuffix(line, []byte("\n")))
	}
}

// ixLineEnds returns the offsets just after each '\n' of the file.
func ixLineEnds(t *testing.T, path string) []int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var ends []int64
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, int64(i+1))
		}
	}
	return ends
}

func TestIndexDifferential(t *testing.T) {
	rng := testenv.Rand(t)
	steps := 120
	if testing.Short() {
		steps = 40
	}
	if s := os.Getenv(ixEnvSteps); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	defer func(m int) { mergeRows = m }(mergeRows)
	mergeRows = 4 + rng.Intn(24)
	// The lookup paths: a scan of the records after the base or a map of
	// them, a fan-out slot read from the file or from memory.
	defer func(d, f int) { deltaMapAfter, fanCacheAfter = d, f }(deltaMapAfter, fanCacheAfter)
	thresholds := [...]int{0, 1, 5, 1 << 30}
	deltaMapAfter, fanCacheAfter = thresholds[rng.Intn(len(thresholds))], thresholds[rng.Intn(len(thresholds))]
	defer func(b int) { backgroundMergeAfter = b }(backgroundMergeAfter)
	backgroundMergeAfter = [...]int{-1, 0, 3}[rng.Intn(3)]
	t.Logf("mergeRows %d, deltaMapAfter %d, fanCacheAfter %d, backgroundMergeAfter %d", mergeRows, deltaMapAfter, fanCacheAfter, backgroundMergeAfter)

	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	ctx := context.Background()
	kept := ixOpen(t, root)
	defer func() { kept.Close() }()
	loaded := 0
	var merges int64
	for step := range steps {
		op := rng.Intn(100)
		var what string
		switch {
		case op < 35:
			what = "settle write-backs"
			if rng.Intn(3) == 0 && ixWaitMerge(kept) {
				what += " after a background merge ended"
			}
			n := 1 + rng.Intn(4)
			for range n {
				b := storetest.Binding(fmt.Sprintf("task-%d", rng.Intn(12)), fmt.Sprintf("T%d", 1+rng.Intn(3)), fmt.Sprintf("b%d", rng.Intn(3)))
				if rng.Intn(4) == 0 {
					b.AuthoritativeVerdict = "PASS" // a conflicting verdict
				}
				if _, err := kept.Writeback(ctx, writeback.WritebackRequest{Binding: b}); err != nil {
					t.Fatalf("step %d: Writeback: %v", step, err)
				}
			}
		case op < 42:
			what = "settle registry append"
			r := writeback.RegistryRecord{Schema: writeback.RegistrySchema, TaskID: fmt.Sprintf("task-%d", rng.Intn(12)),
				Status: writeback.StatusRegistered, TsKST: "2025-11-22T09:00:00+09:00"}
			if err := kept.AppendRegistry(ctx, r); err != nil && !errors.Is(err, err) {
				t.Fatalf("step %d: AppendRegistry: %v", step, err)
			}
		case op < 58:
			what = "foreign append"
			var sb bytes.Buffer
			for i := range 1 + rng.Intn(5) {
				sb.WriteString(ixForeignLine(rng, step*10+i))
				sb.WriteByte('\n')
			}
			if rng.Intn(4) == 0 {
				what += " with a torn tail"
				line := ixForeignLine(rng, step*10+9)
				sb.WriteString(line[:rng.Intn(len(line)+1)])
			}
			AppendRawForTest(t, path, sb.String())
		case op < 64:
			what = "truncation"
			if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
				to := rng.Int63n(fi.Size())
				if ends := ixLineEnds(t, path); rng.Intn(2) == 0 && len(ends) > 0 {
					to = ends[rng.Intn(len(ends))]
				}
				if err := os.Truncate(path, to); err != nil {
					t.Fatal(err)
				}
			}
		case op < 70:
			what = "rewrite in place (truncate to a line, append other lines)"
			if ends := ixLineEnds(t, path); len(ends) > 1 {
				if err := os.Truncate(path, ends[rng.Intn(len(ends)-1)]); err != nil {
					t.Fatal(err)
				}
				var sb bytes.Buffer
				for i := range 3 + rng.Intn(20) {
					sb.WriteString(ixForeignLine(rng, step*100+i))
					sb.WriteByte('\n')
				}
				AppendRawForTest(t, path, sb.String())
			}
		case op < 75:
			what = "replacement (a shorter or longer copy renamed over it)"
			data, _ := os.ReadFile(path)
			if ends := ixLineEnds(t, path); len(ends) > 0 && rng.Intn(2) == 0 {
				data = data[:ends[rng.Intn(len(ends))]]
			}
			for i := range rng.Intn(5) {
				data = append(data, ixForeignLine(rng, step*100+i)+"\n"...)
			}
			tmp := path + ".tmp"
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		case op < 82:
			what = "corrupted index file"
			p := path + idxSuffix
			if rng.Intn(3) == 0 {
				p = path + logSuffix
			}
			if data, err := os.ReadFile(p); err == nil && len(data) > 0 {
				i := rng.Intn(len(data))
				data[i] ^= byte(1 + rng.Intn(255))
				what += fmt.Sprintf(" (%s byte %d)", filepath.Ext(p), i)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case op < 92:
			steps := [...]string{"index-frame", "index-base", "index-log", "index-merge"}
			crash := steps[rng.Intn(len(steps))]
			what = "child SIGKILLed at " + crash
			cmd := exec.Command(os.Args[0], "-test.run=^TestIndexChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), ixEnvChild+"="+crash, ixEnvRoot+"="+root,
				ixEnvTask+"="+fmt.Sprintf("child-%d", step), ixEnvMerge+"="+strconv.Itoa(mergeRows))
			if crash == "index-merge" || rng.Intn(2) == 0 {
				what += ", merging in the background"
				cmd.Env = append(cmd.Env, ixEnvBg+"=1")
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("step %d: child: %v\n%s", step, err, out)
				}
			} else if err != nil {
				t.Fatalf("step %d: child: %v\n%s", step, err, out)
			}
		default:
			what = "store reopened"
			merges += kept.Stats().IndexMerges
			kept.Close()
			kept = ixOpen(t, root)
		}
		s := ixFullScan(t, path)
		ixCompare(t, fmt.Sprintf("step %d (%s), kept store", step, what), kept, s)
		fresh := ixOpen(t, root)
		if fresh.Stats().IndexLoaded > 0 {
			loaded++
		}
		ixCompare(t, fmt.Sprintf("step %d (%s), fresh store", step, what), fresh, s)
		fresh.Close()
	}
	if loaded == 0 {
		t.Errorf("no fresh store loaded the persistent index in %d steps", steps)
	}
	merges += kept.Stats().IndexMerges
	t.Logf("%d of %d fresh stores loaded the persistent index; the kept stores installed %d background merges", loaded, steps, merges)
	if backgroundMergeAfter < 0 && merges > 0 {
		t.Errorf("%d background merges with background merging off", merges)
	}
}

// ixFill writes n distinct write-backs through a store and closes it.
func ixFill(t *testing.T, root string, from, n int) {
	t.Helper()
	l := ixOpen(t, root)
	defer l.Close()
	for i := from; i < from+n; i++ {
		b := storetest.Binding(fmt.Sprintf("fill-%d", i), fmt.Sprintf("T%d", 1+i%3), fmt.Sprintf("b%d", i%5))
		if out, err := l.Writeback(context.Background(), writeback.WritebackRequest{Binding: b}); err != nil || !out.Decision.Appended {
			t.Fatalf("write-back %d: %v %+v", i, err, out.Decision)
		}
	}
}

// TestIndexOpenValidation checks what a new store takes from the index
// files after each kind of change behind their back.
func TestIndexOpenValidation(t *testing.T) {
	defer func(m int) { mergeRows = m }(mergeRows)
	mergeRows = 16
	setup := func(t *testing.T) (root, path string) {
		root = t.TempDir()
		path = filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
		ixFill(t, root, 0, 20) // 40 records: a base and a log frame or two
		return root, path
	}
	check := func(t *testing.T, root, path string, wantLoaded int64) {
		t.Helper()
		l := ixOpen(t, root)
		defer l.Close()
		if got := l.Stats().IndexLoaded; got != wantLoaded {
			t.Errorf("IndexLoaded = %d, want %d", got, wantLoaded)
		}
		ixCompare(t, "fresh store", l, ixFullScan(t, path))
	}
	t.Run("current", func(t *testing.T) {
		root, path := setup(t)
		check(t, root, path, 40)
	})
	t.Run("foreign append and torn tail", func(t *testing.T) {
		root, path := setup(t)
		AppendRawForTest(t, path, ixForeignLine(rand.New(rand.NewSource(5)), 1)+"\nnot json\n{\"schema\": \"dura")
		check(t, root, path, 40)
	})
	t.Run("rewritten in place, longer", func(t *testing.T) {
		root, path := setup(t)
		ends := ixLineEnds(t, path)
		if err := os.Truncate(path, ends[10]); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(7))
		for i := 0; ; i++ {
			AppendRawForTest(t, path, ixForeignLine(rng, i)+"\n")
			if fi, _ := os.Stat(path); fi.Size() > ends[len(ends)-1]+100 {
				break
			}
		}
		check(t, root, path, 0)
	})
	t.Run("truncated", func(t *testing.T) {
		root, path := setup(t)
		ends := ixLineEnds(t, path)
		if err := os.Truncate(path, ends[len(ends)-3]); err != nil {
			t.Fatal(err)
		}
		// The base (written at 17 or 34 records) may still be valid.
		l := ixOpen(t, root)
		defer l.Close()
		if got := l.Stats().IndexLoaded; got > int64(len(ends)-2) {
			t.Errorf("IndexLoaded = %d of a ledger cut to %d records", got, len(ends)-3)
		}
		ixCompare(t, "fresh store", l, ixFullScan(t, path))
	})
	t.Run("replaced", func(t *testing.T) {
		root, path := setup(t)
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path+".new", data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		check(t, root, path, 0)
	})
	t.Run("corrupt bucket", func(t *testing.T) {
		root, path := setup(t)
		// Only the log is current; fold it into the base.
		l := ixOpen(t, root)
		l.mu.Lock()
		cp := l.checkpoint()
		cp.Head, cp.Tail, _ = ledgerSums(l.f, cp.Off)
		if err := l.ix.writeBase(&cp); err != nil {
			t.Fatal(err)
		}
		l.mu.Unlock()
		l.Close()
		data, err := os.ReadFile(path + idxSuffix)
		if err != nil {
			t.Fatal(err)
		}
		// Flip a byte of every entry: every bucket's CRC fails.
		b, err := parseBase(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for i := b.entAt(); i < b.fanAt(); i += entrySize {
			data[i+9] ^= 0x40
		}
		if err := os.WriteFile(path+idxSuffix, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l = ixOpen(t, root)
		defer l.Close()
		ixCompare(t, "fresh store", l, ixFullScan(t, path))
		if l.Stats().Rebuilds == 0 {
			t.Errorf("a corrupt bucket did not make the store rebuild the index")
		}
		// The rebuilt index was saved: the next store loads it whole.
		check(t, root, path, 40)
	})
	t.Run("merge bounds the log", func(t *testing.T) {
		root, path := setup(t)
		ixFill(t, root, 100, 30)
		fi, err := os.Stat(path + logSuffix)
		if err != nil {
			t.Fatal(err)
		}
		// At most mergeRows records in the log: about 60 bytes each.
		if fi.Size() > int64(logHeaderSize+(mergeRows+2)*200) {
			t.Errorf("log holds %d bytes after merges at %d records", fi.Size(), mergeRows)
		}
		check(t, root, path, 100)
	})
}

// TestIndexLookupModes checks that every way of answering a lookup (the
// records after the base scanned or mapped, the fan-out slot read from the
// file or from memory) gives the same record numbers, for every key of
// every record and for hashes no record has.
func TestIndexLookupModes(t *testing.T) {
	defer func(m, d, f int) { mergeRows, deltaMapAfter, fanCacheAfter = m, d, f }(mergeRows, deltaMapAfter, fanCacheAfter)
	mergeRows = 4096
	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	ixFill(t, root, 0, 10) // the base
	// A log read in several chunks: hundreds of small frames, then one
	// frame larger than a chunk (a foreign append indexed at once).
	ixFill(t, root, 10, 600)
	rng := rand.New(rand.NewSource(1))
	var sb bytes.Buffer
	for i := range 2500 {
		sb.WriteString(ixForeignLine(rng, i))
		sb.WriteByte('\n')
	}
	AppendRawForTest(t, path, sb.String())
	ixFill(t, root, 610, 2)
	logData, err := os.ReadFile(path + logSuffix)
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for pos := logHeaderSize; pos+8 <= len(logData); {
		n := int(binary.LittleEndian.Uint32(logData[pos:]))
		largest = max(largest, n)
		pos += 8 + n
	}
	if len(logData) < 128<<10 || largest < 64<<10 {
		t.Fatalf("want a log of several chunks and a frame larger than one: %d bytes, largest frame %d", len(logData), largest)
	}
	s := ixFullScan(t, path)
	want := map[uint64][]uint32{}
	for i := range s.recs {
		for _, k := range recordIndexKeys(&s.recs[i], s.recs[i].Raw) {
			h := k.hash()
			want[h] = append(want[h], uint32(i))
		}
	}
	hashes := []uint64{0, 1 << 63, ^uint64(0)}
	for h := range want {
		hashes = append(hashes, h, h^1, h+1<<48)
	}
	modes := 0
	for _, d := range []int{1 << 30, 0} {
		for _, f := range []int{1 << 30, 0} {
			deltaMapAfter, fanCacheAfter = d, f
			l := ixOpen(t, root)
			if got := l.Stats().IndexLoaded; got != int64(len(s.recs)) {
				t.Fatalf("the index covered %d of %d records", got, len(s.recs))
			}
			l.mu.Lock()
			if l.ix.b == nil || l.ix.b.f == nil || len(l.ix.lents) == 0 {
				t.Fatalf("want a base and a log: base %v, %d entries read from the log", l.ix.b != nil, len(l.ix.lents)/entrySize)
			}
			for _, h := range hashes {
				got, err := l.ix.lookup(h)
				if err != nil {
					t.Fatalf("map after %d, fan cache after %d: lookup %x: %v", d, f, h, err)
				}
				if !slices.Equal(got, want[h]) {
					t.Errorf("map after %d, fan cache after %d: lookup %x = %v, want %v", d, f, h, got, want[h])
				}
			}
			if (l.ix.delta != nil) != (d == 0) || (l.ix.b.fan != nil) != (f == 0) {
				t.Errorf("map after %d, fan cache after %d: map built %v, fan-out cached %v", d, f, l.ix.delta != nil, l.ix.b.fan != nil)
			}
			l.mu.Unlock()
			l.Close()
			modes++
		}
	}
	if modes != 4 {
		t.Fatalf("%d modes checked", modes)
	}
}

// countingReaderAt counts the reads of an index base.
type countingReaderAt struct {
	r io.ReaderAt
	n int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.n++
	return c.r.ReadAt(p, off)
}

// TestIndexBaseReadsPerLookup: a lookup in the base reads the file twice
// (fan-out slot, bucket) until the fan-out table is cached, then once.
func TestIndexBaseReadsPerLookup(t *testing.T) {
	defer func(m, f int) { mergeRows, fanCacheAfter = m, f }(mergeRows, fanCacheAfter)
	mergeRows, fanCacheAfter = 16, 3
	root := t.TempDir()
	ixFill(t, root, 0, 20)
	l := ixOpen(t, root)
	defer l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ix.b == nil || l.ix.b.cp.Recs == 0 {
		t.Fatal("no base")
	}
	c := &countingReaderAt{r: l.ix.b.r}
	l.ix.b.r = c
	for i := range 10 {
		before := c.n
		if _, err := l.ix.b.find(uint64(i)<<50, nil); err != nil {
			t.Fatal(err)
		}
		want := 2
		if i == fanCacheAfter {
			want = 2 // the fan-out table, then the bucket
		} else if i > fanCacheAfter {
			want = 1
		}
		if got := c.n - before; got != want {
			t.Errorf("lookup %d read the base %d times, want %d", i+1, got, want)
		}
	}
}
