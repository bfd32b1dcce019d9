package file

// # Event log
//
// Events implements event.Log on one JSONL file, by default
// <root>/memory/events/settle_events.jsonl, shared by every server (and
// process) on the root. Each line is one event:
//
//	{"id":7,"type":"batch.settled","time":"2025-01-02T03:04:05.123456789Z","key":"batch.settled:B1","data":{...}}
//
// An event's id is its 1-based line number: the n-th '\n'-terminated line
// is event n, whatever it contains (a line that does not decode is
// skipped by readers but keeps its id, so ids never shift). The "id"
// member is written for the reader's convenience and checked on read.
//
// Appends take an exclusive flock on the file itself, catch up on lines
// other processes appended, repair a torn last line (copied durably to
// <file>.torn-<offset>, then truncated and fsynced, as the ledger does),
// and write every event of one group commit in one write(2) and one fsync.
// Concurrent Append/AppendOnce/PostOnce calls of a process are gathered
// into groups by a durable.GroupCommitter (the ledger's too), which writes
// the next group while the last one is fsynced; no Append or
// AppendOnce returns before its fsync (PostOnce does not wait). A keyed
// event (AppendOnce, PostOnce) is appended only if no line with its key
// exists, checked under the exclusive flock, so of concurrent callers in
// any process exactly one appends. If a write or fsync fails, every call of the group fails with
// UNAVAILABLE and the log refuses appends until it is reopened.
//
// The active file holds the newest events only: older ones are sealed
// into segments and removed by a retention policy (events_segments.go,
// events_compact.go).
//
// Readers never see an event before it is durable: events appended by this
// process enter the index after their fsync, and lines appended by other
// processes are read under a shared flock, which waits for the writer's
// write and fsync. Wait is notified within the process at once and polls
// the file's size at a short interval for other processes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/jsonw"
)

// EventsRelPath is the event log's default path relative to the root.
const EventsRelPath = "memory/events/settle_events.jsonl"

// DefaultEventPoll is how often Wait polls the file for events appended
// by other processes.
const DefaultEventPoll = 100 * time.Millisecond

// maxEventLine bounds one event line (a longer line is refused on append
// and skipped on read).
const maxEventLine = 1 << 20

// EventsOptions configures OpenEvents.
type EventsOptions struct {
	// Root is the workspace root ("" = the current directory).
	Root string
	// Path is the event log file ("" = <Root>/memory/events/settle_events.jsonl).
	Path string
	// Logger receives repairs, skipped lines and write failures
	// (nil = slog.Default()).
	Logger *slog.Logger
	// PollInterval is how often Wait checks the file for events appended
	// by other processes (0 = DefaultEventPoll).
	PollInterval time.Duration
	// OnCommit, if set, is called after each group commit's write+fsync
	// with its latency and the number of events written (for metrics).
	OnCommit func(fsync time.Duration, events int)
	// LockTimeout bounds each wait for the log's flock while another
	// process holds it (0 = durable.DefaultLockTimeout, negative = no
	// limit); giving up is UNAVAILABLE.
	LockTimeout time.Duration
	// SegmentEvents is how many events the active file holds before they
	// are sealed into a segment (0 = DefaultSegmentEvents, negative =
	// never seal).
	SegmentEvents int
}

// EventStats are the event log's counters.
type EventStats struct {
	Events      int64         `json:"events"`
	Keys        int64         `json:"keys"`
	Skipped     int64         `json:"skipped"`
	Fsyncs      int64         `json:"fsyncs"`
	FsyncErrors int64         `json:"fsync_errors"`
	Groups      int64         `json:"groups"`
	Grouped     int64         `json:"grouped_requests"`
	MaxGroup    int64         `json:"max_group"`
	TornRepairs int64         `json:"torn_repairs"`
	LastFsync   time.Duration `json:"last_fsync_ns"`
	Poisoned    bool          `json:"poisoned"`
	// PostLost counts posted events whose group commit failed.
	PostLost int64 `json:"post_lost"`
}

