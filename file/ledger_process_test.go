package file_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// Environment of a child process (TestLedgerChild).
const (
	lgEnvChild = "SETTLE_LEDGER_CHILD" // mode: "mixed" or "crash"
	lgEnvRoot  = "SETTLE_LEDGER_ROOT"
	lgEnvID    = "SETTLE_LEDGER_CHILD_ID"
	lgEnvOps   = "SETTLE_LEDGER_OPS"
)

// lgAcks writes acknowledgement lines to stdout, one write per line.
type lgAcks struct {
	mu sync.Mutex
}

func (a *lgAcks) ack(format string, args ...any) {
	line := "ACK " + fmt.Sprintf(format, args...) + "\n"
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := os.Stdout.WriteString(line); err != nil {
		os.Exit(3)
	}
}

// TestLedgerChild is the body of the child processes of the multi-process
// and crash tests; it does nothing unless SETTLE_LEDGER_CHILD is set.
func TestLedgerChild(t *testing.T) {
	mode := os.Getenv(lgEnvChild)
	if mode == "" {
		t.Skip("child process body; run by TestLedgerMultiProcess and TestLedgerCrash")
	}
	root := os.Getenv(lgEnvRoot)
	id := os.Getenv(lgEnvID)
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	acks := &lgAcks{}
	fmt.Fprintln(os.Stdout, "READY")
	switch mode {
	case "mixed":
		ops, _ := strconv.Atoi(os.Getenv(lgEnvOps))
		lgChildMixed(l, acks, id, ops)
	case "crash":
		lgChildCrash(l, acks, id)
	case "crashmany":
		start, _ := strconv.Atoi(os.Getenv(lgEnvOps))
		lgChildCrashMany(l, acks, start)
	}
	if err := l.Close(); err != nil {
		os.Exit(2)
	}
	os.Exit(0)
}

func lgChildFail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(2)
}

func lgChildWriteback(l *file.Ledger, acks *lgAcks, b writeback.Binding) {
	out, err := l.Writeback(lgCtx, lgReq(b))
	if err != nil {
		lgChildFail("writeback", err)
	}
	acks.ack("wb %s %s %s", out.Decision.Classification, b.TaskID, b.WritebackID())
}

// lgChildMixed: 4 goroutines of distinct write-backs, write-backs shared
// with the other children, conflicting verdicts and registry appends.
func lgChildMixed(l *file.Ledger, acks *lgAcks, id string, ops int) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range ops {
				switch i % 4 {
				case 0:
					lgChildWriteback(l, acks, storetest.Binding(fmt.Sprintf("own-%s-%d-%d", id, g, i), "T1", "mp"))
				case 1:
					lgChildWriteback(l, acks, storetest.Binding(fmt.Sprintf("shared-%d", (i/4)%10), "T1", "mp"))
				case 2:
					b := storetest.Binding(fmt.Sprintf("shared-%d", (i/4+3)%10), "T1", "mp")
					if g%2 == 0 {
						b.AuthoritativeVerdict = "PASS" // conflicts with the AUTHORITATIVE_PASS one
					}
					lgChildWriteback(l, acks, b)
				case 3:
					task := fmt.Sprintf("reg-%s-%d-%d", id, g, i)
					if err := l.AppendRegistry(lgCtx, storetest.Registry(task, writeback.StatusRegistered)); err != nil {
						lgChildFail("registry", err)
					}
					acks.ack("reg %s", task)
				}
			}
		})
	}
	wg.Wait()
}

