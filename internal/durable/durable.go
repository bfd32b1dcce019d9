// Package durable is settle's one durable-write helper. Nothing else in the
// tree calls os.Rename, os.Link or writes a ledger:
//
//   - WriteFile: tmp (a name no other process can pick) + write + fsync +
//     close + rename + fsync of the directory; the tmp is removed on error.
//   - CreateFile: the same, but never replaces: the final name is linked,
//     so exactly one of several racing writers creates the file.
//   - Append: one write of whole lines + fsync, for a file whose exclusive
//     lock the caller holds.
//   - Lock: an exclusive flock on a file that is never renamed or deleted,
//     and FlockContext, the one bounded, cancellable lock wait.
//
// Every error from write, fsync, close or rename is returned, never
// swallowed. Failpoints (see failpoint.go) let crash tests stop a writer
// between any two steps.
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
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for fsync: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return d.Close()
}

// writeTmp writes data to a fresh tmp file beside path and fsyncs it.
func writeTmp(path string, data []byte, perm os.FileMode) (string, error) {
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
	if _, err := writeAll(f, data); err != nil {
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
	if err := hit("before-rename"); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename: %w", err)
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
	if err := hit("before-append"); err != nil {
		return err
	}
	if _, err := writeAll(f, data); err != nil {
		return fmt.Errorf("append: %w", err)
	}
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
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
			return settle.Wrap(settle.EUNAVAILABLE, ctx.Err(), "waiting for the lock on %s", f.Name())
		case <-deadline:
			return settle.Errorf(settle.EUNAVAILABLE, "lock on %s still held by another process after %s", f.Name(), timeout)
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
		return settle.Wrap(settle.EINTERNAL, err, "flock %s", f.Name())
	}
}

// Funlock releases a flock taken with FlockContext.
func Funlock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
