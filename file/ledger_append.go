package file

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// ledgerOp is one request of a group commit: exactly one of req (a
// write-back) or reg (a registry append), and its answer.
type ledgerOp struct {
	req *writeback.WritebackRequest
	reg *writeback.RegistryRecord

	out writeback.WritebackOutcome
	err error
}

// submit commits calls as one unit (they land in the same group) and
// returns when their group is durable or failed; the answers are in the
// calls.
func (l *Ledger) submit(ctx context.Context, calls ...*ledgerOp) error {
	return l.gc.Submit(ctx, calls...)
}

// ledgerGroup is a group staged and written by the ledger's committer.
type ledgerGroup struct {
	s   *stage
	pre int64 // file offset of s.data
	// reread: the file did not end where the group was written (an
	// unlocked writer appended too), so it is indexed by reading the file.
	reread bool
}

func (l *Ledger) newCommitter() *durable.GroupCommitter[*ledgerOp, *ledgerGroup] {
	return durable.NewGroupCommitter(durable.GroupHooks[*ledgerOp, *ledgerGroup]{
		Begin:   l.beginRun,
		Stage:   l.stageGroup,
		Sync:    l.syncGroups,
		Publish: l.publishGroup,
		Fail:    failCalls,
		End:     l.endRun,
	}, 0, 0, ledgerDepth)
}

// ledgerDepth is how many groups the ledger's committer keeps in flight
// (staged and written, not yet published). Four rather than the default
// two: while one fsync runs the stager writes up to three groups, which
// the next fsync covers together (write-backs batched by 64 at 64
// clients: +6-10% in alternated runs, one per request unchanged; see
// BENCHMARKS.md).
const ledgerDepth = 4

// beginRun takes commitMu and the ledger's exclusive flock for a run of
// groups, catching up with other writers and repairing a torn tail.
func (l *Ledger) beginRun(ctx context.Context) error {
	l.commitMu.Lock()
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.usable()
	if err == nil {
		err = l.writable()
	}
	var unlock func()
	if err == nil {
		unlock, err = l.lockForAppend(ctx)
	}
	if err != nil {
		l.commitMu.Unlock()
		return err
	}
	l.unlockRun = unlock
	l.appending = true
	l.woff = l.off
	l.pending = nil
	return nil
}

// endRun releases the flock and commitMu: other processes (and Close and
// Check) get them between runs.
func (l *Ledger) endRun() {
	l.mu.Lock()
	// The index files are written once per run, not per group: they
	// are a cache of the ledger, and a crash only makes the next
	// process read more of the ledger.
	if l.runIndexed && l.poison.Err() == nil && l.fid != (fileID{}) {
		l.saveIndex()
	}
	l.runIndexed = false
	l.appending = false
	l.pending = nil
	unlock := l.unlockRun
	l.unlockRun = nil
	l.mu.Unlock()
	if unlock != nil {
		unlock()
	}
	l.commitMu.Unlock()
}

func failCalls(calls []*ledgerOp, err error) {
	for _, c := range calls {
		if c.err == nil {
			c.err = err
			c.out = writeback.WritebackOutcome{}
		}
	}
}

// stageGroup evaluates a group against the index plus the groups written
// earlier in the run and not yet published, and writes it (no fsync).
func (l *Ledger) stageGroup(group []*ledgerOp) (*ledgerGroup, error) {
	l.st.group(len(group))
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	if l.fid == (fileID{}) {
		return nil, settle.Errorf(settle.Unavailable, "ledger index lost during a group commit; retry")
	}
	next := int64(l.ix.len())
	for _, p := range l.pending {
		next += int64(len(p.recs))
	}
	var rescan func() error
	if len(l.pending) == 0 {
		// Nothing unindexed in the file: a rebuild may re-read it (the
		// run holds the exclusive flock).
		rescan = l.catchUp
	}
	// A write-back stages two records (its durable record and the mirror
	// registry record) of about 700 bytes each.
	var s *stage
	err := l.withView(func(v *ixView) {
		s = newStage(v, next, len(group))
		s.pending = l.pending
		for _, c := range group {
			c.err, c.out = nil, writeback.WritebackOutcome{}
			nrec, ndata := s.mark()
			var err error
			if c.req != nil {
				c.out, err = l.apply(*c.req, s)
			} else {
				err = l.stageRegistry(*c.reg, s)
			}
			if err != nil {
				s.rollback(nrec, ndata)
				c.err = err
			}
			if v.err != nil {
				return
			}
		}
	}, rescan)
	if err != nil {
		return nil, err
	}
	s.base = nil // the view reads through mu; a published group needs no view
	g := &ledgerGroup{s: s, pre: l.woff}
	if len(s.data) == 0 {
		return g, nil
	}
	if err := durable.AppendWrite(l.f, s.data); err != nil {
		l.st.fsyncErrors.Add(1)
		l.poisonAfter(err, g.pre)
		return nil, settle.Wrap(settle.Unavailable, err, "append to ledger")
	}
	l.woff += int64(len(s.data))
	if fi, err := l.f.Stat(); err != nil || fi.Size() != l.woff {
		g.reread = true
	}
	l.pending = append(l.pending, s)
	return g, nil
}