// lgChildCrash loops until killed: batches of three tracks written back by
// three goroutines, settled (creating summaries), declared, plus a request
// repeated in every run and registry appends.
func lgChildCrash(l *file.Ledger, acks *lgAcks, id string) {
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				batch := fmt.Sprintf("r%s-g%d-b%d", id, g, i)
				tracks := storetest.Tracks(batch, 3)
				if err := l.DeclareBatch(lgCtx, writeback.Batch{BatchID: batch, Tracks: tracks}); err != nil {
					lgChildFail("declare", err)
				}
				for _, tt := range tracks {
					lgChildWriteback(l, acks, storetest.Binding(tt.TaskID, tt.TrackID, batch))
				}
				lgChildWriteback(l, acks, storetest.Binding(fmt.Sprintf("again-%d", i%7), "T1", "again"))
				res, err := l.Settle(lgCtx, batch, tracks, "T3")
				if err != nil {
					lgChildFail("settle", err)
				}
				acks.ack("sum %s %v", batch, res.FirstConsolidation)
				task := fmt.Sprintf("reg-%s-%d-%d", id, g, i)
				if err := l.AppendRegistry(lgCtx, storetest.Registry(task, writeback.StatusRegistered)); err != nil {
					lgChildFail("registry", err)
				}
				acks.ack("reg %s", task)
			}
		})
	}
	wg.Wait()
}

// lgChild is a started child process.
type lgChild struct {
	cmd   *exec.Cmd
	ready chan struct{}
	acked chan struct{} // closed at the first ACK
	done  chan struct{}
	acks  []string // complete ACK lines
	lines []string // its other complete stdout lines
	other bytes.Buffer
}

func lgStartChild(t *testing.T, env ...string) *lgChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return lgStart(t, cmd)
}

func lgStart(t *testing.T, cmd *exec.Cmd) *lgChild {
	t.Helper()
	c := &lgChild{cmd: cmd, ready: make(chan struct{}), acked: make(chan struct{}), done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &c.other
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		r := bufio.NewReader(out)
		readyOnce := sync.OnceFunc(func() { close(c.ready) })
		defer readyOnce()
		ackedOnce := sync.OnceFunc(func() { close(c.acked) })
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A partial last line (killed mid-write) is no ack.
				io.Copy(io.Discard, r)
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "READY":
				readyOnce()
			case strings.HasPrefix(line, "ACK "):
				c.acks = append(c.acks, strings.TrimPrefix(line, "ACK "))
				ackedOnce()
			default:
				c.lines = append(c.lines, line)
			}
		}
	}()
	return c
}

// wait waits for the child's output and exit.
func (c *lgChild) wait() error {
	<-c.done
	return c.cmd.Wait()
}

// lgAckSet is what children acknowledged.
type lgAckSet struct {
	successes map[string]string // writeback id -> task
	skips     map[string]string
	registry  map[string]bool // task
	firstSums map[string]int  // batch -> first consolidations acknowledged
	sums      map[string]bool // batch -> summary verified
}

func newAckSet() *lgAckSet {
	return &lgAckSet{successes: map[string]string{}, skips: map[string]string{}, registry: map[string]bool{},
		firstSums: map[string]int{}, sums: map[string]bool{}}
}

func (s *lgAckSet) add(t *testing.T, acks []string) {
	t.Helper()
	for _, a := range acks {
		f := strings.Fields(a)
		switch {
		case f[0] == "wb" && len(f) == 4:
			switch f[1] {
			case writeback.DurableSuccessWritten:
				if prev, ok := s.successes[f[3]]; ok {
					t.Fatalf("writeback id %s (task %s, before %s) acknowledged as written twice", f[3], f[2], prev)
				}
				s.successes[f[3]] = f[2]
			case writeback.WritebackIdempotentSkip:
				s.skips[f[3]] = f[2]
			}
		case f[0] == "reg" && len(f) == 2:
			s.registry[f[1]] = true
		case f[0] == "sum" && len(f) == 3:
			if _, ok := s.sums[f[1]]; !ok {
				s.sums[f[1]] = false
			}
			if f[2] == "true" {
				s.firstSums[f[1]]++
			}
		default:
			t.Fatalf("bad ack %q", a)
		}
	}
}