// Events is the file event.Log. It is safe for concurrent use by many
// goroutines and by many processes sharing the file.
type Events struct {
	root   string // absolute workspace root: no symbolic link is followed below it
	path   string
	log    *slog.Logger
	poll   time.Duration
	locker durable.Locker
	// stopped is done once Close starts: a lock wait in progress gives up
	// instead of holding Close (and a server's shutdown) up.
	stopped  context.Context
	stop     context.CancelFunc
	onCommit func(time.Duration, int)
	now      func() time.Time
	segSize  int

	// wmu serializes everything that touches the file's flock or its
	// tail: runs of group commits (Begin to End) and catch-ups. It guards
	// f and the run's fields below.
	wmu sync.Mutex
	f   *os.File
	// poison is set after a failed write or fsync; smu guards it between
	// the committer's stager and syncer goroutines.
	smu    sync.Mutex
	poison durable.Poison
	// The current run: the locked file, the next id and offset to stage
	// and the keyed calls staged but not yet published.
	locked  *os.File
	wnext   int64
	woff    int64
	runKeys map[string]*eventOp
	// sealMeta holds, by line offset in the active file, what a seal
	// needs of the events this process appended to it (key hash, time),
	// so that sealing them does not parse their lines again. Touched by
	// runs (publish, seal) and under wmu; forgotten when the file is
	// reopened.
	sealMeta map[int64]evMeta
	// ino is the inode of f: a compaction replaces the file, which every
	// process notices by the path's inode and reopens.
	ino atomic.Uint64
	// retired are the files replaced by a compaction, closed at Close
	// (a reader may still be reading an old one).
	retired []*os.File

	// imu guards the index: rf, the file readers read (f, or the file f
	// was when it was indexed); base, the id of the last event a
	// compaction removed (0: none), so offs[i] is the offset of event
	// base+i+1's line; end the offset after the last indexed line; keys
	// the keyed events of the file; ckeys the sorted hashes of the keys of
	// removed events (an AppendOnce of one appends nothing).
	imu  sync.RWMutex
	rf   *os.File
	base int64
	offs []int64
	end  int64
	keys map[string]int64
	bad  map[int64]bool // ids of lines that did not decode
	// akeys are the sorted key entries (.idx format) of the active file's
	// lines up to its key index's end, when that index was taken
	// (events_activeidx.go): those keys are not in keys. aidxLines is how
	// many lines the newest key index this process read or wrote covers.
	akeys     []byte
	aidxLines int64
	ckeys     []keyHash
	// segs are the sealed segments, oldest first, contiguous.
	segs []*segment
	// segNames is the last listing of the segments directory.
	segNames statMemo[[]string]

	// notification of new events within the process
	nmu    sync.Mutex
	notify chan struct{}
	closed chan struct{}
	isShut atomic.Bool

	// the poller of other processes' appends, running while waiters > 0
	pmu     sync.Mutex
	waiters int
	polling bool

	gc *durable.GroupCommitter[*eventOp, *eventGroup]
	// qmu orders PostOnce against Close: a posted call queued before
	// Close is committed before the file is closed.
	qmu sync.Mutex

	st struct {
		skipped, fsyncs, fsyncErrors, torn, lastFsync, postLost atomic.Int64
	}
}

var (
	_ event.Log    = (*Events)(nil)
	_ event.Poster = (*Events)(nil)
)

// eventOp is one Append, AppendOnce, PostOnce or Flush in the group commit
// queue.
type eventOp struct {
	typ  string
	key  string
	data json.RawMessage

	ev       event.Event
	appended bool
	err      error
	// answered: the key was in the log already; a failed group leaves
	// the answer.
	answered bool

	// posted: no caller waits for the answer (PostOnce); barrier: nothing
	// to append (Flush).
	posted, barrier bool
	// h is the key's hash, once its lookup computed it.
	h keyHash
}

// evMeta is what a seal needs of an event line (see buildIdxMeta).
type evMeta struct {
	h     keyHash
	keyed bool
	ns    int64 // the event's time, Unix nanoseconds
}

// eventGroup is a group staged and written by the committer.
type eventGroup struct {
	pre   int64 // file offset of data
	data  []byte
	offs  []int64 // file offsets of the lines
	meta  []evMeta
	fresh []*eventOp
	dups  [][2]*eventOp // a call and the earlier call of its key
}

// OpenEvents opens (creating if needed) the event log and indexes it.
func OpenEvents(opts EventsOptions) (*Events, error) {
	root := opts.Root
	if root == "" {
		root = "."
	}
	path := opts.Path
	if path == "" {
		path = filepath.Join(root, filepath.FromSlash(EventsRelPath))
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "event log path")
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "event log root")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = DefaultEventPoll
	}
	e := &Events{
		root:     absRoot,
		path:     path,
		log:      log.With("events", path),
		poll:     poll,
		onCommit: opts.OnCommit,
		now:      time.Now,
		segSize:  opts.SegmentEvents,
		keys:     map[string]int64{},
		bad:      map[int64]bool{},
		notify:   make(chan struct{}),
		closed:   make(chan struct{}),
	}
	if e.segSize == 0 {
		e.segSize = DefaultSegmentEvents
	}
	e.gc = durable.NewGroupCommitter(durable.GroupHooks[*eventOp, *eventGroup]{
		Begin:   e.beginRun,
		Stage:   e.stageGroup,
		Sync:    e.syncGroups,
		Publish: e.publishGroup,
		Fail:    e.failCalls,
		End:     e.endRun,
	}, 0, 0, 0)
	e.stopped, e.stop = context.WithCancel(context.Background())
	e.locker = durable.Locker{Timeout: opts.LockTimeout, Stopped: e.stopped, OnWait: func(_ *os.File, timeout time.Duration) {
		e.log.Info("event log locked by another process; waiting", "timeout", timeout)
	}}
	if err := e.open(); err != nil {
		e.stop()
		return nil, err
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if err := e.catchUp(false); err != nil {
		e.stop()
		e.f.Close()
		return nil, err
	}
	return e, nil
}

