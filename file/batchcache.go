package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// batchCache remembers decoded batch declarations by the identity of the
// file they were read from. Declarations are written by tmp + rename, so
// a new declaration is a new inode; the key also holds the size and the
// change and modification times, so an in-place rewrite by another tool is
// seen too. File times are coarse (a clock tick, or a second on some file
// systems), so, as git does for its index, a file is cached only once its
// times are safely older than the read (racyMargin): a rewrite after the
// read then always changes them. A lookup costs one stat(2) instead of
// open + read + decode.
type batchCache struct {
	mu sync.Mutex
	m  map[string]cachedBatch

	dirsOnce sync.Once
	dirs     []string // root/memory, root/memory/events, root/memory/events/batches
	// noOpenat2: the kernel has no openat2, or the root's own path holds
	// a symbolic link; lookups lstat each component under the root.
	noOpenat2 atomic.Bool
}

// cachedLookup is GetBatch's cache lookup with the symlink check of
// underRoot folded in. One openat2 walk that refuses any symbolic link
// gives the declaration's identity, the cache key; where openat2 cannot
// serve, each directory below the root is lstat'ed and the declaration's
// own lstat gives the key. It answers ok only when every component exists
// and none is a symbolic link, or when one is missing (missing, as
// underRoot then statOf report it); otherwise the caller takes the full
// path, which reports each case as before.
func (l *Ledger) cachedLookup(batchID string) (path string, b writeback.Batch, hit, missing, ok bool) {
	c := &l.batches
	c.dirsOnce.Do(func() {
		d := filepath.Clean(l.root)
		for _, part := range strings.Split(BatchesRelDir, "/") {
			d = filepath.Join(d, part)
			c.dirs = append(c.dirs, d)
		}
	})
	var st unix.Stat_t
	path = c.dirs[len(c.dirs)-1] + string(filepath.Separator) + batchID + ".json"
	refused := false // openat2 met a symbolic link
	if !c.noOpenat2.Load() {
		switch errno := statNoSymlinks(path, &st); errno {
		case 0:
			b, hit = c.get(path, keyOf(&st))
			return path, b, hit, false, true
		case unix.ENOENT:
			return path, b, false, true, true
		case unix.ELOOP:
			// A link under the root (the walk below refuses it), or in
			// the root's own path (then openat2 cannot serve here).
			refused = true
		case unix.ENOSYS, unix.EPERM, unix.EINVAL:
			// No openat2 here: the walk below, from now on.
			c.noOpenat2.Store(true)
		}
	}
	for _, p := range append(c.dirs[:len(c.dirs):len(c.dirs)], path) {
		err := unix.Lstat(p, &st)
		if err == unix.ENOENT {
			return path, b, false, true, true
		}
		if err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return "", b, false, false, false
		}
	}
	if refused {
		// No link under the root, yet openat2 met one: it is in the
		// root's own path, and openat2 cannot serve this store.
		c.noOpenat2.Store(true)
	}
	b, hit = c.get(path, keyOf(&st))
	return path, b, hit, false, true
}

// statNoSymlinks stats the absolute path with one path walk in which no
// component may be a symbolic link (openat2 with RESOLVE_NO_SYMLINKS, an
// O_PATH descriptor and fstat): one walk instead of an lstat per
// component. It returns the errno (0: none), compared by value (not as
// error interfaces, which is slower, on every write-back's lookup).
func statNoSymlinks(path string, st *unix.Stat_t) unix.Errno {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if err == nil {
		err = unix.Fstat(fd, st)
		unix.Close(fd)
	}
	return errnoOf(err)
}

// errnoOf is the errno of a system call's error: 0 for nil, EIO for an
// error that is not an errno (x/sys/unix returns only errnos).
func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}

type cachedBatch struct {
	key statKey
	b   writeback.Batch
}

type statKey struct {
	dev, ino       uint64
	size           int64
	ctimeS, ctimeN int64
	mtimeS, mtimeN int64
}

// maxCachedBatches bounds the cache; when full it is emptied (declarations
// are cheap to re-read, and a server touches few batches at a time).
const maxCachedBatches = 4096

// racyMargin: a file changed less than this before it was read is not
// cached (its next change could keep the same coarse timestamps).
const racyMargin = 2 * time.Second

