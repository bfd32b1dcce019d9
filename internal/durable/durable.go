package durable

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	settle "github.com/settlehq/settle"

	"golang.org/x/sys/unix"
)

// TmpMarker is part of every temporary file name: "<name>.tmp-<pid>-<rand>".
const TmpMarker = ".tmp-"

func tmpName(path string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return path + TmpMarker + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// MkdirAll creates dir and its parents, fsyncing each directory it creates
// and the parent it was created in, so a new directory survives a crash.
func MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	return SyncDir(parent)
}

// SyncDir fsyncs a directory so that a rename, link or create in it is
// durable.
func SyncDir(dir string) error {
	// A raw descriptor: os.Open would also try (and fail) to register a
	// directory with the poller, five system calls a write does not need.
	fd, err := openRaw(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open dir for fsync: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	if err := fsyncRaw(fd); err != nil {
		unix.Close(fd)
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: dir, Err: err}
	}
	return nil
}

// openRaw is open(2) with O_CLOEXEC, retried on EINTR.
func openRaw(path string, flag int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fsyncRaw is fsync(2), retried on EINTR as os.File.Sync does.
func fsyncRaw(fd int) error {
	for {
		err := unix.Fsync(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

// writeRaw writes all of data to fd (a short write is retried from where
// it stopped, as os.File.Write does; no progress is io.ErrShortWrite).
func writeRaw(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// writeTmp writes data to a fresh tmp file beside path and fsyncs it.
// It is WriteTmpFunc on a raw descriptor: os.OpenFile would also try (and
// fail) to register the file with the poller, five system calls more per
// write, a tenth of a small scene save.
func writeTmp(path string, data []byte, perm os.FileMode) (string, error) {
	tmp := tmpName(path)
	fd, err := openRaw(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, uint32(perm.Perm()))
	if err != nil {
		return "", fmt.Errorf("create tmp: %w", &os.PathError{Op: "open", Path: tmp, Err: err})
	}
	fail := func(err error) (string, error) {
		unix.Close(fd)
		os.Remove(tmp)
		return "", err
	}
	if err := hit("tmp-created"); err != nil {
		return fail(err)
	}
	if err := writeRaw(fd, data); err != nil {
		return fail(fmt.Errorf("write tmp: %w", &os.PathError{Op: "write", Path: tmp, Err: err}))
	}
	if err := hit("before-fsync"); err != nil {
		return fail(err)
	}
	if err := fsyncRaw(fd); err != nil {
		return fail(fmt.Errorf("fsync tmp: %w", &os.PathError{Op: "sync", Path: tmp, Err: err}))
	}
	if err := unix.Close(fd); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("close tmp: %w", &os.PathError{Op: "close", Path: tmp, Err: err})
	}
	return tmp, nil
}

// WriteTmpFunc writes a fresh tmp file beside path with write, fsyncs it
// and returns its name, without renaming it: the first half of
// WriteFileFunc. A store that builds a large file off its lock writes it
// here and renames it in (ReplaceBoth) once it holds the lock.
func WriteTmpFunc(path string, perm os.FileMode, write func(w io.Writer) error) (string, error) {
	tmp := tmpName(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", fmt.Errorf("create tmp: %w", err)
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := hit("tmp-created"); err != nil {
		return fail(err)
	}
	if err := write(f); err != nil {
		return fail(fmt.Errorf("write tmp: %w", err))
	}
	if err := hit("before-fsync"); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync tmp: %w", err))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("close tmp: %w", err)
	}
	return tmp, nil
}

// WriteFile replaces path with data atomically and durably: tmp + fsync +
// rename + fsync of the directory. The directory must exist (see MkdirAll).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTmp(path, data, perm)
	if err != nil {
		return err
	}
	return replaceWith(tmp, path)
}

// WriteFileFunc is WriteFile for contents too large to hold in memory:
// write streams them into the tmp file (an error from it is returned and
// nothing is replaced).
func WriteFileFunc(path string, perm os.FileMode, write func(w io.Writer) error) error {
	tmp, err := WriteTmpFunc(path, perm, write)
	if err != nil {
		return err
	}
	return replaceWith(tmp, path)
}

// ReplaceBoth renames tmp1 over path1, then tmp2 over path2, then fsyncs
// their directory once (they must share it): two files replaced for the
// price of one directory fsync, for a pair whose readers check that the
// two belong together (a crash may keep either rename without the
// other). A failed rename removes the tmp files not renamed.
func ReplaceBoth(tmp1, path1, tmp2, path2 string) error {
	if filepath.Dir(path1) != filepath.Dir(path2) {
		os.Remove(tmp1)
		os.Remove(tmp2)
		return fmt.Errorf("replace: %s and %s are in different directories", path1, path2)
	}
	if err := hit("before-rename"); err != nil {
		os.Remove(tmp1)
		os.Remove(tmp2)
		return err
	}
	if err := unix.Rename(tmp1, path1); err != nil {
		os.Remove(tmp1)
		os.Remove(tmp2)
		return fmt.Errorf("rename: %w", &os.LinkError{Op: "rename", Old: tmp1, New: path1, Err: err})
	}
	return replaceWith(tmp2, path2)
}

// TmpWriterGone reports whether the process that wrote a tmp file
// ("<name>.tmp-<pid>-<rand>") no longer exists. A name without a pid (the
// seed's "<name>.tmp") counts as gone.
func TmpWriterGone(p string) bool {
	i := strings.LastIndex(p, TmpMarker)
	if i < 0 {
		return true
	}
	pidText, _, ok := strings.Cut(p[i+len(TmpMarker):], "-")
	if !ok {
		return true
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return true
	}
	return unix.Kill(pid, 0) == unix.ESRCH
}

// TmpFiles lists the regular files in dir named "<owner>.tmp-<pid>-<rand>"
// (tmp files of the file owner) for which owner(name) holds.
func TmpFiles(dir string, owner func(name string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if i := strings.LastIndex(name, TmpMarker); i >= 0 && e.Type().IsRegular() && owner(name[:i]) {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out, nil
}

// SweepTmp removes the tmp files of paths (all in one directory) left by
// processes that no longer exist (a crash between WriteTmpFunc and the
// rename), reading the directory once, and reports how many it removed.
// A tmp file of a live process, this one included, is kept.
func SweepTmp(paths ...string) (int, error) {
	if len(paths) == 0 {
		return 0, nil
	}
	dir := filepath.Dir(paths[0])
	owners := map[string]bool{}
	for _, p := range paths {
		if filepath.Dir(p) != dir {
			return 0, fmt.Errorf("sweep tmp: %s and %s are in different directories", paths[0], p)
		}
		owners[filepath.Base(p)] = true
	}
	tmps, err := TmpFiles(dir, func(name string) bool { return owners[name] })
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range tmps {
		if !TmpWriterGone(p) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

// replaceWith renames a written tmp file over path and fsyncs the directory.
func replaceWith(tmp, path string) error {
	if err := hit("before-rename"); err != nil {
		os.Remove(tmp)
		return err
	}
	// rename(2) itself: os.Rename first stats path to refuse a directory
	// there, which rename(2) refuses too (a tmp file is never a
	// directory).
	if err := unix.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename: %w", &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err})
	}
	if err := hit("before-dir-fsync"); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// CopyRange writes n bytes of src from offset off to w. When w is a file
// the kernel copies them (copy_file_range: no pass through this process's
// memory; src's file offset is not moved); where it cannot (another file
// system, an old kernel), the rest is read and written here.
func CopyRange(w io.Writer, src *os.File, off, n int64) error {
	if dst, ok := w.(*os.File); ok {
		for n > 0 {
			c, err := unix.CopyFileRange(int(src.Fd()), &off, int(dst.Fd()), nil, int(min(n, 1<<30)), 0)
			if err != nil {
				if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
					break
				}
				return &os.PathError{Op: "copy_file_range", Path: dst.Name(), Err: err}
			}
			if c == 0 {
				return fmt.Errorf("copy %s: %w", src.Name(), io.ErrUnexpectedEOF)
			}
			n -= int64(c)
		}
		if n == 0 {
			return nil
		}
	}
	c, err := io.Copy(w, io.NewSectionReader(src, off, n))
	if err == nil && c < n {
		err = fmt.Errorf("copy %s: %w", src.Name(), io.ErrUnexpectedEOF)
	}
	return err
}

// Remove removes path and fsyncs its directory, so the removal survives a
// crash once Remove returns.
func Remove(path string) error {
	if err := hit("before-remove"); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	if err := hit("before-dir-fsync"); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// CreateFile writes path atomically and durably only if it does not exist.
// It returns created=false, with no error, when path already exists: of
// several writers racing on one path exactly one creates it.
func CreateFile(path string, data []byte, perm os.FileMode) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	tmp, err := writeTmp(path, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := hit("before-rename"); err != nil {
		return false, err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("link: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return true, fmt.Errorf("remove tmp: %w", err)
	}
	if err := hit("before-dir-fsync"); err != nil {
		return true, err
	}
	return true, SyncDir(filepath.Dir(path))
}

// Append writes data (whole, newline-terminated records) to f at its end in
// one write and fsyncs it. The caller holds the file's exclusive lock.
// A short write or an fsync error is returned: the caller must not
// acknowledge the records and must treat the file's tail as unknown.
func Append(f *os.File, data []byte) error {
	if err := AppendWrite(f, data); err != nil {
		return err
	}
	return AppendSync(f)
}

// AppendWrite is Append's write alone: a pipelined writer writes the next
// group while the previous one is fsynced, and acknowledges neither before
// an AppendSync that follows both.
func AppendWrite(f *os.File, data []byte) error {
	if err := hit("before-append"); err != nil {
		return err
	}
	if _, err := writeAll(f, data); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

// AppendSync is Append's fsync alone; it covers every AppendWrite before it.
func AppendSync(f *os.File) error {
	if err := hit("before-fsync"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

func writeAll(w io.Writer, data []byte) (int, error) {
	n, err := w.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	return n, err
}

// Lock is an exclusive flock held on an open file.
type Lock struct{ f *os.File }

// DefaultLockTimeout bounds a lock wait whose timeout is 0: another
// process holding a lock for longer is taken to be stuck.
const DefaultLockTimeout = 30 * time.Second

// LockFile opens (creating if needed) path and takes an exclusive flock on
// it, waiting as FlockContext does. The file is never renamed or deleted
// by settle.
func LockFile(ctx context.Context, path string, timeout time.Duration) (*Lock, error) {
	// os.NewFile on a raw descriptor: a lock file is never read or
	// written, and os.OpenFile's poller registration costs five system
	// calls.
	fd, err := openRaw(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", symlinkErr(path, &os.PathError{Op: "open", Path: path, Err: err}))
	}
	f := os.NewFile(uintptr(fd), path)
	if err := FlockContext(ctx, f, unix.LOCK_EX, timeout); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock and closes the file.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Lock-wait polling: a blocking flock cannot be interrupted by a context,
// so the wait polls with LOCK_NB, backing off up to lockPollMax (the
// latency of noticing a release or a cancellation).
const (
	lockPollMin = 100 * time.Microsecond
	lockPollMax = 10 * time.Millisecond
)

// beforeWait is OnLockWait's function.
var beforeWait atomic.Pointer[func()]

// OnLockWait sets f to be called before any flock wait of the process
// begins (Locker.Flock, FlockContext, LockFile), possibly many times and
// from many goroutines. The settle command installs its signal handling
// there: a one-shot command that never waits for a lock then never starts
// os/signal's thread, and one that waits can still be interrupted.
func OnLockWait(f func()) {
	if f == nil {
		beforeWait.Store(nil)
		return
	}
	beforeWait.Store(&f)
}

// lockWaitBegins calls the OnLockWait function, if any.
func lockWaitBegins() {
	if f := beforeWait.Load(); f != nil {
		(*f)()
	}
}

// FlockContext takes a flock on f (how is unix.LOCK_EX or unix.LOCK_SH),
// waiting while another process holds a conflicting one, but at most
// timeout (0: DefaultLockTimeout; negative: no limit) and only while ctx is
// not done. Giving up is an UNAVAILABLE error: on timeout it says how long
// it waited, on cancellation it wraps ctx's error.
func FlockContext(ctx context.Context, f *os.File, how int, timeout time.Duration) error {
	err := flockNB(f, how)
	if err != unix.EWOULDBLOCK {
		return err
	}
	lockWaitBegins()
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		dt := time.NewTimer(timeout)
		defer dt.Stop()
		deadline = dt.C
	}
	poll := time.NewTimer(lockPollMin)
	defer poll.Stop()
	for wait := lockPollMin; ; {
		select {
		case <-ctx.Done():
			return settle.Wrap(settle.Unavailable, ctx.Err(), "waiting for the lock on %s", f.Name())
		case <-deadline:
			return settle.Errorf(settle.Unavailable, "lock on %s still held by another process after %s", f.Name(), timeout)
		case <-poll.C:
		}
		if err := flockNB(f, how); err != unix.EWOULDBLOCK {
			return err
		}
		if wait *= 2; wait > lockPollMax {
			wait = lockPollMax
		}
		poll.Reset(wait)
	}
}

// Locker takes a store's flocks: each wait is bounded by Timeout (as
// FlockContext's timeout) and ends when the caller's ctx or Stopped (the
// store's Close started) is done, and OnWait, if set, is told before a
// wait begins (a store logs it: a long wait is another process's lock).
type Locker struct {
	Timeout time.Duration
	Stopped context.Context
	OnWait  func(f *os.File, timeout time.Duration)
}

// Flock takes a flock on f (unix.LOCK_SH or unix.LOCK_EX).
func (k *Locker) Flock(ctx context.Context, f *os.File, how int) error {
	if ok, err := TryFlock(f, how); ok || err != nil {
		return err
	}
	lockWaitBegins()
	if k.OnWait != nil {
		k.OnWait(f, k.Timeout)
	}
	if k.Stopped != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(k.Stopped, cancel)()
	}
	return FlockContext(ctx, f, how, k.Timeout)
}

// TryFlock takes a flock on f without waiting: false (and nil) when another
// process holds a conflicting one.
func TryFlock(f *os.File, how int) (bool, error) {
	switch err := flockNB(f, how); err {
	case nil:
		return true, nil
	case unix.EWOULDBLOCK:
		return false, nil
	default:
		return false, err
	}
}

// flockNB tries a flock without blocking, retrying on EINTR: nil, EWOULDBLOCK
// (held by another) or an INTERNAL error.
func flockNB(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch err {
		case nil, unix.EWOULDBLOCK:
			return err
		case unix.EINTR:
			continue
		}
		return settle.Wrap(settle.Internal, err, "flock %s", f.Name())
	}
}

// Funlock releases a flock taken with FlockContext.
func Funlock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// ErrSymlink is returned (wrapped) when a path settle would read, write or
// create goes through a symbolic link: below the workspace root settle
// never follows one.
var ErrSymlink = errors.New("symbolic link refused")

// symlinkErr turns O_NOFOLLOW's ELOOP on path into ErrSymlink.
func symlinkErr(path string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("%s: %w", path, ErrSymlink)
	}
	return err
}

// Open opens path like os.OpenFile but never through a symbolic link as
// its final component (O_NOFOLLOW): such a path is ErrSymlink.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW, perm)
	if err != nil {
		return nil, symlinkErr(path, err)
	}
	return f, nil
}

// ReadFile is os.ReadFile without following a symbolic link as the final
// component (ErrSymlink).
func ReadFile(path string) ([]byte, error) {
	// A raw descriptor, as writeTmp: no poller registration to undo.
	fd, err := openRaw(path, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, symlinkErr(path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	// Sized from the file's length, as os.ReadFile: one read instead of a
	// buffer doubled a dozen times for a large body.
	size := 512
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size < 1<<40 {
		size = int(st.Size) + 1 // +1: the read that finds the end
	}
	data := make([]byte, 0, size)
	for {
		n, err := unix.Read(fd, data[len(data):cap(data)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return data, nil
		}
		data = data[:len(data)+n]
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// under returns the components of path below root, or ok=false when path
// is not lexically below (or equal to) root.
func under(root, path string) (parts []string, ok bool) {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator) {
		return nil, false
	}
	if rel == "." {
		return nil, true
	}
	return splitPath(rel), true
}

func splitPath(rel string) []string {
	var parts []string
	for rel != "" {
		dir, base := filepath.Split(rel)
		parts = append([]string{base}, parts...)
		rel = filepath.Clean(dir)
		if rel == "." || rel == string(filepath.Separator) {
			break
		}
	}
	return parts
}

// CheckUnder refuses (ErrSymlink) a path below root any existing component
// of which, after root, is a symbolic link: root itself may be one (an
// operator's choice), nothing below it may. Components from the first
// missing one on are not checked (they are created by MkdirUnder). A path
// not below root is checked only for its final component.
func CheckUnder(root, path string) error {
	parts, ok := under(root, path)
	if !ok {
		fi, err := os.Lstat(path)
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s: %w", path, ErrSymlink)
		}
		return nil
	}
	p := filepath.Clean(root)
	for _, c := range parts {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			// Nothing further exists: the operation reports it as it
			// reports any missing file.
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s: %w", p, ErrSymlink)
		}
	}
	return nil
}

// MkdirUnder is MkdirAll for a directory below root that never goes
// through a symbolic link: each component below root is created if missing
// (fsyncing it and its parent) and refused (ErrSymlink) if it is a link. A
// dir not below root is created with MkdirAll.
func MkdirUnder(root, dir string, perm os.FileMode) error {
	parts, ok := under(root, dir)
	if !ok {
		return MkdirAll(dir, perm)
	}
	// The root (which may be a link) is created like any directory.
	if err := MkdirAll(root, perm); err != nil {
		return err
	}
	p := filepath.Clean(root)
	for _, c := range parts {
		parent := p
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&os.ModeSymlink != 0:
			return fmt.Errorf("%s: %w", p, ErrSymlink)
		case err == nil && !fi.IsDir():
			return fmt.Errorf("mkdir %s: not a directory", p)
		case err == nil:
			continue
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
		if err := os.Mkdir(p, perm); err != nil {
			if errors.Is(err, os.ErrExist) {
				// Created meanwhile: check what it is.
				fi, err := os.Lstat(p)
				if err != nil {
					return err
				}
				if fi.Mode()&os.ModeSymlink != 0 {
					return fmt.Errorf("%s: %w", p, ErrSymlink)
				}
				continue
			}
			return err
		}
		if err := SyncDir(parent); err != nil {
			return err
		}
	}
	return nil
}