// syncGroups fsyncs the ledger once for groups written in order. A
// failure truncates the file to before the first of them and poisons
// the store: every group written after it is lost too.
func (l *Ledger) syncGroups(gs []*ledgerGroup) error {
	empty := true
	for _, g := range gs {
		empty = empty && len(g.s.data) == 0
	}
	if empty {
		return nil
	}
	// l.f cannot change during a run: readers do not refresh while
	// appending, and Close and Check wait for commitMu.
	start := time.Now()
	err := durable.AppendSync(l.f)
	l.st.lastFsync.Store(int64(time.Since(start)))
	l.st.fsyncs.Add(1)
	if err == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st.fsyncErrors.Add(1)
	l.poisonAfter(err, gs[0].pre)
	l.pending = nil
	return settle.Wrap(settle.Unavailable, err, "append to ledger")
}

// publishGroup indexes a durable group.
func (l *Ledger) publishGroup(g *ledgerGroup) {
	s := g.s
	if len(s.data) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 && l.pending[0] == s {
		l.pending[0] = nil
		l.pending = l.pending[1:]
	}
	end := g.pre + int64(len(s.data))
	switch {
	case !g.reread && l.off == g.pre:
		for i := range s.recs {
			r := &s.recs[i]
			l.noteOwn(int64(l.ix.len()), r.rec.Durable)
			l.ix.add(g.pre+r.off, r.n, &r.rec, s.data[r.off:r.off+int64(r.n)])
			l.st.countKind(r.rec.Kind)
		}
		l.lines += int64(len(s.recs))
		l.off = end
		if err := l.noteBoundary(); err != nil {
			l.lostIndex("ledger unreadable after append; re-reading on next use", err)
			return
		}
	case l.off < end:
		// Another writer's bytes are in between: read the file, which
		// indexes every group written so far.
		l.pending = nil
		if err := l.catchUp(); err != nil {
			// The records are durable and acknowledged; only the index
			// is behind. The next operation re-reads the file.
			l.lostIndex("index catch-up after append failed; re-reading on next use", err)
			return
		}
	default:
		return // indexed by an earlier catch-up
	}
	l.runIndexed = true
	l.publish()
}

// lostIndex forgets the index after an append it could not follow; the
// next run re-opens and re-reads the file. mu held.
func (l *Ledger) lostIndex(msg string, err error) {
	l.log.Error(msg, "err", err)
	l.pending = nil
	l.resetIndex()
	l.fid = fileID{}
	l.publish()
}

// staged is a record evaluated in the current group, not yet written.
type staged struct {
	rec writeback.LedgerRecord
	off int64 // offset in the group's data
	n   uint32
}

// stage is the View a group evaluates against: the index plus the records
// staged earlier in the same group. The index itself is only changed after
// the group's fsync succeeded. The staged records are found through maps:
// a group of batches holds thousands, and each evaluation looks them up.
type stage struct {
	base      *ixView
	pending   []*stage // written earlier in the run, not yet indexed
	next      int64    // Seq of the first staged record
	recs      []staged
	data      []byte
	conflicts map[string]bool

	byWID      map[string][]int // staged durable records by writeback id
	byIdentity map[writeback.IdentityKey][]int
	byTask     map[string][]int // staged registry records by task
}

var _ writeback.View = (*stage)(nil)

func newStage(base *ixView, next int64, calls int) *stage {
	return &stage{base: base, next: next, conflicts: map[string]bool{},
		recs: make([]staged, 0, 2*calls), data: make([]byte, 0, 1536*calls),
		byWID: map[string][]int{}, byIdentity: map[writeback.IdentityKey][]int{}, byTask: map[string][]int{}}
}

func (s *stage) seq(i int) int64 { return s.next + int64(i) }