// settledBefore reports whether the file's last change (modification or
// status change) was at least racyMargin before t: a read at t then saw
// what its key stands for.
func (k statKey) settledBefore(t time.Time) bool {
	latest := max(time.Unix(k.ctimeS, k.ctimeN).UnixNano(), time.Unix(k.mtimeS, k.mtimeN).UnixNano())
	return t.UnixNano()-latest >= int64(racyMargin)
}

func statOf(path string) (statKey, error) {
	var st unix.Stat_t
	// Lstat: a symbolic link is refused by the open that follows.
	if err := unix.Lstat(path, &st); err != nil {
		return statKey{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return keyOf(&st), nil
}

func fstatOf(f *os.File) (statKey, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return statKey{}, &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return keyOf(&st), nil
}

func keyOf(st *unix.Stat_t) statKey {
	return statKey{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		ctimeS: st.Ctim.Sec, ctimeN: st.Ctim.Nsec,
		mtimeS: st.Mtim.Sec, mtimeN: st.Mtim.Nsec,
	}
}

func (c *batchCache) get(path string, k statKey) (writeback.Batch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path]
	if !ok || e.key != k {
		return writeback.Batch{}, false
	}
	return cloneBatch(e.b), true
}

// put caches b, read from a file of key k whose read started at readAt,
// unless the file changed too shortly before readAt.
func (c *batchCache) put(path string, k statKey, b writeback.Batch, readAt time.Time) {
	if !k.settledBefore(readAt) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedBatches {
		c.m = map[string]cachedBatch{}
	}
	c.m[path] = cachedBatch{key: k, b: cloneBatch(b)}
}

// cloneBatch copies the slices so callers cannot change the cached value.
func cloneBatch(b writeback.Batch) writeback.Batch {
	b.Tracks = slices.Clone(b.Tracks)
	return b
}

// statMemo keeps what was last read from a directory with the
// directory's stat: a file renamed into it, renamed away or removed
// changes the directory's mtime and ctime, so an unchanged stat means an
// unchanged directory. A directory changed less than racyMargin before it
// was read is not memoized (a change in the same timestamp tick would keep
// its stat). The batches listing (the board of 10,000 batches does not
// stat every declaration per request) and the event log's segments
// listing (a group commit does not read the directory again) use it.
type statMemo[T any] struct {
	mu    sync.Mutex
	key   statKey
	val   T
	valid bool
}

// get returns the value memoized for the directory's stat key, or reads
// it, memoizing it if the directory had not changed for racyMargin at now()
// (taken before the read). The value returned is shared with the memo:
// callers do not change it.
func (m *statMemo[T]) get(key statKey, now func() time.Time, read func() (T, error)) (T, error) {
	m.mu.Lock()
	if m.valid && m.key == key {
		v := m.val
		m.mu.Unlock()
		return v, nil
	}
	m.mu.Unlock()
	readAt := now()
	v, err := read()
	if err != nil {
		return v, err
	}
	m.mu.Lock()
	m.key, m.val, m.valid = key, v, key.settledBefore(readAt)
	m.mu.Unlock()
	return v, nil
}

// ListBatches implements writeback.BatchLister: the declarations under
// memory/events/batches, each with its file's modification time. A
// missing directory lists nothing; temporary files and names that are no
// batch id are skipped.
func (l *Ledger) ListBatches(ctx context.Context) ([]writeback.BatchEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir))
	key, err := statOf(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []writeback.BatchEntry{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "list batches")
	}
	out, err := l.batchList.get(key, l.now, func() ([]writeback.BatchEntry, error) { return readBatchDir(dir) })
	if err != nil {
		return nil, err
	}
	return slices.Clone(out), nil
}

func readBatchDir(dir string) ([]writeback.BatchEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []writeback.BatchEntry{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "list batches")
	}
	out := make([]writeback.BatchEntry, 0, len(entries))
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(id, ".") || writeback.CheckBatchID(id) != nil {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced or removed meanwhile
		}
		if err != nil {
			return nil, settle.Wrap(settle.Internal, err, "list batches")
		}
		out = append(out, writeback.BatchEntry{BatchID: id, DeclaredAt: fi.ModTime()})
	}
	return out, nil
}