// verify checks the ledger file against the acknowledgements: every
// acknowledged record is present exactly once, no durable record is
// duplicated, every complete line is valid, summaries exist once.
func (s *lgAckSet) verify(t *testing.T, root string) (kinds map[writeback.RecordKind]int, wids map[string]int) {
	t.Helper()
	path := lgLedgerPath(root)
	kinds, wids = lgCheckFile(t, path)
	for id, c := range wids {
		if c != 1 {
			t.Fatalf("writeback id %s present %d times", id, c)
		}
	}
	for id, task := range s.successes {
		if wids[id] != 1 {
			t.Fatalf("acknowledged success %s (task %s) present %d times", id, task, wids[id])
		}
	}
	for id, task := range s.skips {
		if wids[id] != 1 {
			t.Fatalf("acknowledged skip %s (task %s) has %d records", id, task, wids[id])
		}
	}
	if len(s.registry) > 0 {
		regs := map[string]int{}
		data, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(data), "\n") {
			if rec, ok := writeback.DecodeLine([]byte(line)); ok && rec.Registry != nil {
				regs[rec.Registry.TaskID]++
			}
		}
		for task := range s.registry {
			if regs[task] != 1 {
				t.Fatalf("acknowledged registry record of %s present %d times", task, regs[task])
			}
		}
	}
	for batch, n := range s.firstSums {
		if n != 1 {
			t.Fatalf("batch %s consolidated first %d times", batch, n)
		}
	}
	for batch, verified := range s.sums {
		if verified {
			continue
		}
		s.sums[batch] = true
		data, err := os.ReadFile(filepath.Join(root, "memory", "events", "batch_summaries", batch+".json"))
		if err != nil {
			t.Fatalf("acknowledged settle of %s: %v", batch, err)
		}
		var sum writeback.Summary
		if err := json.Unmarshal(data, &sum); err != nil || sum.BatchID != batch || len(sum.Records) != 3 {
			t.Fatalf("summary of %s: %v %+v", batch, err, sum)
		}
	}
	return kinds, wids
}

func TestLedgerMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	root := t.TempDir()
	const children, ops = 4, 40
	var kids []*lgChild
	for i := range children {
		kids = append(kids, lgStartChild(t, lgEnvChild+"=mixed", lgEnvRoot+"="+root,
			lgEnvID+"="+strconv.Itoa(i), lgEnvOps+"="+strconv.Itoa(ops)))
	}
	// The Python reference registry appends concurrently (it flocks the
	// same file), when available.
	var py *lgChild
	if ref, python, ok := lgReferenceIfPresent(t); ok {
		script := filepath.Join(lgRepoRoot(t), "file", "testdata", "ledger_py_append.py")
		py = lgStart(t, exec.Command(python, script, ref, lgLedgerPath(root), "py", "100"))
	} else {
		t.Log("no Python appender: the seed reference is absent")
	}
	acks := newAckSet()
	for i, k := range kids {
		if err := k.wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, k.other.String())
		}
		if len(k.acks) != 4*ops {
			t.Fatalf("child %d acknowledged %d of %d operations", i, len(k.acks), 4*ops)
		}
		acks.add(t, k.acks)
	}
	if py != nil {
		if err := py.wait(); err != nil {
			t.Fatalf("python appender: %v\n%s", err, py.other.String())
		}
		if len(py.acks) != 100 {
			t.Fatalf("python appender acknowledged %d", len(py.acks))
		}
		acks.add(t, py.acks)
	}
	kinds, _ := acks.verify(t, root)
	// Every shared write-back succeeded exactly once across processes.
	shared := map[string]int{}
	for _, task := range acks.successes {
		if strings.HasPrefix(task, "shared-") {
			shared[task]++
		}
	}
	for task, n := range shared {
		if n != 1 {
			t.Fatalf("shared task %s written %d times", task, n)
		}
	}
	if len(shared) != 10 {
		t.Fatalf("%d shared tasks written, want 10", len(shared))
	}
	l := lgOpen(t, root)
	rep, err := l.Check(lgCtx)
	if err != nil || !rep.OK() {
		t.Fatalf("Check: %+v %v", rep, err)
	}
	if got := rep.Records[writeback.KindDurable]; int(got) != kinds[writeback.KindDurable] || got != int64(len(acks.successes)) {
		t.Fatalf("durable records %d, file %d, acknowledged %d", got, kinds[writeback.KindDurable], len(acks.successes))
	}
	t.Logf("ledger: %v; %d conflicts", rep.Records, kinds[writeback.KindConflict])
}

