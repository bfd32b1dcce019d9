// Package durable is settle's one durable-write helper. Nothing else in the
// tree calls os.Rename, os.Link or writes a ledger:
//
//   - WriteFile: tmp (a name no other process can pick) + write + fsync +
//     close + rename + fsync of the directory; the tmp is removed on error.
//   - CreateFile: the same, but never replaces: the final name is linked,
//     so exactly one of several racing writers creates the file.
//   - Append: one write of whole lines + fsync, for a file whose exclusive
//     lock the caller holds.
//   - Lock: an exclusive flock on a file that is never renamed or deleted.
//
// Every error from write, fsync, close or rename is returned, never
// swallowed. Failpoints (see failpoint.go) let crash tests stop a writer
// between any two steps.
package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

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

// LockFile opens (creating if needed) path and takes an exclusive flock on
// it, waiting as long as another process holds it. The file is never
// renamed or deleted by settle.
func LockFile(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := Flock(f); err != nil {
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

// Flock takes an exclusive flock on an open file, retrying on EINTR.
func Flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("flock: %w", err)
		}
		return nil
	}
}

// Funlock releases a flock taken with Flock.
func Funlock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
