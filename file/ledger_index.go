package file

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// ixView answers the domain's lookups from the persistent index: it reads
// the records a key's hash names from the ledger and keeps those that have
// the key. The first inconsistency (a record that is not where the index
// says) is kept in err; the store then rebuilds the index and asks again.
type ixView struct {
	l   *Ledger
	err error
	buf []byte
}

var _ writeback.View = (*ixView)(nil)

// found is one record read back through the index.
type found struct {
	seq int64
	rec writeback.LedgerRecord
}

// find returns the indexed records that have key k, in ledger order.
func (v *ixView) find(k ikey) []found {
	if v.err != nil {
		return nil
	}
	seqs, err := v.l.ix.lookup(k.hash())
	if err != nil {
		v.err = err
		return nil
	}
	var out []found
	for _, s := range seqs {
		rec, line, err := v.l.readRecord(int64(s), &v.buf)
		if err != nil {
			v.err = err
			return nil
		}
		if hasKey(&rec, line, k) {
			rec.Raw = nil
			out = append(out, found{seq: int64(s), rec: rec})
		}
	}
	return out
}

// readRecord reads record seq from the ledger and checks that it is a
// whole line of the kind the index says. The returned line aliases *buf.
// mu held.
func (l *Ledger) readRecord(seq int64, buf *[]byte) (writeback.LedgerRecord, []byte, error) {
	r, err := l.ix.row(seq)
	if err != nil {
		return writeback.LedgerRecord{}, nil, err
	}
	if l.f == nil || r.off < 0 || r.off+int64(r.n)+1 > l.off {
		return writeback.LedgerRecord{}, nil, fmt.Errorf("%w: record %d at %d+%d beyond the indexed end %d", errIndexCorrupt, seq, r.off, r.n, l.off)
	}
	// The line with its '\n' and the '\n' before it.
	from := max(r.off-1, 0)
	need := int(r.off-from) + int(r.n) + 1
	if cap(*buf) < need {
		*buf = make([]byte, need)
	}
	b := (*buf)[:need]
	if _, err := l.f.ReadAt(b, from); err != nil {
		return writeback.LedgerRecord{}, nil, fmt.Errorf("%w: read record %d: %v", errIndexCorrupt, seq, err)
	}
	if (r.off > 0 && b[0] != '\n') || b[need-1] != '\n' {
		return writeback.LedgerRecord{}, nil, fmt.Errorf("%w: record %d at %d is not a whole line", errIndexCorrupt, seq, r.off)
	}
	line := b[r.off-from : need-1]
	rec, ok := writeback.DecodeLine(line)
	if !ok || kindCode(rec.Kind) != r.kind {
		return writeback.LedgerRecord{}, nil, fmt.Errorf("%w: record %d at %d is not the indexed record", errIndexCorrupt, seq, r.off)
	}
	return rec, line, nil
}

func (v *ixView) durable(k ikey) []writeback.Indexed {
	var out []writeback.Indexed
	for _, f := range v.find(k) {
		if f.rec.Durable != nil {
			out = append(out, writeback.Indexed{Seq: f.seq, Rec: f.rec.Durable})
		}
	}
	return out
}

// DurableByWritebackID implements writeback.View.
func (v *ixView) DurableByWritebackID(id string) []writeback.Indexed {
	return v.durable(newKey(keyWID, id))
}

// DurableByIdentity implements writeback.View.
func (v *ixView) DurableByIdentity(k writeback.IdentityKey) []writeback.Indexed {
	return v.durable(identityKey(k))
}

// RegistryHistory implements writeback.View.
func (v *ixView) RegistryHistory(task string) []writeback.RegistryRecord {
	out := []writeback.RegistryRecord{}
	for _, f := range v.find(newKey(keyRegistry, task)) {
		if f.rec.Registry != nil {
			out = append(out, *f.rec.Registry)
		}
	}
	return out
}

// HasConflict reports whether a conflict record with this id is indexed.
func (v *ixView) HasConflict(id string) bool {
	for _, f := range v.find(newKey(keyConflict, id)) {
		if f.rec.Conflict != nil {
			return true
		}
	}
	return false
}

// Latest returns the last durable success of (batch, track), or nil.
func (v *ixView) Latest(batch, track string) *writeback.DurableRecord {
	return v.LatestWithout(batch, track, nil)
}

// LatestWithout is Latest but for the records whose writeback id is in
// without.
func (v *ixView) LatestWithout(batch, track string, without map[string]bool) *writeback.DurableRecord {
	fs := v.find(newKey(keyLatest, batch, track))
	for i := len(fs) - 1; i >= 0; i-- {
		if d := fs[i].rec.Durable; d != nil && !without[d.WritebackID] {
			return fs[i].rec.Durable
		}
	}
	return nil
}