// lgReferenceIfPresent is lgReference that returns ok false instead of
// skipping when the reference is absent (testenv.Reference).
func lgReferenceIfPresent(t *testing.T) (ref, python string, ok bool) {
	t.Helper()
	ref, ok = testenv.Reference(t, lgReferenceMarker)
	if !ok {
		return "", "", false
	}
	return ref, testenv.Python(t), true
}

var lgFailpointSteps = []string{"before-append", "before-fsync", "tmp-created", "before-rename", "before-dir-fsync", "group-overlap"}

// lgCrashRounds skips a crash test in -short, else returns its number of
// rounds: SETTLE_CRASH_ROUNDS, or def.
func lgCrashRounds(t *testing.T, def int) int {
	t.Helper()
	if testing.Short() {
		t.Skip("crash test")
	}
	return testenv.Count(t, "SETTLE_CRASH_ROUNDS", def)
}

// lgStartRound starts a crash round's child with env, and with
// SETTLE_FAILPOINT=step when step is set, and waits until it is ready;
// with a failpoint, also until it exits there (or 5 s, if it never
// reaches it).
func lgStartRound(t *testing.T, round int, step string, env ...string) *lgChild {
	t.Helper()
	if step != "" {
		env = append(env, "SETTLE_FAILPOINT="+step)
	}
	c := lgStartChild(t, env...)
	select {
	case <-c.ready:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("round %d: child not ready", round)
	}
	if step != "" {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	}
	return c
}

// lgKillRound kills a round's child and reports whether it had stopped at
// its failpoint; a child that ended any other way fails the test.
func lgKillRound(t *testing.T, c *lgChild, round int, step string) bool {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	err := c.wait()
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case step != "" && ws.Exited() && ws.ExitStatus() == 137:
		return true
	case ws.Signaled():
		return false
	}
	t.Fatalf("round %d (failpoint %q): child ended with %v\n%s", round, step, err, c.other.String())
	return false
}

func TestLedgerCrash(t *testing.T) {
	rounds := lgCrashRounds(t, 200)
	// The rounds take most of a minute: a required reference that is
	// missing fails now, not after them.
	ref, python, haveRef := lgReferenceIfPresent(t)
	root := t.TempDir()
	path := lgLedgerPath(root)
	rng := testenv.Rand(t)
	acks := newAckSet()
	failpoints := 0
	reached := map[string]int{}
	for round := range rounds {
		if round%9 == 4 {
			// A foreign writer died mid-line: the next append must not
			// glue to it.
			line := lgLine(t, storetest.Registry(fmt.Sprintf("torn-%d", round), writeback.StatusRegistered))
			file.AppendRawForTest(t, path, line[:1+rng.Intn(len(line)-2)])
		}
		env := []string{lgEnvChild + "=crash", lgEnvRoot + "=" + root, lgEnvID + "=" + strconv.Itoa(round)}
		step := ""
		if round%5 == 2 {
			step = lgFailpointSteps[(round/5)%len(lgFailpointSteps)]
		}
		c := lgStartRound(t, round, step, env...)
		if step == "" {
			time.Sleep(time.Duration(rng.Intn(25000)) * time.Microsecond)
		}
		if lgKillRound(t, c, round, step) {
			failpoints++
			reached[step]++
		}
		acks.add(t, c.acks)
		acks.verify(t, root)
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if round%20 == 0 || round == rounds-1 {
			rep, err := l.Check(lgCtx)
			if err != nil || !rep.IndexAgrees || rep.Skipped != 0 || len(rep.DuplicateWritebackIDs) != 0 {
				t.Fatalf("round %d: Check %+v %v", round, rep, err)
			}
		}
		l.Close()
	}
	if failpoints == 0 {
		t.Fatal("no child stopped at a failpoint")
	}
	// Three goroutines write back at once: a group is staged while an
	// earlier one is fsynced in some round.
	if rounds >= 5*len(lgFailpointSteps) && reached["group-overlap"] == 0 {
		t.Fatalf("no child stopped at group-overlap (stops per failpoint: %v)", reached)
	}

	// A last append repairs any torn tail; then the file is complete.
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("final", "T1", "final"))
	kinds, wids := acks.verify(t, root)
	st := l.Stats()
	t.Logf("%d rounds (%d at failpoints): %d durable, %d registry records; %d acknowledged successes; torn repairs seen by the last store %d",
		rounds, failpoints, kinds[writeback.KindDurable], kinds[writeback.KindRegistry], len(acks.successes), st.TornRepairs)
	if len(acks.successes) == 0 {
		t.Fatal("no write-back was acknowledged")
	}
	torn, _ := filepath.Glob(path + ".torn-*")
	if len(torn) == 0 {
		t.Fatal("no torn tail was repaired")
	}

	// The seed's readers read the result, and count what settle counts.
	if !haveRef {
		t.Run("seed reads the result", func(t *testing.T) { lgReference(t) })
		return
	}
	got := lgSeedReads(t, ref, python, path, "final", "again-0")
	if got.Registry != int(st.Records[writeback.KindRegistry]) || got.Durable != int(st.Records[writeback.KindDurable]) ||
		got.Registry != kinds[writeback.KindRegistry] || got.Durable != kinds[writeback.KindDurable] {
		t.Fatalf("python reads %d registry / %d durable, settle %v, file %v", got.Registry, got.Durable, st.Records, kinds)
	}
	for _, id := range got.WritebackIDs {
		if wids[id] != 1 {
			t.Fatalf("python reads writeback id %s that settle counts %d times", id, wids[id])
		}
	}
	for _, task := range []string{"final", "again-0"} {
		want, _ := l.Classify(lgCtx, task)
		if got.Classify[task] != want {
			t.Fatalf("classify(%s): python %s, settle %s", task, got.Classify[task], want)
		}
	}
}

