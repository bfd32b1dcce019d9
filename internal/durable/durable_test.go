package durable_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
)

func listDir(t *testing.T, dir string) []string { return testenv.DirNames(t, dir) }

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	for _, body := range []string{"first", "second, longer body", "3"} {
		if err := durable.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != body {
			t.Fatalf("read %q, %v; want %q", got, err, body)
		}
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("leftover files: %v", names)
	}
}

func TestFailpointsAbortAndRemoveTmp(t *testing.T) {
	for _, step := range []string{"tmp-created", "before-fsync", "before-rename"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.json")
			if err := durable.WriteFile(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			durable.SetFailpoint(step, func() error { return boom })
			err := durable.WriteFile(p, []byte("new"), 0o644)
			durable.SetFailpoint(step, nil)
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the failpoint's error", err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != "old" {
				t.Fatalf("file = %q after an aborted write, want the old content", got)
			}
			if names := listDir(t, dir); len(names) != 1 {
				t.Fatalf("tmp not removed on error: %v", names)
			}
		})
	}
}

func TestWriteFileErrorIsReturned(t *testing.T) {
	dir := t.TempDir()
	// The directory does not exist: the error must be returned, not swallowed.
	if err := durable.WriteFile(filepath.Join(dir, "missing", "a"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	// A target that is a non-empty directory cannot be replaced.
	target := filepath.Join(dir, "d")
	os.MkdirAll(filepath.Join(target, "x"), 0o755)
	if err := durable.WriteFile(target, []byte("x"), 0o644); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("tmp not removed after a failed rename: %v", names)
	}
}

func TestCreateFileExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "summary.json")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	var winner string
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := strings.Repeat(string(rune('a'+i%26)), 100+i)
			ok, err := durable.CreateFile(p, []byte(body), 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				created++
				winner = body
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d writers created the file, want exactly 1", created)
	}
	got, _ := os.ReadFile(p)
	if string(got) != winner {
		t.Fatal("file content is not the creator's")
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("leftover tmp files: %v", names)
	}
	ok, err := durable.CreateFile(p, []byte("late"), 0o644)
	if ok || err != nil {
		t.Fatalf("CreateFile over an existing file: created=%v err=%v", ok, err)
	}
}

func TestAppendAndLock(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ledger.jsonl")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				l, err := durable.LockFile(context.Background(), p+".lock", 0)
				if err != nil {
					t.Error(err)
					return
				}
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				if err := durable.Append(f, []byte("{\"k\": 1}\n{\"k\": 2}\n")); err != nil {
					t.Error(err)
				}
				f.Close()
				l.Unlock()
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 8*20*2 {
		t.Fatalf("%d lines, want %d", len(lines), 8*20*2)
	}
	for i, l := range lines {
		want := `{"k": 1}`
		if i%2 == 1 {
			want = `{"k": 2}`
		}
		if l != want {
			t.Fatalf("line %d = %q: appends interleaved", i, l)
		}
	}
	boom := errors.New("boom")
	durable.SetFailpoint("before-append", func() error { return boom })
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
	err := durable.Append(f, []byte("x\n"))
	f.Close()
	durable.SetFailpoint("before-append", nil)
	if !errors.Is(err, boom) {
		t.Fatalf("append failpoint: %v", err)
	}
}

func TestMkdirAll(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "c")
	if err := durable.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Fatalf("not created: %v", err)
	}
	if err := durable.MkdirAll(p, 0o755); err != nil {
		t.Fatalf("second MkdirAll: %v", err)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if err := durable.MkdirAll(f, 0o755); err == nil {
		t.Fatal("MkdirAll over a file succeeded")
	}
}

// TestHardeningH_FlockContext: a lock wait ends with UNAVAILABLE on its
// timeout or when its context is cancelled, and succeeds once the holder
// releases the lock. flock locks belong to open file descriptions, so two
// opens of one file conflict within this process.
func TestHardeningH_FlockContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	holder, err := durable.LockFile(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if ok, err := durable.TryFlock(f, unix.LOCK_SH); ok || err != nil {
		t.Fatalf("TryFlock on a held lock = %v, %v", ok, err)
	}
	err = durable.FlockContext(context.Background(), f, unix.LOCK_EX, 20*time.Millisecond)
	if settle.ErrorCode(err) != settle.Unavailable || !strings.Contains(err.Error(), "still held") {
		t.Fatalf("timeout: %v", err)
	}
	if _, err := durable.LockFile(context.Background(), p, 20*time.Millisecond); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("LockFile timeout: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- durable.FlockContext(ctx, f, unix.LOCK_SH, -1) }()
	cancel()
	if err := <-done; settle.ErrorCode(err) != settle.Unavailable || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}

	go func() { done <- durable.FlockContext(context.Background(), f, unix.LOCK_SH, -1) }()
	if err := holder.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait after release: %v", err)
	}
	if err := durable.Funlock(f); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFileFunc: a streamed write replaces the file like WriteFile;