func identityOf(d *writeback.DurableRecord) writeback.IdentityKey {
	return writeback.IdentityKey{TaskID: d.TaskID, TrackID: d.TrackID, DispatchID: d.DispatchID, CollectorKey: d.CollectorKey, BatchID: d.BatchID}
}

// stages lists the run's pending groups and then s, in ledger order.
func (s *stage) stages() []*stage { return append(slices.Clip(s.pending), s) }

func (s *stage) durable(out []writeback.Indexed, at func(*stage) []int) []writeback.Indexed {
	for _, g := range s.stages() {
		for _, i := range at(g) {
			out = append(slices.Clip(out), writeback.Indexed{Seq: g.seq(i), Rec: g.recs[i].rec.Durable})
		}
	}
	return out
}

func (s *stage) DurableByWritebackID(id string) []writeback.Indexed {
	return s.durable(s.base.DurableByWritebackID(id), func(g *stage) []int { return g.byWID[id] })
}

func (s *stage) DurableByIdentity(k writeback.IdentityKey) []writeback.Indexed {
	return s.durable(s.base.DurableByIdentity(k), func(g *stage) []int { return g.byIdentity[k] })
}

func (s *stage) RegistryHistory(task string) []writeback.RegistryRecord {
	out := s.base.RegistryHistory(task)
	for _, g := range s.stages() {
		for _, i := range g.byTask[task] {
			out = append(slices.Clip(out), *g.recs[i].rec.Registry)
		}
	}
	return out
}

func (s *stage) conflictSeen(id string) bool {
	if s.conflicts[id] || s.base.HasConflict(id) {
		return true
	}
	for _, p := range s.pending {
		if p.conflicts[id] {
			return true
		}
	}
	return false
}

// staged stages one record whose line ("\n"-terminated) was appended to
// s.data at off.
func (s *stage) staged(rec writeback.LedgerRecord, off int) {
	i := len(s.recs)
	rec.Seq = s.seq(i)
	s.recs = append(s.recs, staged{rec: rec, off: int64(off), n: uint32(len(s.data) - off - 1)})
	switch {
	case rec.Conflict != nil:
		s.conflicts[rec.Conflict.ConflictID] = true
	case rec.Durable != nil:
		s.byWID[rec.Durable.WritebackID] = append(s.byWID[rec.Durable.WritebackID], i)
		k := identityOf(rec.Durable)
		s.byIdentity[k] = append(s.byIdentity[k], i)
	case rec.Registry != nil:
		s.byTask[rec.Registry.TaskID] = append(s.byTask[rec.Registry.TaskID], i)
	}
}

// mark and rollback undo the records staged by a request that failed.
func (s *stage) mark() (int, int) { return len(s.recs), len(s.data) }

func (s *stage) rollback(nrec, ndata int) {
	// The maps' lists are in staging order: the undone records are at
	// their ends.
	drop := func(m map[string][]int, k string) {
		if l := m[k]; len(l) > 0 {
			m[k] = l[:len(l)-1]
		}
	}
	for i := len(s.recs) - 1; i >= nrec; i-- {
		r := s.recs[i].rec
		switch {
		case r.Conflict != nil:
			delete(s.conflicts, r.Conflict.ConflictID)
		case r.Durable != nil:
			drop(s.byWID, r.Durable.WritebackID)
			k := identityOf(r.Durable)
			if l := s.byIdentity[k]; len(l) > 0 {
				s.byIdentity[k] = l[:len(l)-1]
			}
		case r.Registry != nil:
			drop(s.byTask, r.Registry.TaskID)
		}
	}
	s.recs = s.recs[:nrec]
	s.data = s.data[:ndata]
}

// poisonAfter records a failed append: the bytes written after pre, if
// any, are cut away (best effort: the group was not acknowledged) and the
// store refuses further operations until reopened. mu and the flock held.
func (l *Ledger) poisonAfter(err error, pre int64) {
	rollback := l.poison.AfterAppend(l.f, err, pre)
	l.log.Error("ledger append failed; store refuses operations until reopened",
		"err", err, "offset", pre, "rollback_err", rollback)
}

