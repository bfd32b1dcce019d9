package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// LedgerFileName is the file name every accepted ledger path has unless it
// is the default path under the root (the seed's allowlist).
const LedgerFileName = "callback_4tuple_index.jsonl"

// Relative paths under the root of the files the ledger store writes
// besides the ledger.
const (
	BatchesRelDir = "memory/events/batches"
)

// LedgerOptions configures OpenLedger.
type LedgerOptions struct {
	// Root is the workspace root ("" = the current directory).
	Root string
	// LedgerPath is the ledger file ("" = <Root>/memory/events/callback_4tuple_index.jsonl).
	// A relative path is taken relative to the current directory.
	LedgerPath string
	// Config is the domain configuration (collector keys, default chat id).
	Config writeback.Config
	// Logger receives repairs, rebuilds and write failures (nil = slog.Default()).
	Logger *slog.Logger
	// ReadOnly opens the ledger for reading only: nothing is created or
	// repaired, and every write (write-back, registry append, batch
	// declaration, summary) is refused with UNAVAILABLE. Read-only commands
	// use it so they work on a read-only filesystem.
	ReadOnly bool
	// LockTimeout bounds each wait for the ledger's flock while another
	// process holds it (0 = durable.DefaultLockTimeout, negative = no
	// limit); giving up is UNAVAILABLE.
	LockTimeout time.Duration
}

// Ledger is the file-backed writeback.Store. It is safe for concurrent use
// by many goroutines, and by many processes sharing the ledger file.
type Ledger struct {
	root string
	path string
	cfg  writeback.Config
	log  *slog.Logger
	now  func() time.Time

	readOnly bool
	// stopped is done once Close starts, so that a lock wait in progress
	// gives up instead of holding Close (and a server's shutdown) up.
	stopped context.Context
	stop    context.CancelFunc
	locker  durable.Locker

	// commitMu serializes runs of group commits with Close and Check; it
	// is taken before mu. A run holds it (and the ledger's flock) from
	// beginRun to endRun, but takes mu only to stage and to index each
	// group, so readers are not held up by an fsync in progress.
	commitMu sync.Mutex

	// mu guards everything below and the ledger file's flock.
	mu     sync.Mutex
	closed bool
	// appending is true while a run of group commits holds the flock:
	// readers then answer from the index (which holds only durable
	// records) without touching the file or its lock.
	appending bool
	// pending are the run's groups written but not yet indexed (their
	// fsync is in progress); woff is where the next group is written.
	pending    []*stage
	woff       int64
	unlockRun  func()
	runIndexed bool           // the run indexed a group: save the index at its end
	poison     durable.Poison // a write failed: refuse until reopened
	f          *os.File
	fid        fileID // identity of f
	off        int64  // end of the last complete line consumed
	lines      int64  // complete lines consumed (records + skipped)
	// ix is the persistent index; ixDistrust says its files on disk
	// disagreed with the ledger and are not to be loaded again.
	ix         *Index
	ixDistrust bool
	ixFailedAt int // records indexed when a save last failed (0: none)
	// bnd holds the ledger's bytes just before off, as read: a file
	// rewritten behind the store's back is noticed when they change.
	bnd    []byte
	bndOff int64
	// own are the durable successes this store appended and indexed, in
	// ledger order, for a follower (DurableSince); forgotten with the
	// index.
	own []ownRec

	gc *durable.GroupCommitter[*ledgerOp, *ledgerGroup]

	batches   batchCache                       // decoded batch declarations (GetBatch)
	batchList statMemo[[]writeback.BatchEntry] // the batches directory's listing (ListBatches)

	st counters
}

var _ writeback.Store = (*Ledger)(nil)
var _ writeback.SettlerWithout = (*Ledger)(nil)
var _ writeback.BatchFinder = (*Ledger)(nil)

type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileID{}
}

// OpenLedger opens the ledger store: it checks the ledger path against the
// allowlist (PATH_REFUSED) and reads the ledger once into the index. A
// missing ledger is an empty one; the file and its directories are created
// by the first append.
func OpenLedger(opts LedgerOptions) (*Ledger, error) {
	return OpenLedgerContext(context.Background(), opts)
}

