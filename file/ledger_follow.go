package file

import (
	"cmp"
	"context"
	"slices"

	"github.com/settlehq/settle/writeback"
)

// ownRec is a durable success this store appended: its Seq and
// writeback id, known without reading the record back.
type ownRec struct {
	seq int64
	wid string
}

// maxOwn bounds the durable successes remembered for a follower: a store
// nobody follows forgets the oldest half past it.
const maxOwn = 1 << 16

// noteOwn remembers a durable success this store appended at seq. mu
// held; seqs come in ledger order.
func (l *Ledger) noteOwn(seq int64, d *writeback.DurableRecord) {
	if d == nil || d.WritebackClassification != writeback.DurableSuccessWritten {
		return
	}
	if len(l.own) >= maxOwn {
		l.own = slices.Delete(l.own, 0, len(l.own)/2)
	}
	l.own = append(l.own, ownRec{seq: seq, wid: d.WritebackID})
}

// DurableSince is for a follower of the ledger (derive.Deriver.Follow):
// the durable records after Seq after, in ledger order, among the first
// limit durable records there (default 1000, at most MaxRecordsLimit),
// and the Seq of the last of those it looked at (after when there is
// none). A durable success this store appended itself is first offered
// to skip with its writeback id: when skip says so, it is passed over
// without being read back and decoded (the follower derived it already);
// any other record is read as Records reads it, without its Raw line.
// Records appended by other processes or tools are always read.
func (l *Ledger) DurableSince(ctx context.Context, after int64, limit int, skip func(writebackID string) bool) ([]writeback.LedgerRecord, int64, error) {
	switch {
	case limit <= 0:
		limit = DefaultRecordsLimit
	case limit > MaxRecordsLimit:
		limit = MaxRecordsLimit
	}
	after = max(after, -1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readable(ctx); err != nil {
		return nil, after, err
	}
	var (
		recs []writeback.LedgerRecord
		last int64
	)
	durable := kindCode(writeback.KindDurable)
	err := l.withView(func(v *ixView) {
		recs, last = nil, after
		// The remembered records the follower passed are forgotten.
		i, _ := slices.BinarySearchFunc(l.own, after+1, func(o ownRec, s int64) int { return cmp.Compare(o.seq, s) })
		l.own = slices.Delete(l.own, 0, i)
		i = 0
		seen := 0
		for seq, n := after+1, int64(l.ix.len()); seq < n && seen < limit; seq++ {
			r, err := l.ix.row(seq)
			if v.err = err; err != nil {
				return
			}
			if r.kind != durable {
				continue
			}
			seen++
			last = seq
			for i < len(l.own) && l.own[i].seq < seq {
				i++
			}
			if skip != nil && i < len(l.own) && l.own[i].seq == seq && skip(l.own[i].wid) {
				continue
			}
			rec, _, err := l.readRecord(seq, &v.buf)
			if v.err = err; err != nil {
				return
			}
			rec.Seq, rec.Raw = seq, nil
			recs = append(recs, rec)
		}
	}, l.readRescan())
	if err != nil {
		return nil, after, err
	}
	return recs, last, nil
}