// withView runs fn against the index. If the index turns out to disagree
// with the ledger it is dropped, the ledger re-read (rescan) and fn run
// again; with rescan nil, or while a run of group commits holds the flock
// (unless the run itself rescans), the disagreement is an error. mu held.
func (l *Ledger) withView(fn func(v *ixView), rescan func() error) error {
	v := &ixView{l: l}
	fn(v)
	if v.err == nil {
		return nil
	}
	if !errors.Is(v.err, errIndexCorrupt) || rescan == nil {
		return settle.Wrap(settle.Internal, v.err, "ledger index")
	}
	l.log.Warn("ledger index disagrees with the ledger; rebuilding it", "err", v.err)
	l.st.rebuilds.Add(1)
	l.dropIndex()
	if err := rescan(); err != nil {
		return err
	}
	v = &ixView{l: l}
	fn(v)
	if v.err != nil {
		return settle.Wrap(settle.Internal, v.err, "ledger index after rebuild")
	}
	return nil
}

// dropIndex forgets the index and does not load the files on disk again:
// the next save replaces them. mu held.
func (l *Ledger) dropIndex() {
	l.resetIndex()
	l.ixDistrust = true
}

// loadIndex reads the persistent index, if it is usable, instead of the
// ledger bytes it covers. The index is empty and off 0; size is the
// ledger's size. mu and a flock held.
func (l *Ledger) loadIndex(size int64) {
	if l.ixDistrust {
		l.ix.lid = l.fid
		return
	}
	cp, ok, err := l.ix.load(l.f, l.fid, size)
	if err != nil {
		l.log.Warn("ledger index unreadable; reading the ledger", "err", err)
	}
	l.ix.lid = l.fid
	if ok {
		l.adopt(cp)
	}
}

// adopt takes the positions of a loaded index. mu held.
func (l *Ledger) adopt(cp ledgerCheckpoint) {
	l.off, l.lines = cp.Off, cp.Lines
	l.st.skipped.Store(cp.Skipped)
	for i := range l.st.records {
		l.st.records[i].Store(cp.Kinds[i])
	}
	l.st.indexLoaded.Store(cp.Recs)
}

// checkpoint is what the index covers now. mu held.
func (l *Ledger) checkpoint() ledgerCheckpoint {
	cp := ledgerCheckpoint{Off: l.off, Lines: l.lines, Skipped: l.st.skipped.Load(), Recs: int64(l.ix.len())}
	for i := range l.st.records {
		cp.Kinds[i] = l.st.records[i].Load()
	}
	return cp
}

// syncIndexFiles re-reads the index files if another writer changed them
// since this store read or wrote them, so that this store's next save
// appends to them instead of rewriting them. mu and the exclusive flock
// held; the caller catches up afterwards.
func (l *Ledger) syncIndexFiles(size int64) {
	if l.ixDistrust || !l.ix.stale() {
		return
	}
	nx := newIndex(l.path)
	cp, ok, err := nx.load(l.f, l.fid, size)
	if err != nil || !ok {
		nx.reset()
		return
	}
	l.ix.reset()
	l.ix = nx
	l.adopt(cp)
}

// saveIndex writes the index's new records to disk. A failure is logged:
// the ledger is the truth and the next process reads what is missing from
// it. mu and the exclusive flock held.
func (l *Ledger) saveIndex() {
	if l.f == nil {
		return
	}
	// The index is reset whenever fid changes: what it holds is of this file.
	l.ix.lid = l.fid
	merges := l.ix.merges
	err := l.ix.save(l.f, l.checkpoint())
	if l.ix.merges > merges {
		l.st.indexMerges.Add(1)
		l.st.lastIndexMerge.Store(int64(l.ix.mergeTook))
	}
	if err != nil {
		l.ixFailedAt = l.ix.len()
		l.st.indexSaveErrors.Add(1)
		l.log.Warn("ledger index not saved; it is rebuilt from the ledger later", "err", err)
		return
	}
	l.ixDistrust = false
	l.st.indexSaves.Add(1)
}

// maybeSaveIndex saves the index after a read that indexed many records
// (a rebuild, or a large foreign append) if the exclusive flock is free
// right now; otherwise a later writer does. mu held, no flock.
func (l *Ledger) maybeSaveIndex() {
	if l.f == nil || !l.ix.needsSave() || (l.ixFailedAt > 0 && l.ix.len() < l.ixFailedAt+mergeRows) {
		return // a reader retries a failed save only after many more records
	}
	if ok, err := durable.TryFlock(l.f, unix.LOCK_EX); !ok || err != nil {
		return
	}
	defer funlock(l.f)
	if fi, err := os.Stat(l.path); err != nil || idOf(fi) != l.fid {
		return
	}
	if !l.ixDistrust && l.ix.stale() {
		return // another writer saved one; ours would only replace it
	}
	l.saveIndex()
}