// open opens or creates the file; a created file's directory is fsynced.
// For the first open only: a reopen after a compaction uses openFile.
func (e *Events) open() error {
	f, fi, ck, err := e.openFile()
	if err != nil {
		return err
	}
	e.f = f
	e.ino.Store(inodeOf(fi))
	e.imu.Lock()
	e.rf = f
	e.ckeys = ck
	e.imu.Unlock()
	// Listed after the active file is opened: a seal writes its segment
	// before it replaces the active file, so no id falls between them.
	segs, err := e.listSegments(nil)
	if err != nil {
		f.Close()
		return err
	}
	e.imu.Lock()
	e.segs = segs
	e.imu.Unlock()
	e.loadActiveIdx(f, inodeOf(fi))
	return nil
}

// openFile opens or creates the file and reads the removed keys.
func (e *Events) openFile() (*os.File, os.FileInfo, []keyHash, error) {
	dir := filepath.Dir(e.path)
	if err := durable.MkdirUnder(e.root, dir, 0o755); err != nil {
		return nil, nil, nil, pathErr(settle.Internal, err, "create event log directory")
	}
	f, err := durable.Open(e.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		f, err = durable.Open(e.path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return nil, nil, nil, pathErr(settle.Internal, err, "open event log")
		}
	} else if err != nil {
		return nil, nil, nil, settle.Wrap(settle.Internal, err, "create event log")
	} else if err := durable.SyncDir(dir); err != nil {
		f.Close()
		return nil, nil, nil, settle.Wrap(settle.Internal, err, "create event log")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, settle.Wrap(settle.Internal, err, "stat event log")
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, nil, settle.Errorf(settle.InvalidInput, "event log %s is not a regular file", e.path)
	}
	ck, err := readKeyHashes(e.keysPath())
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return f, fi, ck, nil
}

// Path returns the event log file's absolute path.
func (e *Events) Path() string { return e.path }

// Close commits what is queued (posted events included), then closes the
// file and wakes every Wait. Appends after Close fail with UNAVAILABLE.
func (e *Events) Close() error {
	e.qmu.Lock()
	if !e.isShut.CompareAndSwap(false, true) {
		e.qmu.Unlock()
		return nil
	}
	e.qmu.Unlock()
	e.stop()
	e.gc.Drain()
	close(e.closed)
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.f == nil {
		return nil
	}
	err := e.f.Close()
	e.f = nil
	for _, r := range e.retired {
		r.Close()
	}
	e.retired = nil
	if err != nil {
		return settle.Wrap(settle.Internal, err, "close event log")
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (e *Events) Stats() EventStats {
	e.imu.RLock()
	n, k := e.lastID()-e.floorID(), int64(len(e.keys))+int64(len(e.akeys)/idxKey)+int64(len(e.ckeys))
	e.imu.RUnlock()
	gs := e.gc.Stats()
	return EventStats{
		Events:      n,
		Keys:        k,
		Skipped:     e.st.skipped.Load(),
		Fsyncs:      e.st.fsyncs.Load(),
		FsyncErrors: e.st.fsyncErrors.Load(),
		Groups:      gs.Groups,
		Grouped:     gs.Items,
		MaxGroup:    gs.MaxGroup,
		TornRepairs: e.st.torn.Load(),
		LastFsync:   time.Duration(e.st.lastFsync.Load()),
		Poisoned:    e.poison.Poisoned(),
		PostLost:    e.st.postLost.Load(),
	}
}

// Append appends an event durably and returns it with its id.
func (e *Events) Append(ctx context.Context, typ string, data any) (event.Event, error) {
	ev, _, err := e.append(ctx, "", typ, data)
	return ev, err
}

// AppendOnce appends an event unless one with the same key exists (in
// this log, written by any process); it returns the event with that key
// and whether this call appended it.
func (e *Events) AppendOnce(ctx context.Context, key, typ string, data any) (event.Event, bool, error) {
	if key == "" {
		return event.Event{}, false, settle.Errorf(settle.InvalidInput, "append once: empty key")
	}
	// Fast path: the key is already indexed.
	id, ok, err := e.lookupKey(key, false)
	if err != nil {
		return event.Event{}, false, err
	}
	if ok {
		ev, err := e.getKeyed(id, typ, key)
		return ev, false, err
	}
	return e.append(ctx, key, typ, data)
}

func (e *Events) append(ctx context.Context, key, typ string, data any) (event.Event, bool, error) {
	if typ == "" {
		return event.Event{}, false, settle.Errorf(settle.InvalidInput, "append event: empty type")
	}
	raw, err := event.EncodeData(data)
	if err != nil {
		return event.Event{}, false, err
	}
	if e.isShut.Load() {
		return event.Event{}, false, settle.Errorf(settle.Unavailable, "event log is closed")
	}
	if err := ctx.Err(); err != nil {
		return event.Event{}, false, settle.Wrap(settle.Unavailable, err, "append event")
	}
	c := &eventOp{typ: typ, key: key, data: raw}
	if err := e.gc.Submit(ctx, c); err != nil {
		return event.Event{}, false, err
	}
	return c.ev, c.appended, c.err
}

// Flush returns when every event queued before the call (posted ones
// included) is committed or has failed.
func (e *Events) Flush(ctx context.Context) error {
	if err := e.gc.Submit(ctx, &eventOp{barrier: true}); err != nil {
		return settle.Wrap(settle.Unavailable, err, "flush event log")
	}
	return nil
}

// PostOnce implements event.Poster: the keyed event is queued for the next
// group commit and PostOnce returns without waiting for its fsync. Readers
// see it only once it is durable, in queue order with every other event (an
// event appended after PostOnce returns gets a greater id). If that commit
// fails the event is lost, the failure is logged and counted
// (EventStats.PostLost), and the log refuses appends until reopened. Use it
// only for events derived from a record that is already durable elsewhere,
// which a reconciliation can re-create.
func (e *Events) PostOnce(ctx context.Context, key, typ string, data any) error {
	if key == "" {
		return settle.Errorf(settle.InvalidInput, "post event: empty key")
	}
	if typ == "" {
		return settle.Errorf(settle.InvalidInput, "post event: empty type")
	}
	e.imu.RLock()
	_, ok := e.keys[key]
	e.imu.RUnlock()
	if ok {
		return nil
	}
	if e.poison.Poisoned() {
		return settle.Errorf(settle.Unavailable, "event log refuses appends after a failed write; reopen it")
	}
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "post event")
	}
	raw, err := event.EncodeData(data)
	if err != nil {
		return err
	}
	e.qmu.Lock()
	defer e.qmu.Unlock()
	if e.isShut.Load() {
		return settle.Errorf(settle.Unavailable, "event log is closed")
	}
	e.gc.Post(&eventOp{typ: typ, key: key, data: raw, posted: true})
	return nil
}