// lockForAppend makes sure the ledger file exists, takes its exclusive
// flock (re-opening if the file was replaced while waiting), catches up and
// repairs a torn last line. mu held. The returned function releases the
// flock.
func (l *Ledger) lockForAppend(ctx context.Context) (func(), error) {
	for attempt := 0; ; attempt++ {
		if attempt == 100 {
			return nil, settle.Errorf(settle.Internal, "ledger keeps being replaced while locking it")
		}
		if l.f == nil {
			if err := l.create(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err := l.flock(ctx, unix.LOCK_EX); err != nil {
			return nil, settle.Wrap(settle.ErrorCode(err), err, "lock ledger")
		}
		fi, err := os.Lstat(l.path)
		if err == nil && idOf(fi) == l.fid {
			break
		}
		funlock(l.f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, settle.Wrap(settle.Internal, err, "stat ledger")
		}
		if err := l.refresh(ctx, false); err != nil {
			return nil, err
		}
	}
	unlock := func() { funlock(l.f) }
	if fi, err := l.f.Stat(); err == nil {
		l.syncIndexFiles(fi.Size())
	}
	if err := l.catchUp(); err != nil {
		unlock()
		return nil, err
	}
	fi, err := l.f.Stat()
	if err != nil {
		unlock()
		return nil, settle.Wrap(settle.Internal, err, "stat ledger")
	}
	if fi.Size() > l.off {
		if err := l.repairTorn(fi.Size()); err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

// create creates the ledger file (and its directories), fsyncing the
// directory. If another writer created it first, it is opened. mu held.
func (l *Ledger) create(ctx context.Context) error {
	dir := filepath.Dir(l.path)
	if err := durable.MkdirUnder(l.root, dir, 0o755); err != nil {
		return pathErr(settle.Internal, err, "create ledger directory")
	}
	f, err := durable.Open(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return l.refresh(ctx, false)
	}
	if err != nil {
		return settle.Wrap(settle.Internal, err, "create ledger")
	}
	if err := durable.SyncDir(dir); err != nil {
		f.Close()
		return settle.Wrap(settle.Internal, err, "create ledger")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return settle.Wrap(settle.Internal, err, "stat ledger")
	}
	l.f = f
	l.fid = idOf(fi)
	l.resetIndex()
	return nil
}

// repairTorn saves the bytes after the last complete line to a sidecar
// <ledger>.torn-<offset>, truncates the ledger to the last '\n' and fsyncs
// it. mu and the exclusive flock held; off is at the last '\n'.
func (l *Ledger) repairTorn(size int64) error {
	tail, err := durable.RepairTorn(l.f, l.path, l.off, size, &l.poison)
	if err != nil {
		return err
	}
	l.st.fsyncs.Add(1)
	l.st.tornRepairs.Add(1)
	l.st.tornBytes.Add(tail.Bytes)
	l.st.lastTorn.Store(&TornRepair{Offset: tail.Offset, Bytes: tail.Bytes, Sidecar: tail.Sidecar, At: l.now()})
	l.log.Warn("ledger torn last line repaired",
		"offset", tail.Offset, "bytes", tail.Bytes, "sidecar", tail.Sidecar)
	return l.completeItem(tail.Torn)
}

// completeItem finishes a write-back whose append was cut inside its
// registry mirror: a write of a group (a batch) killed part way leaves
// the items before the cut whole, but the item being written would keep
// its durable record without its mirror, and a retry is an idempotent
// skip that never writes the mirror. When the torn bytes are the start of
// the mirror the last complete line calls for, the mirror is appended
// whole, so every item of the group has all its records. mu and the
// exclusive flock held; off is at the last '\n'.
func (l *Ledger) completeItem(torn []byte) error {
	if l.off == 0 || len(torn) == 0 {
		return nil
	}
	// The last complete line: a durable record is a few KiB at most.
	n := min(l.off, 64<<10)
	buf := make([]byte, n)
	if _, err := l.f.ReadAt(buf, l.off-n); err != nil {
		return settle.Wrap(settle.Internal, err, "read last ledger line")
	}
	buf = buf[:len(buf)-1]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	} else if n < l.off {
		return nil
	}
	rec, ok := writeback.DecodeLine(buf)
	if !ok || rec.Durable == nil {
		return nil
	}
	mirror, problems := writeback.MirrorRecord(rec.Durable, l.cfg)
	if len(problems) > 0 {
		return nil
	}
	line, err := writeback.AppendLine(nil, &mirror)
	if err != nil || len(torn) >= len(line) || !bytes.HasPrefix(line, torn) {
		return nil
	}
	if err := durable.Append(l.f, line); err != nil {
		l.poisonAfter(err, l.off)
		return settle.Wrap(settle.Unavailable, err, "complete the registry mirror of a torn write-back")
	}
	l.st.fsyncs.Add(1)
	l.log.Warn("ledger torn registry mirror completed", "offset", l.off, "task_id", mirror.TaskID)
	return l.catchUp()
}