// OpenLedgerContext is OpenLedger giving up (UNAVAILABLE) when ctx is done
// while it waits for the ledger's lock to read it.
func OpenLedgerContext(ctx context.Context, opts LedgerOptions) (*Ledger, error) {
	root, err := absRoot(opts.Root, "ledger root")
	if err != nil {
		return nil, err
	}
	path := opts.LedgerPath
	if path == "" {
		path = filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "ledger path")
	}
	if err := checkAllowlisted(root, path); err != nil {
		return nil, err
	}
	if err := durable.CheckUnder(root, path); err != nil {
		return nil, pathErr(settle.InvalidInput, err, "ledger path")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Ledger{
		root: root,
		path: path,
		cfg:  opts.Config,
		log:  log.With("ledger", path),
		now:  time.Now,
		ix:   newIndex(path),

		readOnly: opts.ReadOnly,
	}
	l.stopped, l.stop = context.WithCancel(context.Background())
	l.locker = durable.Locker{Timeout: opts.LockTimeout, Stopped: l.stopped, OnWait: func(_ *os.File, timeout time.Duration) {
		l.log.Info("ledger locked by another process; waiting", "timeout", timeout)
	}}
	if l.locker.Timeout == 0 {
		l.locker.Timeout = durable.DefaultLockTimeout
	}
	l.gc = l.newCommitter()
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	if err := l.refresh(ctx, false); err != nil {
		l.stop()
		if l.f != nil {
			l.f.Close()
		}
		return nil, err
	}
	l.publish()
	l.st.openNanos.Store(int64(time.Since(start)))
	return l, nil
}

// checkAllowlisted is the seed's _assert_ledger_allowlisted.
func checkAllowlisted(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err == nil && filepath.ToSlash(rel) == writeback.DefaultLedgerRelPath {
		return nil
	}
	if filepath.Base(path) == LedgerFileName {
		return nil
	}
	shown := path
	if err == nil {
		shown = filepath.ToSlash(rel)
	}
	return settle.Errorf(settle.PathRefused,
		"ledger %q is not the allowlisted ledger %q nor a file named %q",
		shown, writeback.DefaultLedgerRelPath, LedgerFileName)
}

// Path returns the ledger file's absolute path.
func (l *Ledger) Path() string { return l.path }

// Root returns the workspace root's absolute path.
func (l *Ledger) Root() string { return l.root }

// Close releases the file. Operations after Close fail with UNAVAILABLE.
func (l *Ledger) Close() error {
	l.stop()
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.ix.abandonMerge(true)
	l.ix.reset()
	if l.f != nil {
		err := l.f.Close()
		l.f = nil
		if err != nil {
			return settle.Wrap(settle.Internal, err, "close ledger")
		}
	}
	return nil
}

// usable reports why the store cannot serve ledger operations. mu held.
func (l *Ledger) usable() error {
	if l.closed {
		return settle.Errorf(settle.Unavailable, "ledger store is closed")
	}
	if err := l.poison.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "ledger store refuses operations after a failed write; reopen it")
	}
	return nil
}

// resetIndex forgets everything read. mu held.
func (l *Ledger) resetIndex() {
	l.ix.reset()
	l.bnd, l.bndOff = nil, 0
	l.own = nil
	l.off = 0
	l.lines = 0
	l.st.resetRecordCounts()
}

// refresh brings the index up to date with the file: new complete lines are
// read, a replaced or shrunk file is re-read from scratch. locked says the
// caller holds the exclusive flock; otherwise a shared flock is taken while
// new bytes are read, so that a concurrent torn-tail repair cannot be seen
// half done. mu held.
func (l *Ledger) refresh(ctx context.Context, locked bool) error {
	fi, err := os.Lstat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		if l.f != nil || l.off > 0 || l.lines > 0 {
			l.log.Warn("ledger file disappeared; index reset")
			l.st.rebuilds.Add(1)
			if l.f != nil {
				l.f.Close()
				l.f = nil
			}
			l.fid = fileID{}
			l.resetIndex()
		}
		return nil
	}
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat ledger")
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return settle.Errorf(settle.PathRefused, "ledger %s is a symbolic link: settle does not append through one", l.path)
	}
	if !fi.Mode().IsRegular() {
		return settle.Errorf(settle.InvalidInput, "ledger %s is not a regular file", l.path)
	}
	if l.f == nil || idOf(fi) != l.fid {
		if err := l.reopen(); err != nil {
			return err
		}
	} else if fi.Size() == l.off {
		if reset, err := l.checkBoundary(); err != nil || !reset {
			return err
		}
	}
	if !locked {
		if err := l.flock(ctx, unix.LOCK_SH); err != nil {
			return settle.Wrap(settle.ErrorCode(err), err, "lock ledger for reading")
		}
		err := l.catchUp()
		funlock(l.f)
		if err == nil && !l.readOnly {
			l.maybeSaveIndex()
		}
		return err
	}
	return l.catchUp()
}

