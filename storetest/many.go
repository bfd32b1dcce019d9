package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// RunMany runs the WritebackMany conformance cases. open returns a new,
// empty store with the configuration given.
func RunMany(t *testing.T, open func(t *testing.T, cfg writeback.Config) writeback.Store) {
	t.Run("ManySameAsSingles", func(t *testing.T) { t.Parallel(); manySameAsSingles(t, open(t, Config()), open(t, Config())) })
	t.Run("ManyRetryIdempotent", func(t *testing.T) { t.Parallel(); manyRetry(t, open(t, Config())) })
	t.Run("ManyLimit", func(t *testing.T) { t.Parallel(); manyLimit(t, open(t, Config())) })
	t.Run("ManyItemErrors", func(t *testing.T) { t.Parallel(); manyItemErrors(t, open(t, Config())) })
	t.Run("ManyConcurrent", func(t *testing.T) { t.Parallel(); manyConcurrent(t, open(t, Config())) })
	t.Run("ManySettleWithout", func(t *testing.T) { t.Parallel(); manySettleWithout(t, open(t, Config()), open(t, Config())) })
}

// manyRequests is a batch exercising every decision: successes, a
// duplicate (an idempotent skip of an item earlier in the batch), a
// refused candidate twice (recorded once), another refused candidate.
func manyRequests() []writeback.WritebackRequest {
	b1 := Binding("m-task-1", "T1", "m-batch")
	b2 := Binding("m-task-2", "T2", "m-batch")
	c1 := b1
	c1.AuthoritativeVerdict = "PASS"
	c2 := b1
	c2.AuthoritativeVerdict = "ACCEPTED"
	b3 := Binding("m-task-3", "T1", "m-other")
	return []writeback.WritebackRequest{req(b1), req(b2), req(b1), req(c1), req(c1), req(c2), req(b3)}
}

// sameRecords fails unless two ledgers hold the same records: the same
// lines for durable and registry records, the same conflict ids (a
// conflict's detected_at is the store's clock).
func sameRecords(t *testing.T, a, b []writeback.LedgerRecord) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d records, want %d (%v vs %v)", len(a), len(b), kinds(a), kinds(b))
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Seq != b[i].Seq {
			t.Fatalf("record %d: %s seq %d, want %s seq %d", i, a[i].Kind, a[i].Seq, b[i].Kind, b[i].Seq)
		}
		if a[i].Kind == writeback.KindConflict {
			if a[i].Conflict.ConflictID != b[i].Conflict.ConflictID {
				t.Fatalf("record %d: conflict %s, want %s", i, a[i].Conflict.ConflictID, b[i].Conflict.ConflictID)
			}
			continue
		}
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			t.Fatalf("record %d:\n%s\nwant\n%s", i, a[i].Raw, b[i].Raw)
		}
	}
}

func sameOutcome(t *testing.T, i int, got, want writeback.WritebackOutcome) {
	t.Helper()
	g, w := got.Decision, want.Decision
	if g.Classification != w.Classification || g.Verdict != w.Verdict || g.Appended != w.Appended ||
		got.ConflictRecorded != want.ConflictRecorded || !sameDurable(g.DurableRecord, w.DurableRecord) ||
		fmt.Sprint(g.Reasons) != fmt.Sprint(w.Reasons) {
		t.Fatalf("item %d: %s %s appended=%v conflict=%v %q,\nalone: %s %s appended=%v conflict=%v %q", i,
			g.Verdict, g.Classification, g.Appended, got.ConflictRecorded, g.Reasons,
			w.Verdict, w.Classification, w.Appended, want.ConflictRecorded, w.Reasons)
	}
}