// beginRun takes wmu and the exclusive flock for a run of groups,
// catching up with other writers and repairing a torn tail. wmu stays
// held until endRun: readers catch up between runs, never on a run's
// unsynced bytes.
func (e *Events) beginRun(ctx context.Context) error {
	e.wmu.Lock()
	err := func() error {
		if e.f == nil {
			return settle.Errorf(settle.Unavailable, "event log is closed")
		}
		if err := e.poisonErr(); err != nil {
			return err
		}
		locked, err := e.lockForWrite()
		if err != nil {
			return err
		}
		e.locked = locked
		return nil
	}()
	if err != nil {
		e.wmu.Unlock()
		return err
	}
	e.imu.RLock()
	e.woff, e.wnext = e.end, e.lastID()+1
	e.imu.RUnlock()
	e.runKeys = map[string]*eventOp{}
	return nil
}

// endRun seals the active file if it is full and releases the flock and
// wmu. No group of the run is in flight.
func (e *Events) endRun() {
	if e.poisonErr() == nil {
		if err := e.maybeSeal(); err != nil {
			// The run's events are durable in the active file; the next
			// writer seals them (or finishes this seal).
			e.log.Error("event log segment seal failed", "err", err)
		} else {
			e.maybeWriteActiveIdx()
		}
	}
	funlock(e.locked)
	e.locked = nil
	e.runKeys = nil
	e.wmu.Unlock()
}

// stageGroup evaluates a group against the index plus the groups staged
// earlier in the run and writes it (no fsync).
func (e *Events) stageGroup(group []*eventOp) (*eventGroup, error) {
	if err := e.poisonErr(); err != nil {
		return nil, err
	}
	size := 0
	for _, c := range group {
		size += eventLineSize(c.typ, c.key, c.data) + 1
	}
	g := &eventGroup{pre: e.woff, data: make([]byte, 0, size)}
	now := e.now().UTC()
	var lost []*eventOp
	for _, c := range group {
		if c.barrier {
			continue
		}
		if c.key != "" {
			if first, ok := e.runKeys[c.key]; ok {
				// Same key earlier in the run: that call appends.
				g.dups = append(g.dups, [2]*eventOp{c, first})
				continue
			}
			// The run holds the flock and listed the segments at
			// its start (lockForWrite).
			id, ok, err := e.lookupKeyHash(c.key, &c.h, true)
			if err != nil {
				c.err = err
				lost = append(lost, c)
				continue
			}
			if ok {
				c.ev, c.err = e.getKeyed(id, c.typ, c.key)
				c.answered = true
				continue
			}
		}
		ev := event.Event{ID: e.wnext + int64(len(g.fresh)), Type: c.typ, Time: now, Key: c.key, Data: c.data}
		at := len(g.data)
		g.data = appendEventLine(g.data, ev)
		if n := len(g.data) - at; n > maxEventLine {
			g.data = g.data[:at]
			c.err = settle.Errorf(settle.InvalidInput, "event of %d bytes exceeds the %d byte limit", n, maxEventLine)
			lost = append(lost, c)
			continue
		}
		g.data = append(g.data, '\n')
		c.ev, c.appended = ev, true
		if c.key != "" {
			e.runKeys[c.key] = c
		}
		g.offs = append(g.offs, g.pre+int64(at))
		g.meta = append(g.meta, evMeta{h: c.h, keyed: c.key != "", ns: now.UnixNano()})
		g.fresh = append(g.fresh, c)
	}
	e.countLost(lost, nil)
	if len(g.data) == 0 {
		return g, nil
	}
	if err := durable.AppendWrite(e.f, g.data); err != nil {
		e.st.fsyncErrors.Add(1)
		e.poisonAfter(err, g.pre)
		return nil, settle.Wrap(settle.Unavailable, err, "append to event log")
	}
	e.woff += int64(len(g.data))
	e.wnext += int64(len(g.fresh))
	return g, nil
}

