package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// call is one request waiting for a group commit.
type call struct {
	// input: exactly one of req (a write-back) or reg (a registry append)
	req *writeback.WritebackRequest
	reg *writeback.RegistryRecord
	ctx context.Context // the caller's: the group's lock wait ends when every call's is done
	// unit holds the calls committed with this one as one unit (a
	// WritebackMany): queued, taken and committed together, in order.
	unit []*call

	out writeback.WritebackOutcome
	err error

	// wake is signalled once when the call is finished, and once before
	// that if the call is promoted to leader of the next group.
	wake     chan struct{}
	taken    bool // guarded by qmu: in a group being committed
	finished bool // guarded by qmu
}

// submit queues c for the next group commit and returns when it is
// finished (its answer is in c). The first caller to find no leader leads:
// it commits the whole queue as one group, then hands leadership to the
// oldest waiting call, if any.
func (l *Ledger) submit(ctx context.Context, c *call) error {
	c.wake = make(chan struct{}, 1)
	c.ctx = ctx
	l.qmu.Lock()
	l.queue = append(l.queue, c)
	lead := !l.leading
	if lead {
		l.leading = true
	}
	l.qmu.Unlock()
	if lead {
		l.lead()
	}
	for {
		l.qmu.Lock()
		fin := c.finished
		l.qmu.Unlock()
		if fin {
			return nil
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			l.qmu.Lock()
			if c.taken || c.finished {
				// Being committed: the answer comes after the fsync.
				l.qmu.Unlock()
				continue
			}
			l.queue = slices.DeleteFunc(l.queue, func(o *call) bool { return o == c })
			select {
			case <-c.wake: // promoted while giving up: pass it on
				l.handOff()
			default:
			}
			l.qmu.Unlock()
			return settle.Wrap(settle.EUNAVAILABLE, ctx.Err(), "ledger append not started")
		}
		l.qmu.Lock()
		fin = c.finished
		l.qmu.Unlock()
		if !fin {
			l.lead() // promoted
		}
	}
}

// submitUnit queues calls as one unit: they land in the same group, in
// order, and are answered together; the first call stands for the unit in
// the queue. Returns when every call is finished.
func (l *Ledger) submitUnit(ctx context.Context, calls []*call) error {
	head := calls[0]
	head.unit = calls[1:]
	for _, c := range head.unit {
		c.ctx = ctx
	}
	return l.submit(ctx, head)
}

// flatten expands the units of a group into its calls, in order.
func flatten(group []*call) []*call {
	n := 0
	for _, c := range group {
		n += 1 + len(c.unit)
	}
	if n == len(group) {
		return group
	}
	out := make([]*call, 0, n)
	for _, c := range group {
		out = append(out, c)
		out = append(out, c.unit...)
	}
	return out
}