// an error from the writer or a failpoint leaves the old file and no tmp.
func TestWriteFileFunc(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.idx")
	write := func(body string) func(w io.Writer) error {
		return func(w io.Writer) error {
			for i := range body {
				if _, err := w.Write([]byte{body[i]}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if err := durable.WriteFileFunc(p, 0o644, write("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := durable.WriteFileFunc(p, 0o644, func(w io.Writer) error { w.Write([]byte("half")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	for _, step := range []string{"tmp-created", "before-fsync", "before-rename"} {
		durable.SetFailpoint(step, func() error { return boom })
		err := durable.WriteFileFunc(p, 0o644, write("new"))
		durable.SetFailpoint(step, nil)
		if !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v, want the failpoint's error", step, err)
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("file = %q after failed writes, want the old content", got)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("tmp not removed on error: %v", names)
	}
	if err := durable.WriteFileFunc(p, 0o644, write("new body")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new body" {
		t.Fatalf("file = %q, want the new body", got)
	}
}

// TestLockerWaitsLogsAndStops: a Locker tells OnWait once the lock is
// held elsewhere and gives up with UNAVAILABLE when Stopped is done.
func TestLockerWaitsLogsAndStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	holder, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := unix.Flock(int(holder.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stopped, stop := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	k := durable.Locker{Timeout: -1, Stopped: stopped, OnWait: func(*os.File, time.Duration) { close(waiting) }}
	done := make(chan error)
	go func() { done <- k.Flock(context.Background(), f, unix.LOCK_SH) }()
	<-waiting
	stop()
	if err := <-done; settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("flock after stop: %v, want UNAVAILABLE", err)
	}
	unix.Flock(int(holder.Fd()), unix.LOCK_UN)
	if err := k.Flock(context.Background(), f, unix.LOCK_SH); err != nil {
		t.Fatalf("flock of a free file: %v", err)
	}
}

// TestOnLockWait: the OnLockWait function runs before every wait for a
// held flock (Locker.Flock, FlockContext, LockFile) and before the
// Locker's OnWait, and never when the lock is free.
func TestOnLockWait(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	durable.OnLockWait(func() {
		mu.Lock()
		calls = append(calls, "hook")
		mu.Unlock()
	})
	defer durable.OnLockWait(nil)
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), calls...)
	}

	p := filepath.Join(t.TempDir(), "lock")
	free, err := durable.LockFile(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := free.Unlock(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k := durable.Locker{Timeout: -1, OnWait: func(*os.File, time.Duration) {
		mu.Lock()
		calls = append(calls, "onwait")
		mu.Unlock()
	}}
	if err := k.Flock(context.Background(), f, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if err := durable.Funlock(f); err != nil {
		t.Fatal(err)
	}
	if c := got(); len(c) != 0 {
		t.Fatalf("free locks called %v", c)
	}

	holder, err := durable.LockFile(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.Flock(cancelled, f, unix.LOCK_SH); !errors.Is(err, context.Canceled) {
		t.Fatalf("Locker.Flock on a held lock, cancelled: %v", err)
	}
	// Locker.Flock: the hook before OnWait, then FlockContext's own.
	if c := strings.Join(got(), ","); c != "hook,onwait,hook" {
		t.Fatalf("calls %s, want hook,onwait,hook", c)
	}
	if _, err := durable.LockFile(cancelled, p, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("LockFile on a held lock, cancelled: %v", err)
	}
	if c := strings.Join(got(), ","); c != "hook,onwait,hook,hook" {
		t.Fatalf("calls %s after LockFile", c)
	}
}

// The writes and reads on raw descriptors classify their errors as the os
// package does: callers test them with errors.Is.
func TestRawDescriptorErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := durable.ReadFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file: %v, want ErrNotExist", err)
	}
	if err := durable.WriteFile(filepath.Join(missing, "a"), []byte("x"), 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile into a missing directory: %v, want ErrNotExist", err)
	}
	if err := durable.SyncDir(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory: %v, want ErrNotExist", err)
	}
	if _, err := durable.LockFile(context.Background(), filepath.Join(missing, "l"), time.Second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LockFile in a missing directory: %v, want ErrNotExist", err)
	}
	target := filepath.Join(dir, "t")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := durable.ReadFile(link); !errors.Is(err, durable.ErrSymlink) {
		t.Fatalf("ReadFile of a link: %v, want ErrSymlink", err)
	}
	if _, err := durable.LockFile(context.Background(), link, time.Second); !errors.Is(err, durable.ErrSymlink) {
		t.Fatalf("LockFile of a link: %v, want ErrSymlink", err)
	}
	// A file larger than one read, and an empty one, come back whole.
	big := make([]byte, 1<<20+3)
	for i := range big {
		big[i] = byte(i)
	}
	for _, data := range [][]byte{big, {}} {
		p := filepath.Join(dir, "data")
		if err := durable.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := durable.ReadFile(p)
		if err != nil || string(got) != string(data) {
			t.Fatalf("ReadFile: %d bytes, %v; want %d", len(got), err, len(data))
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
		}
	}
	if names := listDir(t, dir); len(names) != 3 {
		t.Fatalf("files left: %v", names)
	}
}

// TestCopyRange: a range of a file reaches a file (in the kernel, through
// WriteFileFunc as a seal uses it) and any other writer (read and written)
// byte for byte; the source's offset does not move; a range past the end
// is an error.
func TestCopyRange(t *testing.T) {
	rng := testenv.Rand(t)
	dir := t.TempDir()
	src := make([]byte, 3<<20+rng.Intn(1<<16))
	for i := range src {
		src[i] = byte(rng.Intn(256))
	}
	sp := filepath.Join(dir, "src")
	if err := os.WriteFile(sp, src, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(sp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		off := rng.Int63n(int64(len(src)))
		n := rng.Int63n(int64(len(src)) - off + 1)
		want := src[off : off+n]
		dst := filepath.Join(dir, "dst")
		if err := durable.WriteFileFunc(dst, 0o644, func(w io.Writer) error { return durable.CopyRange(w, f, off, n) }); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(dst); err != nil || string(got) != string(want) {
			t.Fatalf("file copy of [%d,+%d): %d bytes, err %v", off, n, len(got), err)
		}
		var buf strings.Builder
		if err := durable.CopyRange(&buf, f, off, n); err != nil || buf.String() != string(want) {
			t.Fatalf("writer copy of [%d,+%d): %d bytes, err %v", off, n, buf.Len(), err)
		}
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 7 {
		t.Fatalf("source offset moved to %d", pos)
	}
	out, err := os.Create(filepath.Join(dir, "past"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, w := range []io.Writer{io.Discard, out} {
		if err := durable.CopyRange(w, f, int64(len(src))-10, 20); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%T: a range past the end: %v", w, err)
		}
	}
}

// TestWriteTmpThenReplaceBoth: two files written off a lock as tmp files
// and renamed later, both with one directory fsync; a failed rename leaves
// no tmp file.
func TestWriteTmpThenReplaceBoth(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.idx"), filepath.Join(dir, "a.idxlog")
	write := func(path, body string) string {
		tmp, err := durable.WriteTmpFunc(path, 0o644, func(w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(tmp, durable.TmpMarker) || filepath.Dir(tmp) != filepath.Dir(path) {
			t.Fatalf("tmp %s: not a tmp name beside %s", tmp, path)
		}
		return tmp
	}
	ta, tb := write(a, "base"), write(b, "log")
	if got := listDir(t, dir); len(got) != 2 {
		t.Fatalf("before the renames: %v", got)
	}
	if err := durable.ReplaceBoth(ta, a, tb, b); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "base", b: "log"} {
		if got, err := os.ReadFile(p); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("after the renames: %v", got)
	}
	// The second rename fails (its target is a non-empty directory):
	// the first stays done, the second tmp is removed.
	ta, tb = write(a, "base 2"), write(filepath.Join(dir, "d"), "x")
	if err := os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := durable.ReplaceBoth(ta, a, tb, filepath.Join(dir, "d")); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	if got, _ := os.ReadFile(a); string(got) != "base 2" {
		t.Errorf("first file = %q after the second rename failed", got)
	}
	for _, n := range listDir(t, dir) {
		if strings.Contains(n, durable.TmpMarker) {
			t.Errorf("tmp file left: %s", n)
		}
	}
	// Different directories are refused before anything is renamed.
	if err := os.Mkdir(filepath.Join(dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	ta, tb = write(a, "base 3"), write(filepath.Join(dir, "other", "x"), "x")
	if err := durable.ReplaceBoth(ta, a, tb, filepath.Join(dir, "other", "x")); err == nil {
		t.Fatal("ReplaceBoth across directories succeeded")
	}
	if got, _ := os.ReadFile(a); string(got) != "base 2" {
		t.Errorf("first file = %q after a refused pair", got)
	}
}

// TestSweepTmp removes the tmp files of a path whose writer is gone, and
// keeps those of a live process and of other paths.
func TestSweepTmp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ledger.idx")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := func(base string, pid int) string {
		return fmt.Sprintf("%s%s%d-00aa11bb22cc", base, durable.TmpMarker, pid)
	}
	files := map[string]bool{ // name: removed
		name("ledger.idx", dead.Process.Pid):    true,
		"ledger.idx" + durable.TmpMarker + "x":  true, // no pid: the writer cannot be alive
		name("ledger.idx", os.Getpid()):         false,
		name("ledger.idx", os.Getppid()):        false,
		name("ledger.idxlog", dead.Process.Pid): false, // another path's
		name("other.idx", dead.Process.Pid):     false,
		"ledger.idx":                            false,
	}
	for n := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := durable.SweepTmp(p)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("SweepTmp removed %d files, want 2", n)
	}
	for f, removed := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if gone := os.IsNotExist(err); gone != removed {
			t.Errorf("%s: removed %v, want %v", f, gone, removed)
		}
	}
	if !durable.TmpWriterGone(name("x", dead.Process.Pid)) || durable.TmpWriterGone(name("x", os.Getpid())) {
		t.Error("TmpWriterGone: wrong answer for a dead or a live pid")
	}
}