// syncGroups fsyncs the file once for groups written in order. A failure
// truncates the file to before the first of them and poisons the log.
func (e *Events) syncGroups(gs []*eventGroup) error {
	n := 0
	for _, g := range gs {
		n += len(g.fresh)
	}
	if n == 0 {
		return nil
	}
	start := time.Now()
	err := durable.AppendSync(e.f)
	lat := time.Since(start)
	e.st.lastFsync.Store(int64(lat))
	e.st.fsyncs.Add(1)
	if err != nil {
		e.st.fsyncErrors.Add(1)
		e.poisonAfter(err, gs[0].pre)
		return settle.Wrap(settle.Unavailable, err, "append to event log")
	}
	if e.onCommit != nil {
		e.onCommit(lat, n)
	}
	return nil
}

// publishGroup indexes a durable group and wakes the waiters.
func (e *Events) publishGroup(g *eventGroup) {
	for _, d := range g.dups {
		d[0].ev, d[0].err = d[1].ev, d[1].err
	}
	if len(g.data) == 0 {
		return
	}
	if e.segSize > 0 {
		if e.sealMeta == nil || len(e.sealMeta) > 4*e.segSize {
			e.sealMeta = make(map[int64]evMeta, e.segSize)
		}
		for i, off := range g.offs {
			e.sealMeta[off] = g.meta[i]
		}
	}
	e.imu.Lock()
	e.offs = append(e.offs, g.offs...)
	e.end = g.pre + int64(len(g.data))
	for _, c := range g.fresh {
		if c.key != "" {
			e.keys[c.key] = c.ev.ID
		}
	}
	e.imu.Unlock()
	e.wake()
}

// failCalls answers the calls of a failed group.
func (e *Events) failCalls(calls []*eventOp, err error) {
	var lost []*eventOp
	for _, c := range calls {
		if c.answered || c.err != nil {
			continue
		}
		c.ev, c.appended, c.err = event.Event{}, false, err
		lost = append(lost, c)
	}
	e.countLost(lost, err)
}

// countLost counts and logs the posted calls among failed calls.
func (e *Events) countLost(calls []*eventOp, err error) {
	n := 0
	for _, c := range calls {
		if c.posted && !c.barrier {
			n++
			if err == nil {
				err = c.err
			}
		}
	}
	if n > 0 {
		e.st.postLost.Add(int64(n))
		e.log.Error("posted events not appended; the startup reconciliation re-creates events derived from durable records",
			"events", n, "err", err)
	}
}

// lockForWrite takes the exclusive flock on the active file, catches up,
// repairs a torn tail and finishes an interrupted seal. It returns the
// locked file. wmu held.
func (e *Events) lockForWrite() (*os.File, error) {
	for range 100 {
		if err := e.lockCurrent(); err != nil {
			return nil, err
		}
		locked := e.f
		err := e.catchUp(true)
		if err == nil {
			err = e.resyncSegments()
		}
		var fi os.FileInfo
		if err == nil {
			fi, err = e.f.Stat()
			if err != nil {
				err = settle.Wrap(settle.Internal, err, "stat event log")
			}
		}
		if err == nil {
			e.imu.RLock()
			end, sealed := e.end, e.sealedLast() > e.base
			e.imu.RUnlock()
			if fi.Size() > end {
				err = e.repairTorn(end, fi.Size())
			}
			if err == nil && sealed {
				// The active file is replaced: lock the new one.
				if err = e.finishSeal(); err == nil {
					funlock(locked)
					continue
				}
			}
		}
		if err != nil {
			funlock(locked)
			return nil, err
		}
		return locked, nil
	}
	return nil, settle.Errorf(settle.Unavailable, "event log %s keeps being replaced", e.path)
}

// getKeyed returns the event with id found for a key: an event a
// compaction removed (id 0, or gone meanwhile) is only its type and key.
func (e *Events) getKeyed(id int64, typ, key string) (event.Event, error) {
	if id > 0 {
		ev, err := e.get(id)
		if settle.ErrorCode(err) != settle.Compacted {
			return ev, err
		}
	}
	return event.Event{Type: typ, Key: key}, nil
}