// lgManySize is the size of the crash test's batches.
const lgManySize = 64

// lgManyBatch is batch k of the crash test: the same bindings in every
// run, so a later run's batch k retries an earlier run's.
func lgManyBatch(k int) []writeback.WritebackRequest {
	reqs := make([]writeback.WritebackRequest, lgManySize)
	for i := range reqs {
		reqs[i] = lgReq(storetest.Binding(fmt.Sprintf("mb-%d-%d", k, i), "T1", "mb"))
	}
	return reqs
}

// lgChildCrashMany loops until killed: 4 goroutines send batches start,
// start+1, ... of 64 write-backs each (WritebackMany), acknowledging
// every item, then the batch.
func lgChildCrashMany(l *file.Ledger, acks *lgAcks, start int) {
	var next atomic.Int64
	next.Store(int64(start))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				reqs := lgManyBatch(k)
				items, err := l.WritebackMany(lgCtx, reqs)
				if err != nil {
					lgChildFail("writeback many", err)
				}
				for i, it := range items {
					if it.Err != nil {
						lgChildFail("writeback many item", it.Err)
					}
					acks.ack("wb %s %s %s", it.Outcome.Decision.Classification, reqs[i].Binding.TaskID, reqs[i].Binding.WritebackID())
				}
				acks.ack("mbatch %d", k)
			}
		})
	}
	wg.Wait()
}

// lgManyAllOrNone checks that each batched write-back has its durable
// record and its registry mirror, or neither. A kill can cut a write
// exactly after an item's durable record: that item, the last line then,
// is added to cut and allowed its missing mirror until a retry completes
// it. strict (after the retries): no torn tail and no item incomplete.
func lgManyAllOrNone(t *testing.T, path string, strict bool, cut map[string]bool) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	torn := !strings.HasSuffix(s, "\n") && s != ""
	if torn && strict {
		t.Fatal("ledger has a torn tail")
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	} else {
		s = ""
	}
	if s == "" {
		return 0
	}
	durable, mirror := map[string]int{}, map[string]int{}
	last := ""
	for _, line := range strings.Split(s, "\n") {
		rec, ok := writeback.DecodeLine([]byte(line))
		if !ok {
			t.Fatalf("invalid line %.200q", line)
		}
		switch {
		case rec.Durable != nil && strings.HasPrefix(rec.Durable.TaskID, "mb-"):
			durable[rec.Durable.TaskID]++
			last = rec.Durable.TaskID
		case rec.Registry != nil && strings.HasPrefix(rec.Registry.TaskID, "mb-"):
			mirror[rec.Registry.TaskID]++
			last = ""
		default:
			last = ""
		}
	}
	if !strict && last != "" {
		cut[last] = true
	}
	for task, n := range durable {
		if n != 1 {
			t.Fatalf("%s has %d durable records", task, n)
		}
		if mirror[task] != 1 && !(!strict && cut[task]) {
			t.Fatalf("%s has its durable record but %d mirrors (torn tail %v)", task, mirror[task], torn)
		}
	}
	for task, n := range mirror {
		if durable[task] != 1 || n != 1 {
			t.Fatalf("%s has %d mirrors and %d durable records", task, n, durable[task])
		}
	}
	return len(durable)
}

