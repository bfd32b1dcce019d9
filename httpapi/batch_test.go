package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// testSeed is SETTLE_TEST_SEED, or the clock: logged, so a failure replays.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SETTLE_TEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SETTLE_TEST_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay: SETTLE_TEST_SEED=%d)", seed, seed)
	return seed
}

// randomWritebacks is a stream of write-back bodies over three declared
// batches and an undeclared one: successes, retries, changed verdicts
// (refusals), verdicts that settle without consolidating, another
// collector's key (403) and malformed items (400). A track has up to
// three tasks, so a track of a batch gets several durable records (the
// latest is the one its settlement reads), and a task several
// write-backs.
func randomWritebacks(r *rand.Rand, n int) []httpapi.WritebackBody {
	verdicts := []string{"AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "AUTHORITATIVE_PASS", "PASS", "ACCEPTED", "AUTHORITATIVE_FAIL"}
	out := make([]httpapi.WritebackBody, 0, n)
	for range n {
		batch := []string{"D1", "D2", "D3", "D4", "D5", "D6", "U1"}[r.IntN(7)]
		track := fmt.Sprintf("T%d", 1+r.IntN(3))
		task := batch + "-task-" + track + []string{"", "", "-b", "-c"}[r.IntN(4)]
		key := keyA
		if r.IntN(20) == 0 {
			key = keyB
		}
		b := verdictBody(batch, track, task, verdicts[r.IntN(len(verdicts))], key)
		if r.IntN(40) == 0 {
			b.BatchID = "" // malformed: 400 for this item only
		}
		out = append(out, b)
	}
	return out
}

// verdictBody is the body of one write-back with this verdict.
func verdictBody(batch, track, task, verdict, key string) httpapi.WritebackBody {
	return httpapi.WritebackBody{Verdict: json.RawMessage(verdictOf(task, track, verdict, key)), BatchID: batch, TrackID: track}
}

// overtakingTail is a request that surely completes its batch (D7) and
// then writes a second record of a track (of another task) and of the
// same task again: the case where an item's summary must not list the
// records of the items after it.
func overtakingTail() []httpapi.WritebackBody {
	const ap = "AUTHORITATIVE_PASS"
	return []httpapi.WritebackBody{
		verdictBody("D7", "T1", "D7-task-T1", ap, keyA),
		verdictBody("D7", "T2", "D7-task-T2", ap, keyA),
		verdictBody("D7", "T3", "D7-task-T3", ap, keyA),
		verdictBody("D7", "T3", "D7-task-T3-b", ap, keyA),
		verdictBody("D7", "T3", "D7-task-T3", ap, keyA),
		verdictBody("D7", "T1", "D7-task-T1-b", ap, keyA),
		verdictBody("D7", "T2", "D7-task-T2-b", "AUTHORITATIVE_FAIL", keyA),
		verdictBody("D7", "T2", "D7-task-T2-c", ap, keyA),
	}
}

// clockFields are the only bytes two runs may differ in: the stores'
// clock.
var clockFields = regexp.MustCompile(`"(recorded_at|time|written_at)": ?"[^"]*"`)

// storeFiles reads every file under root but the ledger's index files
// (a cache of the ledger, laid out by group), clock fields blanked.
func storeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasSuffix(rel, ".idx") || strings.HasSuffix(rel, ".idxlog") || strings.HasSuffix(rel, ".keyidx") || strings.HasSuffix(rel, ".lock") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = clockFields.ReplaceAllString(string(data), `"$1": "T"`)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWritebackBatchSameAsSingles is the differential test of batched
// write-backs: the same random verdicts sent one per request to one
// server and in random batches to another give the same answers and
// byte-identical ledgers, events and summaries.
func TestWritebackBatchSameAsSingles(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	bodies := append(randomWritebacks(r, 400), overtakingTail()...)
	tail := len(bodies) - len(overtakingTail())
	ctx := context.Background()
	single, batched := startEnv(t, envOptions{}), startEnv(t, envOptions{})
	for _, e := range []*env{single, batched} {
		for _, b := range []string{"D1", "D2", "D3", "D4", "D5", "D6", "D7"} {
			if err := e.client("tok-dispatcher").DeclareBatch(ctx, writeback.Batch{BatchID: b, Tracks: []writeback.TrackTask{
				{TrackID: "T1", TaskID: b + "-task-T1"}, {TrackID: "T2", TaskID: b + "-task-T2"}, {TrackID: "T3", TaskID: b + "-task-T3"}}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// One per request.
	sc := single.client("tok-collector-a")
	want := make([]httpapi.WritebackBatchResult, len(bodies))
	for i, b := range bodies {
		res, err := sc.PostWriteback(ctx, b)
		switch {
		case err != nil && res.Status == 0:
			// A refusal before any decision: compare its code.
			want[i] = httpapi.WritebackBatchResult{Status: 400, Error: &httpapi.APIError{Code: errCode(err)}}
		case err != nil:
			want[i] = httpapi.WritebackBatchResult{Status: res.Status, Error: &httpapi.APIError{Code: errCode(err)}}
		default:
			d := res.Decision
			want[i] = httpapi.WritebackBatchResult{Status: res.Status, Decision: &d, ConflictRecorded: res.ConflictRecorded,
				BatchDecision: res.BatchDecision, FirstConsolidation: res.FirstConsolidation}
		}
	}

	// In random batches (1 to 64 items).
	bc := batched.client("tok-collector-a")
	var got []httpapi.WritebackBatchResult
	// overtaken counts the requests where an item completed its batch
	// and a later item of the same request wrote another record of the
	// same track: the summary and event must still list the first.
	overtaken := 0
	for start := 0; start < len(bodies); {
		// The tail is one request of its own.
		n := min(1+r.IntN(64), tail-start)
		if start == tail {
			n = len(bodies) - tail
		}
		res, err := bc.PostWritebackBatch(ctx, bodies[start:start+n])
		if err != nil {
			t.Fatalf("batch at %d: %v", start, err)
		}
		for k := range res {
			if !res[k].FirstConsolidation {
				continue
			}
			for l := k + 1; l < len(res); l++ {
				bk, bl := bodies[start+k], bodies[start+l]
				if res[l].Status == 201 && bl.BatchID == bk.BatchID && bl.TrackID == bk.TrackID {
					overtaken++
					break
				}
			}
		}
		got = append(got, res...)
		start += n
	}

	for i := range bodies {
		g, w := got[i], want[i]
		if g.Error != nil {
			g.Error = &httpapi.APIError{Code: g.Error.Code}
			if w.Decision == nil {
				g.Decision, g.ConflictRecorded = nil, false
			}
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Fatalf("item %d:\nbatched %s\nsingle  %s", i, gj, wj)
		}
	}

	for _, e := range []*env{single, batched} {
		allEvents(t, e.events) // flushes the posted events
		e.stop()
	}
	a, b := storeFiles(t, single.root), storeFiles(t, batched.root)
	if len(a) == 0 {
		t.Fatal("no store files")
	}
	for name, data := range a {
		storetest.CompareTraces(t, "single "+name, strings.Split(data, "\n"), "batched "+name, strings.Split(b[name], "\n"))
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			t.Errorf("%s only in the batched store", name)
		}
	}
	if overtaken == 0 {
		t.Error("no request had an item completing its batch before another record of the same track")
	}
	statuses := map[int]int{}
	firsts := 0
	for _, g := range got {
		statuses[g.Status]++
		if g.FirstConsolidation {
			firsts++
		}
	}
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	t.Logf("%d write-backs (statuses %v, %d first consolidations, %d overtaken in their request); files compared: %v", len(bodies), statuses, firsts, overtaken, names)
}

func errCode(err error) string { return string(settle.ErrorCode(err)) }