// encodeEventLine is json.Marshal(ev) without re-validating the data
// (encodeEventData made it compact, valid JSON).
func encodeEventLine(ev event.Event) []byte {
	return appendEventLine(make([]byte, 0, eventLineSize(ev.Type, ev.Key, ev.Data)), ev)
}

// eventLineSize is the size of an event line with no character escaped.
func eventLineSize(typ, key string, data json.RawMessage) int {
	return 96 + len(typ) + len(key) + len(data)
}

// appendEventLine appends encodeEventLine(ev) to dst (jsonw.String quotes
// as json.Marshal does).
func appendEventLine(dst []byte, ev event.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, ev.ID, 10)
	dst = append(dst, `,"type":`...)
	dst = jsonw.String(dst, ev.Type)
	dst = append(dst, `,"time":"`...)
	dst = ev.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if ev.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = jsonw.String(dst, ev.Key)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, ev.Data...)
	return append(dst, '}')
}

// poisonAfter records a failed append: bytes written after pre are
// truncated away when possible and appends are refused until reopened.
// The exclusive flock held.
func (e *Events) poisonAfter(err error, pre int64) {
	e.smu.Lock()
	rollback := e.poison.AfterAppend(e.f, err, pre)
	e.smu.Unlock()
	e.log.Error("event log append failed; appends refused until reopened", "err", err, "offset", pre, "rollback_err", rollback)
}

// poisonErr is the error of a poisoned log, or nil.
func (e *Events) poisonErr() error {
	e.smu.Lock()
	defer e.smu.Unlock()
	if err := e.poison.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "event log refuses appends after a failed write; reopen it")
	}
	return nil
}

// repairTorn copies the bytes after the last complete line to a sidecar,
// truncates them and fsyncs. wmu and the exclusive flock held; end is the
// end of the last complete line.
func (e *Events) repairTorn(end, size int64) error {
	e.smu.Lock()
	tail, err := durable.RepairTorn(e.f, e.path, end, size, &e.poison)
	e.smu.Unlock()
	if err != nil {
		return err
	}
	e.st.torn.Add(1)
	e.log.Warn("event log torn last line repaired", "offset", tail.Offset, "bytes", tail.Bytes, "sidecar", tail.Sidecar)
	return nil
}

// catchUp indexes the complete lines after end. wmu held; locked says the
// caller holds the exclusive flock, otherwise a shared one is taken so a
// writer's unsynced bytes are never read.
func (e *Events) catchUp(locked bool) error {
	if e.f == nil {
		return settle.Errorf(settle.Unavailable, "event log is closed")
	}
	if !locked {
		if err := e.reopenIfReplaced(); err != nil {
			return err
		}
		if err := e.locker.Flock(context.Background(), e.f, unix.LOCK_SH); err != nil {
			return settle.Wrap(settle.ErrorCode(err), err, "lock event log for reading")
		}
		defer funlock(e.f)
	}
	fi, err := e.f.Stat()
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat event log")
	}
	e.imu.RLock()
	end, id := e.end, e.base+int64(len(e.offs))
	e.imu.RUnlock()
	size := fi.Size()
	if size < end {
		return settle.Errorf(settle.Corrupt, "event log %s shrank from %d to %d bytes", e.path, end, size)
	}
	if size == end {
		return nil
	}
	var offs []int64
	newBase := int64(-1)
	// Sized for the lines to read (an event line is ~500 bytes): the
	// first catch-up of a new process indexes the whole active file,
	// and growing the map is most of that cost.
	keys := make(map[string]int64, (size-end)/512)
	bad := map[int64]bool{}
	buf := make([]byte, 256<<10)
	var carry []byte
	pos := end    // file offset of buf data start (after carry)
	lineAt := end // offset of the line being assembled
	for pos < size {
		n := int64(len(buf))
		if size-pos < n {
			n = size - pos
		}
		m, err := e.f.ReadAt(buf[:n], pos)
		if err != nil && int64(m) < n {
			return settle.Wrap(settle.Internal, err, "read event log")
		}
		chunk := buf[:m]
		pos += int64(m)
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				carry = append(carry, chunk...)
				break
			}
			line := chunk[:i]
			if len(carry) > 0 {
				carry = append(carry, line...)
				line = carry
			}
			if lineAt == 0 {
				if b, ok := parseFloorHeader(line); ok {
					// A compacted file: its events follow the floor.
					id, newBase = b, b
					lineAt = int64(len(line)) + 1
					carry = carry[:0]
					chunk = chunk[i+1:]
					continue
				}
			}
			id++
			offs = append(offs, lineAt)
			e.indexLine(id, line, keys, bad)
			lineAt += int64(len(line)) + 1
			carry = carry[:0]
			chunk = chunk[i+1:]
		}
	}
	if len(offs) == 0 && newBase < 0 {
		return nil
	}
	e.imu.Lock()
	if newBase >= 0 {
		e.base = newBase
	}
	e.offs = append(e.offs, offs...)
	e.end = lineAt
	if len(e.akeys) > 0 {
		// A key the key index holds keeps its first id.
		for k := range keys {
			if _, ok := e.activeKey(hashKey(k)); ok {
				delete(keys, k)
			}
		}
	}
	if len(e.keys) == 0 {
		e.keys = keys
	} else {
		for k, v := range keys {
			if _, ok := e.keys[k]; !ok {
				e.keys[k] = v
			}
		}
	}
	for k := range bad {
		e.bad[k] = true
	}
	e.imu.Unlock()
	e.wake()
	return nil
}

