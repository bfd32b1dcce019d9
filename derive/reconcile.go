package derive

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/writeback"
)

// ReconcileStats says what a Reconcile did.
type ReconcileStats struct {
	// Cursor is the Seq of the last ledger record seen (-1 for an empty
	// ledger): Follow continues from it.
	Cursor         int64
	RecordedAdded  int
	BatchesChecked int
	BatchesSettled int
}

// Reconcile derives everything the ledger implies that the event log lacks:
// every durable-success record gets its writeback.recorded event, and every
// declared batch that reached ALL_SETTLED_CONSOLIDATE gets its summary and
// its batch.settled event. It repairs what a crash can leave between a
// durable write and its consequences. It is idempotent and safe to run
// while other writers work.
func (d *Deriver) Reconcile(ctx context.Context) (ReconcileStats, error) {
	st := ReconcileStats{Cursor: -1}
	// What the event log already has.
	haveRecorded := map[string]bool{}
	haveSettled := map[string]bool{}
	var after int64
	// Below a retention floor there is nothing to read; the keys of the
	// removed events are still known to AppendOnce, so deriving them again
	// appends nothing.
	if f, ok := d.events.(event.Floorer); ok {
		floor, err := f.Floor(ctx)
		if err != nil {
			return st, err
		}
		after = floor
	}
	for {
		evs, err := d.events.Since(ctx, after, 5000)
		if err != nil {
			return st, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			switch {
			case strings.HasPrefix(ev.Key, recordedKeyPrefix):
				haveRecorded[ev.Key] = true
			case strings.HasPrefix(ev.Key, settledKeyPrefix):
				haveSettled[ev.Key] = true
			}
			after = ev.ID
		}
	}

	// The ledger's durable successes.
	var missing []*writeback.DurableRecord
	batches := map[string]bool{}
	for {
		page, err := d.ledger.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, After: st.Cursor, Limit: 1000})
		if err != nil {
			return st, err
		}
		for _, lr := range page.Records {
			st.Cursor = max(st.Cursor, lr.Seq)
			r := lr.Durable
			if r == nil || r.WritebackClassification != writeback.DurableSuccessWritten {
				continue
			}
			if !haveRecorded[RecordedKey(r.WritebackID)] {
				haveRecorded[RecordedKey(r.WritebackID)] = true
				missing = append(missing, r)
			}
			if r.BatchID != "" && !haveSettled[SettledKey(r.BatchID)] {
				batches[r.BatchID] = true
			}
		}
		if page.Next < 0 || len(page.Records) == 0 {
			break
		}
		st.Cursor = max(st.Cursor, page.Next)
	}

	// Missing events are appended concurrently so the log's group commit
	// writes them in few fsyncs.
	if err := d.recordAll(ctx, missing); err != nil {
		return st, err
	}
	st.RecordedAdded = len(missing)

	ids := make([]string, 0, len(batches))
	for b := range batches {
		ids = append(ids, b)
	}
	sort.Strings(ids)
	for _, b := range ids {
		so, err := d.SettleDeclared(ctx, b, "")
		if err != nil {
			return st, err
		}
		st.BatchesChecked++
		if so != nil && so.Result.Decision == writeback.AllSettledConsolidate {
			st.BatchesSettled++
		}
	}
	d.log.Info("reconciliation done", "recorded_events_added", st.RecordedAdded, "batches_checked", st.BatchesChecked, "batches_settled", st.BatchesSettled)
	return st, nil
}

// recordAll appends the writeback.recorded events of recs (each once),
// concurrently, and returns the first error.
func (d *Deriver) recordAll(ctx context.Context, recs []*writeback.DurableRecord) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 64)
	for _, r := range recs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.Recorded(ctx, r, "", false); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// DefaultFollowInterval is how often Follow checks the ledger when no
// change notification arrives.
const DefaultFollowInterval = 250 * time.Millisecond

// followBatch bounds the records one Follow step reads.
const followBatch = 10000