func manySameAsSingles(t *testing.T, batched, singles writeback.Store) {
	reqs := manyRequests()
	items, err := batched.WritebackMany(bg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(reqs) {
		t.Fatalf("%d items for %d requests", len(items), len(reqs))
	}
	for i, r := range reqs {
		want := wb(t, singles, r)
		if items[i].Err != nil {
			t.Fatalf("item %d: %v", i, items[i].Err)
		}
		sameOutcome(t, i, items[i].Outcome, want)
	}
	wantClass(t, items[2].Outcome, "PASS", writeback.WritebackIdempotentSkip, false)
	wantClass(t, items[3].Outcome, "FAIL", writeback.WritebackBindingConflict, false)
	if !items[3].Outcome.ConflictRecorded || items[4].Outcome.ConflictRecorded || !items[5].Outcome.ConflictRecorded {
		t.Fatal("a refused candidate must be recorded once, the first time")
	}
	sameRecords(t, AllRecords(t, batched, writeback.RecordQuery{}), AllRecords(t, singles, writeback.RecordQuery{}))
}

func manyRetry(t *testing.T, s writeback.Store) {
	reqs := manyRequests()
	if _, err := s.WritebackMany(bg, reqs); err != nil {
		t.Fatal(err)
	}
	before := AllRecords(t, s, writeback.RecordQuery{})
	items, err := s.WritebackMany(bg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("retry item %d: %v", i, it.Err)
		}
		if it.Outcome.Decision.Appended || it.Outcome.ConflictRecorded {
			t.Fatalf("retry item %d wrote again: %s conflict=%v", i, it.Outcome.Decision.Classification, it.Outcome.ConflictRecorded)
		}
		if reqs[i].Binding.AuthoritativeVerdict == writeback.AuthoritativePass {
			wantClass(t, it.Outcome, "PASS", writeback.WritebackIdempotentSkip, false)
		}
	}
	sameRecords(t, AllRecords(t, s, writeback.RecordQuery{}), before)
}

func manyLimit(t *testing.T, s writeback.Store) {
	reqs := make([]writeback.WritebackRequest, settle.MaxBatchWritebacks+1)
	for i := range reqs {
		reqs[i] = req(Binding(fmt.Sprintf("lim-%d", i), "T1", "lim"))
	}
	_, err := s.WritebackMany(bg, reqs)
	WantCode(t, err, settle.InvalidInput)
	if recs := AllRecords(t, s, writeback.RecordQuery{}); len(recs) != 0 {
		t.Fatalf("a refused batch wrote %d records", len(recs))
	}
	items, err := s.WritebackMany(bg, reqs[:settle.MaxBatchWritebacks])
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("item %d: %v", i, it.Err)
		}
		wantClass(t, it.Outcome, "PASS", writeback.DurableSuccessWritten, true)
	}
	if items, err := s.WritebackMany(bg, nil); err != nil || len(items) != 0 {
		t.Fatalf("empty batch: %v %v", items, err)
	}
}

// manyItemErrors: an item refused alone (a dry run, an id over the
// limits, a malformed batch id) does not stop the others and writes
// nothing.
func manyItemErrors(t *testing.T, s writeback.Store) {
	long := Binding("e-task-2", "T1", "e-batch")
	long.TaskID = string(bytes.Repeat([]byte("x"), settle.MaxIDBytes+1))
	badBatch := Binding("e-task-3", "T1", "../escape")
	dry := req(Binding("e-task-4", "T1", "e-batch"))
	dry.DryRun = true
	reqs := []writeback.WritebackRequest{req(Binding("e-task-1", "T1", "e-batch")), req(long), req(badBatch), dry, req(Binding("e-task-5", "T1", "e-batch"))}
	items, err := s.WritebackMany(bg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2, 3} {
		WantCode(t, items[i].Err, settle.InvalidInput)
	}
	for _, i := range []int{0, 4} {
		if items[i].Err != nil {
			t.Fatalf("item %d: %v", i, items[i].Err)
		}
		wantClass(t, items[i].Outcome, "PASS", writeback.DurableSuccessWritten, true)
	}
	if k := kinds(AllRecords(t, s, writeback.RecordQuery{})); k[writeback.KindDurable] != 2 || k[writeback.KindRegistry] != 2 || len(k) != 2 {
		t.Fatalf("ledger kinds %v, want the two good items' records only", k)
	}
}

