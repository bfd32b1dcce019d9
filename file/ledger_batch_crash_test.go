package file_test

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

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
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
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