// Follow derives, until ctx ends, the consequences of every durable success
// appended to the ledger after the record with Seq cursor, whoever appended
// it: this process, another settle process or server, or a tool writing the
// ledger file directly. It returns ctx's error.
//
// A settle writer announces its record (writeback.recorded, keyed by the
// writeback_id) and settles its batch itself, within milliseconds of its
// fsync, and reports the settlement to its caller. So Follow handles a
// record at its first step at least followGrace (100 ms) after it first
// read it: it appends the record's event if
// the log still lacks it, and only then, when this step appended the event
// (the record had no settle writer, or its writer stopped in between),
// re-evaluates its declared batch, which appends the single batch.settled
// event when the batch consolidates. Records this Deriver derived already
// (AfterWriteback) are passed over. Whatever the timing, every consequence
// is keyed, so nothing is appended twice and nothing is lost: at worst a
// slow writer's caller is not the one told of the first consolidation.
//
// Follow reads the ledger every interval (0 = DefaultFollowInterval) and at
// once when poke delivers (a file-change notification; nil for polling
// alone). A failed step is logged and retried from the same cursor.
func (d *Deriver) Follow(ctx context.Context, cursor int64, interval time.Duration, poke <-chan struct{}) error {
	if interval <= 0 {
		interval = DefaultFollowInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// Records wait followGrace after they are read: by then their
	// writer in this process has derived them (handled), and the step
	// passes over them without looking the log up.
	type readRecs struct {
		at   time.Time
		recs []*writeback.DurableRecord
	}
	var pending []readRecs
	read := cursor
	st := followState{log: d.log, what: "the ledger"}
	for {
		now := time.Now()
		var due []*writeback.DurableRecord
		n := 0
		for n < len(pending) && now.Sub(pending[n].at) >= followGrace {
			due = append(due, pending[n].recs...)
			n++
		}
		err := d.handle(ctx, due)
		if err == nil {
			pending = pending[n:]
			var recs []*writeback.DurableRecord
			recs, read, err = d.readAfter(ctx, read)
			if len(recs) > 0 {
				pending = append(pending, readRecs{at: now, recs: recs})
			}
		}
		st.step(ctx, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-poke:
		}
	}
}

// followState logs a follower's failures once per outage: the first
// failed step, then the first step that succeeds again.
type followState struct {
	log     *slog.Logger
	what    string // what is followed
	failing bool
}

// step notes a step's outcome (a failure after ctx ended is no outage).
func (f *followState) step(ctx context.Context, err error) {
	switch {
	case err != nil && ctx.Err() == nil:
		if !f.failing {
			f.log.Error("following "+f.what+" failed; retrying", "err", err)
		}
		f.failing = true
	case err == nil:
		if f.failing {
			f.log.Info("following " + f.what + " again")
		}
		f.failing = false
	}
}

// followGrace is how long Follow leaves a record it read before handling
// it: well above the time from a ledger fsync to the writer's own
// derivation.
const followGrace = 100 * time.Millisecond

// FollowStep reads the durable successes after cursor and derives their
// consequences at once (Follow's two steps without the wait between them),
// returning the cursor to continue from. It is for a writer that knows
// the records it reads have no other settle writer: a reconciliation
// after a tool wrote the ledger, or a test.
func (d *Deriver) FollowStep(ctx context.Context, cursor int64) (int64, error) {
	for {
		recs, next, err := d.readAfter(ctx, cursor)
		if err != nil {
			return cursor, err
		}
		if err := d.handle(ctx, recs); err != nil {
			return cursor, err
		}
		if next == cursor {
			return cursor, nil
		}
		cursor = next
	}
}

// durableSincer is a ledger that remembers the durable successes this
// process appended (file.Ledger.DurableSince): the follower passes over
// those this Deriver derived without the ledger reading them back.
type durableSincer interface {
	DurableSince(ctx context.Context, after int64, limit int, skip func(writebackID string) bool) ([]writeback.LedgerRecord, int64, error)
}

// readAfter returns up to followBatch durable successes after cursor that
// this Deriver has not derived already, and the cursor after them.
func (d *Deriver) readAfter(ctx context.Context, cursor int64) ([]*writeback.DurableRecord, int64, error) {
	var recs []*writeback.DurableRecord
	if ds, ok := d.ledger.(durableSincer); ok {
		for n := 0; n < followBatch; n += 1000 {
			page, last, err := ds.DurableSince(ctx, cursor, 1000, d.takeHandled)
			if err != nil {
				return recs, cursor, err
			}
			for _, lr := range page {
				if r := lr.Durable; r != nil && r.WritebackClassification == writeback.DurableSuccessWritten && !d.takeHandled(r.WritebackID) {
					recs = append(recs, r)
				}
			}
			if last <= cursor {
				break
			}
			cursor = last
		}
		return recs, cursor, nil
	}
	for n := 0; n < followBatch; {
		page, err := d.ledger.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, After: cursor, Limit: 1000})
		if err != nil {
			return recs, cursor, err
		}
		for _, lr := range page.Records {
			n++
			cursor = max(cursor, lr.Seq)
			r := lr.Durable
			if r == nil || r.WritebackClassification != writeback.DurableSuccessWritten {
				continue
			}
			if d.takeHandled(r.WritebackID) {
				continue
			}
			recs = append(recs, r)
		}
		if page.Next < 0 || len(page.Records) == 0 {
			break
		}
	}
	return recs, cursor, nil
}

// handle appends the events recs lack and settles the declared batches of
// the records whose event it appended.
func (d *Deriver) handle(ctx context.Context, recs []*writeback.DurableRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// A record derived by its writer since it was read is passed over.
	recs = slices.DeleteFunc(recs, func(r *writeback.DurableRecord) bool { return d.takeHandled(r.WritebackID) })
	mine, err := d.recordNew(ctx, recs)
	if err != nil {
		return err
	}
	var batches []string
	seen := map[string]bool{}
	for _, r := range mine {
		if r.BatchID != "" && !seen[r.BatchID] {
			seen[r.BatchID] = true
			batches = append(batches, r.BatchID)
		}
	}
	for _, b := range batches {
		if _, err := d.SettleDeclared(ctx, b, ""); err != nil {
			return err
		}
	}
	if len(mine) > 0 {
		d.log.Info("derived from the ledger", "records", len(mine), "batches", len(batches))
	}
	return nil
}

// recordNew appends the writeback.recorded events of recs that the log
// lacks, in ledger order, and returns the records whose event it appended.
func (d *Deriver) recordNew(ctx context.Context, recs []*writeback.DurableRecord) ([]*writeback.DurableRecord, error) {
	var mine []*writeback.DurableRecord
	for _, r := range recs {
		_, appended, err := d.events.AppendOnce(ctx, RecordedKey(r.WritebackID), event.WritebackRecorded, recordedData(r, ""))
		if err != nil {
			return mine, err
		}
		if appended {
			mine = append(mine, r)
		}
	}
	return mine, nil
}