// indexLine notes a line's key, or marks it bad.
func (e *Events) indexLine(id int64, line []byte, keys map[string]int64, bad map[int64]bool) {
	var h event.Event
	if wid, key, ok := scanEventLine(line); ok {
		h.ID, h.Type, h.Key = wid, "-", key
	} else if len(line) > maxEventLine || json.Unmarshal(line, &h) != nil || h.Type == "" {
		bad[id] = true
		e.st.skipped.Add(1)
		e.log.Warn("event log line skipped: not an event", "id", id)
		return
	}
	if h.ID != id {
		e.log.Warn("event log line id differs from its line number; the line number is its id", "id", id, "written_id", h.ID)
	}
	if h.Key != "" {
		if _, ok := keys[h.Key]; !ok {
			keys[h.Key] = id
		}
	}
}

// refresh catches up on lines appended by other processes when the file
// grew.
func (e *Events) refresh() error {
	if e.isShut.Load() {
		return settle.Errorf(settle.Unavailable, "event log is closed")
	}
	fi, err := os.Stat(e.path)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat event log")
	}
	e.imu.RLock()
	end := e.end
	e.imu.RUnlock()
	replaced := inodeOf(fi) != e.ino.Load()
	if fi.Size() <= end && !replaced {
		return nil
	}
	// More bytes: another process's events, or this process's group
	// being committed (waiting for wmu waits for its fsync).
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.catchUp(false)
}

// count returns the last indexed id.
func (e *Events) count() int64 {
	e.imu.RLock()
	defer e.imu.RUnlock()
	return e.lastID()
}

// get reads one event by id.
func (e *Events) get(id int64) (event.Event, error) {
	evs, err := e.read(id-1, 1)
	if err != nil {
		return event.Event{}, err
	}
	if len(evs) != 1 || evs[0].ID != id {
		return event.Event{}, settle.Errorf(settle.Corrupt, "event %d does not decode", id)
	}
	return evs[0], nil
}

// Since returns up to limit events with ID > after, in order. Lines that
// do not decode are skipped (their ids are not reused).
func (e *Events) Since(ctx context.Context, after int64, limit int) ([]event.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	if after < 0 {
		after = 0
	}
	if e.isShut.Load() {
		return nil, settle.Errorf(settle.Unavailable, "event log is closed")
	}
	if err := e.refresh(); err != nil {
		return nil, err
	}
	e.imu.RLock()
	floor := e.floorID()
	e.imu.RUnlock()
	if after < floor {
		return nil, event.CompactedError(after, floor)
	}
	return e.read(after, limit)
}

// read decodes indexed events after the id, up to limit ids, from the
// sealed segments and the active file.
func (e *Events) read(after int64, limit int) ([]event.Event, error) {
	var out []event.Event
	for gone := 0; limit > 0; {
		e.imu.RLock()
		n, fl, sl := e.lastID(), e.floorID(), e.sealedLast()
		var seg *segment
		if after < sl {
			seg = e.segmentFor(after + 1)
		}
		e.imu.RUnlock()
		if after >= n {
			break
		}
		if after < fl {
			if len(out) > 0 {
				break
			}
			return nil, event.CompactedError(after, fl)
		}
		if after >= sl {
			evs, err := e.readActive(after, limit)
			if err != nil {
				return nil, err
			}
			return append(out, evs...), nil
		}
		if seg == nil {
			return nil, settle.Errorf(settle.Corrupt, "event log %s: no segment holds event %d", e.path, after+1)
		}
		evs, covered, err := seg.read(after, limit)
		if errors.Is(err, errSegGone) {
			// Dropped by a compaction: the floor moved past it.
			if gone++; gone > 3 || len(out) > 0 {
				if len(out) > 0 {
					break
				}
				return nil, settle.Errorf(settle.Unavailable, "event log %s: segments keep changing", e.path)
			}
			if err := e.resyncSegments(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		limit -= int(covered - after)
		after = covered
	}
	return out, nil
}

// readActive decodes the active file's events after the id, up to limit.
func (e *Events) readActive(after int64, limit int) ([]event.Event, error) {
	e.imu.RLock()
	base, rf := e.base, e.rf
	n := base + int64(len(e.offs))
	if after >= n {
		e.imu.RUnlock()
		return nil, nil
	}
	if after < base {
		e.imu.RUnlock()
		return nil, event.CompactedError(after, base)
	}
	last := after + int64(limit)
	if last > n {
		last = n
	}
	from := e.offs[after-base]
	to := e.end
	if last < n {
		to = e.offs[last-base]
	}
	bad := map[int64]bool{}
	for id := after + 1; id <= last; id++ {
		if e.bad[id] {
			bad[id] = true
		}
	}
	e.imu.RUnlock()

	// Indexed bytes are immutable (the file is append-only below end), so
	// no lock is needed to read them.
	buf := make([]byte, to-from)
	if _, err := rf.ReadAt(buf, from); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil, settle.Errorf(settle.Unavailable, "event log is closed")
		}
		return nil, settle.Wrap(settle.Internal, err, "read event log")
	}
	out := make([]event.Event, 0, last-after)
	id := after
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil, settle.Errorf(settle.Corrupt, "event log changed under the index at event %d", id+1)
		}
		line := buf[:i]
		buf = buf[i+1:]
		id++
		if bad[id] {
			continue
		}
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, settle.Wrap(settle.Corrupt, err, "event log changed under the index at event %d", id)
		}
		ev.ID = id
		out = append(out, ev)
	}
	return out, nil
}