// groupContext is done when every call of the group has given up (a lone
// cancelled caller must not fail the others' write-backs).
func groupContext(group []*call) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(group)))
	stops := make([]func() bool, 0, len(group))
	for _, c := range group {
		stops = append(stops, context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// handOff promotes the oldest queued call to leader, or clears leading.
// qmu held.
func (l *Ledger) handOff() {
	if len(l.queue) > 0 {
		l.queue[0].wake <- struct{}{}
		return
	}
	l.leading = false
}

// lead commits everything queued as one group.
func (l *Ledger) lead() {
	l.qmu.Lock()
	group := l.queue
	l.queue = nil
	for _, c := range group {
		c.taken = true
	}
	l.qmu.Unlock()
	if len(group) > 0 {
		l.commit(flatten(group))
	}
	l.qmu.Lock()
	for _, c := range group {
		c.finished = true
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	l.handOff()
	l.qmu.Unlock()
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
	next      int64 // Seq of the first staged record
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

func (s *stage) durable(out []writeback.Indexed, at []int) []writeback.Indexed {
	for _, i := range at {
		out = append(slices.Clip(out), writeback.Indexed{Seq: s.seq(i), Rec: s.recs[i].rec.Durable})
	}
	return out
}

func (s *stage) DurableByWritebackID(id string) []writeback.Indexed {
	return s.durable(s.base.DurableByWritebackID(id), s.byWID[id])
}

func (s *stage) DurableByIdentity(k writeback.IdentityKey) []writeback.Indexed {
	return s.durable(s.base.DurableByIdentity(k), s.byIdentity[k])
}

func (s *stage) RegistryHistory(task string) []writeback.RegistryRecord {
	out := s.base.RegistryHistory(task)
	for _, i := range s.byTask[task] {
		out = append(slices.Clip(out), *s.recs[i].rec.Registry)
	}
	return out
}

func (s *stage) conflictSeen(id string) bool {
	return s.conflicts[id] || s.base.HasConflict(id)
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

// commit evaluates and writes one group: one flock, one catch-up, one
// write, one fsync. Every call gets its answer in c.out / c.err.
func (l *Ledger) commit(group []*call) {
	l.st.group(len(group))
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	l.mu.Lock()
	fail := func(err error) {
		for _, c := range group {
			if c.err == nil {
				c.err = err
			}
		}
	}
	err := l.usable()
	if err == nil {
		err = l.writable()
	}
	if err != nil {
		l.mu.Unlock()
		fail(err)
		return
	}
	ctx, cancel := groupContext(group)
	defer cancel()
	unlock, err := l.lockForAppend(ctx)
	if err != nil {
		l.mu.Unlock()
		fail(err)
		return
	}
	defer unlock() // after mu is released below: the flock outlives the commit

	// A write-back stages two records (its durable record and the mirror
	// registry record) of about 700 bytes each.
	var s *stage
	err = l.withView(func(v *ixView) {
		s = newStage(v, int64(l.ix.len()), len(group))
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
	}, l.catchUp)
	if err != nil {
		l.mu.Unlock()
		fail(err)
		return
	}
	if len(s.data) == 0 {
		l.mu.Unlock()
		return
	}

	// Write and fsync without mu: readers answer from the index meanwhile.
	// l.f cannot change: readers do not refresh while appending, and
	// Close and Check wait for commitMu.
	pre := l.off
	f := l.f
	l.appending = true
	l.mu.Unlock()
	start := time.Now()
	err = durable.Append(f, s.data)
	l.st.lastFsync.Store(int64(time.Since(start)))
	l.st.fsyncs.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appending = false
	if err != nil {
		l.st.fsyncErrors.Add(1)
		l.poisonAfter(err, pre)
		werr := settle.Wrap(settle.EUNAVAILABLE, err, "append to ledger")
		for _, c := range group {
			if c.err == nil {
				c.err = werr
				c.out = writeback.WritebackOutcome{}
			}
		}
		return
	}

	// Success: index the group's records. If no one else wrote (an
	// unlocked seed writer could), they are exactly at pre.
	fi, err := l.f.Stat()
	if err == nil && fi.Size() == pre+int64(len(s.data)) {
		for i := range s.recs {
			r := &s.recs[i]
			l.ix.add(pre+r.off, r.n, &r.rec, s.data[r.off:r.off+int64(r.n)])
			l.st.countKind(r.rec.Kind)
		}
		l.lines += int64(len(s.recs))
		l.off = pre + int64(len(s.data))
		if err := l.noteBoundary(); err != nil {
			l.log.Error("ledger unreadable after append; re-reading on next use", "err", err)
			l.resetIndex()
			l.fid = fileID{}
			l.publish()
			return
		}
	} else if err := l.catchUp(); err != nil {
		// The records are durable and acknowledged; only the index is
		// behind. The next operation re-reads the file from scratch.
		l.log.Error("index catch-up after append failed; re-reading on next use", "err", err)
		l.resetIndex()
		l.fid = fileID{}
		l.publish()
		return
	}
	l.saveIndex()
	l.publish()
}

// poisonAfter records a failed append: the bytes written after pre, if
// any, are truncated away (best effort: the group was not acknowledged) and
// the store refuses further operations until reopened. mu and the flock held.
func (l *Ledger) poisonAfter(err error, pre int64) {
	l.poison = err
	l.st.poisoned.Store(true)
	var rollback error
	if fi, serr := l.f.Stat(); serr != nil {
		rollback = serr
	} else if fi.Size() > pre {
		if terr := l.f.Truncate(pre); terr != nil {
			rollback = terr
		} else {
			rollback = l.f.Sync()
		}
	}
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
			return nil, settle.Errorf(settle.EINTERNAL, "ledger keeps being replaced while locking it")
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
			return nil, settle.Wrap(settle.EINTERNAL, err, "stat ledger")
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
		return nil, settle.Wrap(settle.EINTERNAL, err, "stat ledger")
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
		return pathErr(settle.EINTERNAL, err, "create ledger directory")
	}
	f, err := durable.Open(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return l.refresh(ctx, false)
	}
	if err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "create ledger")
	}
	if err := durable.SyncDir(dir); err != nil {
		f.Close()
		return settle.Wrap(settle.EINTERNAL, err, "create ledger")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return settle.Wrap(settle.EINTERNAL, err, "stat ledger")
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
	torn := make([]byte, size-l.off)
	if _, err := l.f.ReadAt(torn, l.off); err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "read torn ledger tail")
	}
	sidecar, err := l.saveTorn(torn)
	if err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "save torn ledger tail")
	}
	if err := l.f.Truncate(l.off); err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "truncate torn ledger tail")
	}
	if err := l.f.Sync(); err != nil {
		l.poison = err
		l.st.poisoned.Store(true)
		return settle.Wrap(settle.EUNAVAILABLE, err, "fsync ledger after torn tail repair")
	}
	l.st.fsyncs.Add(1)
	l.st.tornRepairs.Add(1)
	l.st.tornBytes.Add(int64(len(torn)))
	l.st.lastTorn.Store(&TornRepair{Offset: l.off, Bytes: int64(len(torn)), Sidecar: sidecar, At: l.now()})
	l.log.Warn("ledger torn last line repaired",
		"offset", l.off, "bytes", len(torn), "sidecar", sidecar)
	return l.completeItem(torn)
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
		return settle.Wrap(settle.EINTERNAL, err, "read last ledger line")
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
		l.poison = err
		l.st.poisoned.Store(true)
		return settle.Wrap(settle.EUNAVAILABLE, err, "complete the registry mirror of a torn write-back")
	}
	l.st.fsyncs.Add(1)
	l.log.Warn("ledger torn registry mirror completed", "offset", l.off, "task_id", mirror.TaskID)
	return l.catchUp()
}

// saveTorn writes the torn bytes to a sidecar that did not exist before.
func (l *Ledger) saveTorn(torn []byte) (string, error) {
	base := fmt.Sprintf("%s.torn-%d", l.path, l.off)
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s.%d", base, i)
		}
		created, err := durable.CreateFile(name, torn, 0o644)
		if err != nil {
			return "", err
		}
		if created {
			return name, nil
		}
	}
	return "", fmt.Errorf("too many sidecars named %s", base)
}