// manyConcurrent: batches and singles at once, the same bindings sent
// twice; every binding is written exactly once.
func manyConcurrent(t *testing.T, s writeback.Store) {
	const workers, per = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reqs := make([]writeback.WritebackRequest, per)
			for i := range reqs {
				// Workers w and w^1 send the same bindings.
				reqs[i] = req(Binding(fmt.Sprintf("c-%d-%d", w/2, i), "T1", "c-batch"))
			}
			if w%2 == 0 {
				items, err := s.WritebackMany(bg, reqs)
				if err != nil {
					errs <- err
					return
				}
				for _, it := range items {
					if it.Err != nil {
						errs <- it.Err
						return
					}
				}
				return
			}
			for _, r := range reqs {
				if _, err := s.Writeback(bg, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	k := kinds(AllRecords(t, s, writeback.RecordQuery{}))
	if k[writeback.KindDurable] != workers/2*per || k[writeback.KindRegistry] != workers/2*per || len(k) != 2 {
		t.Fatalf("ledger kinds %v, want %d durable records and their mirrors", k, workers/2*per)
	}
}

// manySettleWithout: one batch of write-backs completes a declared batch
// and then writes another record of the same track; settled without that
// later record, the batch gives the answer and writes the summary the
// same write-backs sent alone give when the first completes the batch.
func manySettleWithout(t *testing.T, batched, singles writeback.Store) {
	sw, ok := batched.(writeback.SettlerWithout)
	if !ok {
		// The HTTP client: its server settles a batched request on its own
		// store (TestWritebackBatchSameAsSingles).
		t.Skipf("%T settles on its server", batched)
	}
	const batch = "sw-batch"
	tracks := Tracks(batch, 2)
	for _, s := range []writeback.Store{batched, singles} {
		if err := s.DeclareBatch(bg, writeback.Batch{BatchID: batch, Tracks: tracks}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := []writeback.WritebackRequest{
		req(Binding(batch+"-task-1", "T1", batch)),
		req(Binding(batch+"-task-2", "T2", batch)),
		req(Binding(batch+"-task-2b", "T2", batch)), // another record of T2
	}

	// Alone: the second completes the batch and is settled before the third.
	wb(t, singles, reqs[0])
	wb(t, singles, reqs[1])
	want, err := singles.Settle(bg, batch, tracks, "T2")
	if err != nil || !want.FirstConsolidation {
		t.Fatalf("alone: %+v %v, want the first consolidation", want, err)
	}
	wb(t, singles, reqs[2])
	wantSum, err := singles.Summary(bg, batch)
	if err != nil {
		t.Fatal(err)
	}

	items, err := batched.WritebackMany(bg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil || it.Outcome.Decision.Classification != writeback.DurableSuccessWritten {
			t.Fatalf("item %d: %s %v", i, it.Outcome.Decision.Classification, it.Err)
		}
	}
	later := map[string]bool{items[2].Outcome.Decision.DurableRecord.WritebackID: true}
	got, err := sw.SettleWithout(bg, batch, tracks, "T2", later)
	if err != nil || !got.FirstConsolidation {
		t.Fatalf("batched: %+v %v, want the first consolidation", got, err)
	}
	gj, _ := writeback.EncodeDocument(got.Result)
	wj, _ := writeback.EncodeDocument(want.Result)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("settled without the later record:\n%s\nalone:\n%s", gj, wj)
	}
	gotSum, err := batched.Summary(bg, batch)
	if err != nil {
		t.Fatal(err)
	}
	gotSum.WrittenAt, wantSum.WrittenAt = "", ""
	gj, _ = writeback.EncodeDocument(gotSum)
	wj, _ = writeback.EncodeDocument(wantSum)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("summary:\n%s\nalone:\n%s", gj, wj)
	}
	if len(gotSum.Records) != 2 || gotSum.Records[1].WritebackID != items[1].Outcome.Decision.DurableRecord.WritebackID {
		t.Fatalf("summary lists %+v, want the records of the first two items", gotSum.Records)
	}

	// Settled again with the later record, nothing is written twice.
	again, err := sw.SettleWithout(bg, batch, tracks, "T2", nil)
	if err != nil || again.FirstConsolidation {
		t.Fatalf("settled again: %+v %v, want no second consolidation", again, err)
	}
}