// reopen opens the file at path, replacing f, and resets the index. mu held.
func (l *Ledger) reopen() error {
	var f *os.File
	var err error = syscall.EROFS
	if !l.readOnly {
		f, err = durable.Open(l.path, os.O_RDWR|os.O_APPEND, 0)
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		// Readable but not writable: reads work, an append fails.
		f, err = durable.Open(l.path, os.O_RDONLY, 0)
	}
	if err != nil {
		return pathErr(settle.Internal, err, "open ledger")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return settle.Wrap(settle.Internal, err, "stat ledger")
	}
	if l.f != nil {
		l.log.Warn("ledger file replaced; re-reading it")
		l.st.rebuilds.Add(1)
		l.f.Close()
	}
	l.f = f
	l.fid = idOf(fi)
	l.resetIndex()
	l.ixDistrust = false
	return nil
}

// boundaryBytes is how many bytes before off the store remembers.
const boundaryBytes = 64

// noteBoundary remembers the bytes before off. mu held.
func (l *Ledger) noteBoundary() error {
	if l.off == l.bndOff || l.f == nil {
		return nil
	}
	b := make([]byte, min(l.off, boundaryBytes))
	if _, err := l.f.ReadAt(b, l.off-int64(len(b))); err != nil {
		return settle.Wrap(settle.Internal, err, "read ledger")
	}
	l.bnd, l.bndOff = b, l.off
	return nil
}

// checkBoundary verifies that the bytes before the remembered offset are
// still those read, ending with a newline (cheap detection of a file
// rewritten in place). mu held.
func (l *Ledger) checkBoundary() (reset bool, err error) {
	if l.off == 0 {
		return false, nil
	}
	want := l.bnd
	if l.bndOff != l.off {
		want = []byte{'\n'}
	}
	b := make([]byte, len(want))
	if _, err := l.f.ReadAt(b, l.off-int64(len(b))); err != nil && err != io.EOF {
		return false, settle.Wrap(settle.Internal, err, "read ledger")
	}
	if string(b) != string(want) || want[len(want)-1] != '\n' {
		l.log.Warn("ledger rewritten in place; re-reading it", "offset", l.off)
		l.st.rebuilds.Add(1)
		l.resetIndex()
		return true, nil
	}
	return false, nil
}

// catchUp reads the complete lines after off. mu held; the caller holds a
// shared or exclusive flock on f.
func (l *Ledger) catchUp() error {
	fi, err := l.f.Stat()
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat ledger")
	}
	size := fi.Size()
	if size < l.off {
		l.log.Warn("ledger shrank; re-reading it", "offset", l.off, "size", size)
		l.st.rebuilds.Add(1)
		l.resetIndex()
	} else if _, err := l.checkBoundary(); err != nil {
		return err
	}
	if size == l.off {
		return nil
	}
	if l.off == 0 && l.ix.len() == 0 {
		// The persistent index, if current, covers all but the last
		// appended bytes.
		l.loadIndex(size)
		if err := l.noteBoundary(); err != nil {
			return err
		}
		if size == l.off {
			return nil
		}
		if _, err := l.checkBoundary(); err != nil {
			return err
		}
	}
	if l.off == 0 && l.ix.len() == 0 && size > parallelMin {
		// A full read: size the index for the file (settle's lines are
		// 400 to 700 bytes) instead of growing it record by record.
		l.ix.grow(int(size / 500))
	}
	end, err := scanRegion(l.f, l.off, size, l.consume)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "read ledger")
	}
	l.off = end
	return l.noteBoundary()
}

// consume adds one decoded chunk to the index, in file order. mu held.
func (l *Ledger) consume(c *chunk) {
	l.lines += int64(c.lines)
	l.st.skipped.Add(int64(c.skipped))
	for i := range c.recs {
		d := &c.recs[i]
		l.ix.add(d.off, d.n, &d.rec, d.rec.Raw)
		l.st.countKind(d.rec.Kind)
	}
}

// flock takes a flock on l.f (unix.LOCK_SH or unix.LOCK_EX), giving up
// (UNAVAILABLE) after the lock timeout, when ctx is done or when Close
// starts. mu held.
func (l *Ledger) flock(ctx context.Context, how int) error {
	return l.locker.Flock(ctx, l.f, how)
}

// funlock releases a flock. Its error is ignored: closing the file
// releases the lock anyway, and the data was already written or read.
func funlock(f *os.File) { _ = durable.Funlock(f) }

// writable refuses a write on a read-only store.
func (l *Ledger) writable() error {
	if l.readOnly {
		return settle.Errorf(settle.Unavailable, "ledger store %s is opened read-only", l.path)
	}
	return nil
}