// TestLedgerBatchCrash kills children in the middle of batched
// write-backs under load (4 concurrent batches of 64), some at a
// failpoint before the append or the fsync: each item's records are all
// in the ledger or none, no acknowledged item is lost, and retrying every
// batch completes them idempotently.
func TestLedgerBatchCrash(t *testing.T) {
	rounds := lgCrashRounds(t, 40)
	rng := testenv.Rand(t)
	root := t.TempDir()
	path := lgLedgerPath(root)
	acks := newAckSet()
	done := map[int]bool{}
	maxSent, failpoints := -1, 0
	cut := map[string]bool{}
	for round := range rounds {
		start := 0
		for done[start] {
			start++
		}
		env := []string{lgEnvChild + "=crashmany", lgEnvRoot + "=" + root, lgEnvID + "=" + strconv.Itoa(round), lgEnvOps + "=" + strconv.Itoa(start)}
		step := ""
		if round%4 == 1 {
			step = []string{"before-append", "before-fsync"}[(round/4)%2]
		}
		c := lgStartRound(t, round, step, env...)
		if step == "" {
			if round%3 == 0 {
				// Some rounds run until a batch is answered, so that
				// acknowledged items are checked however slow the machine.
				select {
				case <-c.acked:
				case <-time.After(30 * time.Second):
				}
			}
			time.Sleep(time.Duration(5000+rng.Intn(40000)) * time.Microsecond)
		}
		if lgKillRound(t, c, round, step) {
			failpoints++
		}
		var wbAcks []string
		for _, a := range c.acks {
			if k, ok := strings.CutPrefix(a, "mbatch "); ok {
				n, _ := strconv.Atoi(k)
				done[n] = true
				maxSent = max(maxSent, n)
				continue
			}
			wbAcks = append(wbAcks, a)
			var k, i int
			if _, err := fmt.Sscanf(strings.Fields(a)[2], "mb-%d-%d", &k, &i); err == nil {
				maxSent = max(maxSent, k)
			}
		}
		acks.add(t, wbAcks)
		acks.verify(t, root)
		if _, err := os.Stat(path); err == nil {
			lgManyAllOrNone(t, path, false, cut)
		}
	}
	if failpoints == 0 {
		t.Fatal("no child stopped at a failpoint")
	}

	// Retry every batch sent: each item is written once, now or before.
	l := lgOpen(t, root)
	skips := 0
	for k := 0; k <= maxSent+4; k++ {
		items, err := l.WritebackMany(lgCtx, lgManyBatch(k))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Err != nil {
				t.Fatal(it.Err)
			}
			switch it.Outcome.Decision.Classification {
			case writeback.WritebackIdempotentSkip:
				skips++
			case writeback.DurableSuccessWritten:
			default:
				t.Fatalf("retry: %s", it.Outcome.Decision.Classification)
			}
		}
	}
	acks.verify(t, root)
	n := lgManyAllOrNone(t, path, true, nil)
	if n != (maxSent+5)*lgManySize {
		t.Fatalf("%d batched write-backs in the ledger, want %d", n, (maxSent+5)*lgManySize)
	}
	if len(acks.successes) == 0 || skips == 0 {
		t.Fatalf("%d acknowledged successes, %d skips on retry: the test did not exercise crashes", len(acks.successes), skips)
	}
	t.Logf("%d rounds (%d at failpoints), %d batches sent, %d acknowledged successes, %d skips on the final retry",
		rounds, failpoints, maxSent+1, len(acks.successes), skips)
}
