package derive

import (
	"context"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// Many derives the consequences of the items of one WritebackMany, item
// by item in order, as AfterWriteback derives them for the same
// write-backs sent one per request: the same events in the same order and
// the same settlement answers. The batch's items were all committed
// before the first is derived, so an item's batch is evaluated, and its
// summary written, on the ledger without the records of the items after
// it (writeback.SettlerWithout); each declared batch is read once per
// request.
type Many struct {
	d         *Deriver
	items     []writeback.WritebackItem
	principal string
	// writtenBy maps the writeback id of each record the request wrote
	// to its item.
	writtenBy map[string]int
	batches   map[string]*manyBatch
}

type manyBatch struct {
	b    writeback.Batch
	recs []*writeback.DurableRecord // nil b.BatchID: not declared
}

// Many returns the deriver of a WritebackMany's answers.
func (d *Deriver) Many(items []writeback.WritebackItem, principal string) *Many {
	m := &Many{d: d, items: items, principal: principal, writtenBy: map[string]int{}, batches: map[string]*manyBatch{}}
	for i, it := range items {
		dec := &it.Outcome.Decision
		if it.Err == nil && dec.Classification == writeback.DurableSuccessWritten && dec.DurableRecord != nil {
			m.writtenBy[dec.DurableRecord.WritebackID] = i
		}
	}
	return m
}

// After derives item i's consequences (nil, nil for an item that failed):
// call it for each item in order.
func (m *Many) After(ctx context.Context, i int) (*writeback.SettleOutcome, error) {
	ctx = context.WithoutCancel(ctx)
	it := &m.items[i]
	if it.Err != nil {
		return nil, nil
	}
	dec := &it.Outcome.Decision
	switch dec.Classification {
	case writeback.DurableSuccessWritten, writeback.WritebackIdempotentSkip:
		rec := dec.DurableRecord
		if rec == nil {
			return nil, settle.Errorf(settle.Internal, "%s decision without its durable record", dec.Classification)
		}
		if err := m.d.Recorded(ctx, rec, m.principal, dec.Classification == writeback.DurableSuccessWritten); err != nil {
			return nil, err
		}
		// As in AfterWriteback: the event is appended or queued and the
		// batch is settled below, so the follower has nothing to add.
		m.d.markHandled(rec.WritebackID)
		return m.settle(ctx, i, rec)
	default:
		return nil, m.d.Refused(ctx, refusedOf(dec, it.Outcome.ConflictRecorded, m.principal))
	}
}

// settle evaluates rec's declared batch as of item i: on its records but
// those the items after i wrote. Only an evaluation that consolidates
// goes to the store (which writes the summary once) and announces it.
func (m *Many) settle(ctx context.Context, i int, rec *writeback.DurableRecord) (*writeback.SettleOutcome, error) {
	mb, err := m.batch(ctx, rec.BatchID)
	if err != nil || mb == nil {
		return nil, err
	}
	latest := map[string]*writeback.DurableRecord{}
	var later map[string]bool
	for _, r := range mb.recs {
		if j, ok := m.writtenBy[r.WritebackID]; ok && j > i {
			if later == nil {
				later = map[string]bool{}
			}
			later[r.WritebackID] = true
			continue
		}
		latest[r.TrackID] = r
	}
	res := writeback.Settle(mb.b.BatchID, mb.b.Tracks, rec.TrackID, func(t string) *writeback.DurableRecord { return latest[t] })
	if res.Decision != writeback.AllSettledConsolidate {
		return &writeback.SettleOutcome{Result: res}, nil
	}
	// The store settles (and writes the summary of) the batch as of this
	// item too: without the later items' records, a summary written now
	// lists the records a single write-back would have listed.
	so, err := m.d.settleAnnounce(ctx, mb.b.BatchID, mb.b.Tracks, rec.TrackID, later)
	if err != nil {
		return nil, err
	}
	so.FirstConsolidation = so.Result.Decision == writeback.AllSettledConsolidate && completesIn(mb.recs, mb.b, rec.WritebackID)
	return &so, nil
}

// batch reads a declared batch and its records once (nil when the batch
// is not declared).
func (m *Many) batch(ctx context.Context, batchID string) (*manyBatch, error) {
	if batchID == "" {
		return nil, nil
	}
	if mb, ok := m.batches[batchID]; ok {
		if mb.b.BatchID == "" {
			return nil, nil
		}
		return mb, nil
	}
	b, declared, err := m.d.findBatch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	if !declared {
		m.batches[batchID] = &manyBatch{}
		return nil, nil
	}
	recs, err := m.d.batchRecords(ctx, batchID)
	if err != nil {
		return nil, err
	}
	mb := &manyBatch{b: b, recs: recs}
	m.batches[batchID] = mb
	return mb, nil
}