// wake tells every in-process waiter that events may have arrived.
func (e *Events) wake() {
	e.nmu.Lock()
	close(e.notify)
	e.notify = make(chan struct{})
	e.nmu.Unlock()
}

func (e *Events) notifier() <-chan struct{} {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	return e.notify
}

// Wait returns a channel closed when an event with ID > after exists
// (appended by this process: at once; by another: within the poll
// interval), when ctx ends or when the log is closed. One poller per log
// watches the file while anyone waits.
func (e *Events) Wait(ctx context.Context, after int64) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		e.addWaiter()
		defer e.removeWaiter()
		event.WaitUntil(ctx, e.closed, e.notifier, func() bool { return e.count() > after })
	}()
	return ch
}

func (e *Events) addWaiter() {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	e.waiters++
	if !e.polling {
		e.polling = true
		go e.pollFile()
	}
}

func (e *Events) removeWaiter() {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	e.waiters--
}

// pollFile catches up on other processes' appends every poll interval
// while there are waiters; a catch-up that finds events wakes them.
func (e *Events) pollFile() {
	tick := time.NewTicker(e.poll)
	defer tick.Stop()
	for {
		select {
		case <-e.closed:
			e.pmu.Lock()
			e.polling = false
			e.pmu.Unlock()
			return
		case <-tick.C:
		}
		e.pmu.Lock()
		if e.waiters == 0 {
			e.polling = false
			e.pmu.Unlock()
			return
		}
		e.pmu.Unlock()
		if err := e.refresh(); err != nil && !e.isShut.Load() {
			e.log.Warn("event log poll failed", "err", err)
		}
	}
}

// scanEventLine reads the id and key of a line as encodeEventLine writes
// it, without decoding the whole line (opening a large log indexes every
// line): the members in their order, a type and key without escapes, and
// data that is valid JSON. Any other line is left to json.Unmarshal.
func scanEventLine(line []byte) (id int64, key string, ok bool) {
	id, key, _, ok = scanEventLineTime(line)
	return id, key, ok
}

// scanEventLineTime is scanEventLine that also returns the event's time.
func scanEventLineTime(line []byte) (id int64, key string, t time.Time, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"id":`))
	if !ok || len(line) > maxEventLine {
		return 0, "", time.Time{}, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		id = id*10 + int64(rest[i]-'0')
		i++
		if i > 18 {
			return 0, "", time.Time{}, false
		}
	}
	if i == 0 {
		return 0, "", time.Time{}, false
	}
	str := func(prefix string) (string, bool) {
		r, ok := bytes.CutPrefix(rest, []byte(prefix))
		if !ok {
			return "", false
		}
		j := bytes.IndexByte(r, '"')
		if j < 0 || bytes.IndexByte(r[:j], '\\') >= 0 {
			return "", false
		}
		rest = r[j+1:]
		return string(r[:j]), true
	}
	rest = rest[i:]
	typ, ok := str(`,"type":"`)
	if !ok || typ == "" {
		return 0, "", time.Time{}, false
	}
	ts, ok := str(`,"time":"`)
	if !ok {
		return 0, "", time.Time{}, false
	}
	if t.UnmarshalText([]byte(ts)) != nil {
		return 0, "", time.Time{}, false
	}
	if bytes.HasPrefix(rest, []byte(`,"key":"`)) {
		if key, ok = str(`,"key":"`); !ok {
			return 0, "", time.Time{}, false
		}
	}
	data, ok := bytes.CutPrefix(rest, []byte(`,"data":`))
	if !ok || len(data) < 2 || data[len(data)-1] != '}' || !json.Valid(data[:len(data)-1]) {
		return 0, "", time.Time{}, false
	}
	return id, key, t, true
}
