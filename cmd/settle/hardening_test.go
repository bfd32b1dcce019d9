package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// hdEnv is the environment of the hardening tests' commands on root.
func hdEnv(root string) map[string]string {
	return map[string]string{"SETTLE_ROOT": root, "SETTLE_COLLECTOR_KEYS": crashKey, "SETTLE_DEFAULT_CHAT_ID": "chat-0001"}
}

// hdLedger creates root's ledger file (empty) and returns its path.
func hdLedger(t *testing.T, root string) string {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hdVerdict writes a verdict file of task under dir.
func hdVerdict(t *testing.T, dir, task string) string {
	t.Helper()
	path := filepath.Join(dir, task+".json")
	if err := os.WriteFile(path, crashVerdict(task), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hdStderr copies a child's stderr into a buffer and signals waiting once
// a line says a lock is held by another process: the child's readiness
// signal that it is inside the lock wait.
type hdStderr struct {
	mu      sync.Mutex
	text    strings.Builder
	waiting chan struct{}
	done    chan struct{}
}

func hdWatch(r io.Reader) *hdStderr {
	s := &hdStderr{waiting: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.mu.Lock()
			s.text.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), "locked by another process") {
				select {
				case s.waiting <- struct{}{}:
				default:
				}
			}
		}
	}()
	return s
}

func (s *hdStderr) String() string {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// TestHardeningH_SignalsAndLockWaits: no blocking wait is unbounded. A CLI
// write-back waiting for another process's ledger lock ends promptly on
// SIGTERM; --lock-timeout bounds the wait; a FIFO verdict file is refused
// without being opened for a blocking read; a server whose store waits for
// the lock exits within its --shutdown-timeout.
func TestHardeningH_SignalsAndLockWaits(t *testing.T) {
	bin := settleBinary(t)

	t.Run("CLISigterm", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		v := hdVerdict(t, t.TempDir(), "task-1")
		testenv.HoldFlock(t, ledger)
		cmd := exec.Command(bin, "writeback", "--batch", "B1", v)
		cmd.Env = append(os.Environ(), "SETTLE_CONFIG=", "SETTLE_STORE=", "SETTLE_LOCK_TIMEOUT=", "SETTLE_ROOT="+root,
			"SETTLE_COLLECTOR_KEYS="+crashKey, "SETTLE_DEFAULT_CHAT_ID=chat-0001", "SETTLE_LOG_LEVEL=info")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		errs := hdWatch(stderr)
		exited := make(chan error, 1)
		go func() { <-errs.done; exited <- cmd.Wait() }()
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
			}
		})
		testenv.Within(t, errs.waiting, 30*time.Second, "reaching the lock wait")
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err = testenv.Within(t, exited, 10*time.Second, "settle writeback after SIGTERM")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, errs)
		}
		if out := errs.String(); !strings.Contains(out, "UNAVAILABLE") || !strings.Contains(out, "context canceled") {
			t.Fatalf("stderr after SIGTERM:\n%s", out)
		}
		if fi, err := os.Stat(ledger); err != nil || fi.Size() != 0 {
			t.Fatalf("ledger after an interrupted write-back: %v %v", fi.Size(), err)
		}
	})

	t.Run("LockTimeout", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		v := hdVerdict(t, t.TempDir(), "task-1")
		testenv.HoldFlock(t, ledger)
		done := make(chan [2]any, 1)
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--lock-timeout", "100ms", "--batch", "B1", v)
			done <- [2]any{stderr, code}
		}()
		r := testenv.Within(t, done, 10*time.Second, "writeback --lock-timeout 100ms")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "UNAVAILABLE") || !strings.Contains(stderr, "still held") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
		env := hdEnv(root)
		env["SETTLE_LOCK_TIMEOUT"] = "soon"
		if _, stderr, code := run(t, env, "records"); code != 1 || !strings.Contains(stderr, "INVALID_INPUT") {
			t.Fatalf("bad SETTLE_LOCK_TIMEOUT: exit %d %q", code, stderr)
		}
	})

	t.Run("FIFOVerdict", func(t *testing.T) {
		root := t.TempDir()
		fifo := filepath.Join(t.TempDir(), "verdict.json")
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan [2]any, 1)
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--batch", "B1", fifo)
			done <- [2]any{stderr, code}
		}()
		r := testenv.Within(t, done, 10*time.Second, "writeback of a FIFO")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "INVALID_INPUT") || !strings.Contains(stderr, "not a regular file") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--batch", "B1", "--expect", "@"+fifo, hdVerdict(t, root, "task-1"))
			done <- [2]any{stderr, code}
		}()
		r = testenv.Within(t, done, 10*time.Second, "--expect @FIFO")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "not a regular file") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
	})

	t.Run("ServerShutdown", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		config := serverConfig(t, root)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		errs := hdWatch(r)
		p := startServeWith(t, bin, config, w, "--log-level", "info", "--shutdown-timeout", "1s")
		w.Close() // the server holds its own copy
		c := p.client(t, "tok-collector")
		testenv.HoldFlock(t, ledger)
		go c.Writeback(context.Background(), writeback.WritebackRequest{Binding: storetest.Binding("task-1", "T1", "B1")})
		testenv.Within(t, errs.waiting, 30*time.Second, "the server's store reaching the lock wait")
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The lock stays held and the lock timeout is the default 30s: the
		// server must still be gone soon after its 1s shutdown timeout.
		testenv.Within(t, p.done, 15*time.Second, "settle serve after SIGTERM")
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("server exited %s after SIGTERM with --shutdown-timeout 1s", d)
		}
		if fi, err := os.Stat(ledger); err != nil || fi.Size() != 0 {
			t.Fatalf("ledger after an interrupted write-back: %v %v", fi.Size(), err)
		}
	})
}

// roMount mounts a tmpfs at a new directory and returns it with a function
// remounting it read-only; both unmounted at cleanup. It skips loudly
// (fails under CI=true) where mounting is impossible.
func roMount(t *testing.T) (dir string, readOnly func()) {
	t.Helper()
	dir = t.TempDir()
	if err := unix.Mount("settle-test", dir, "tmpfs", 0, "size=16m"); err != nil {
		testenv.Unavailable(t, "cannot mount a tmpfs for a read-only filesystem ("+err.Error()+"); run as root")
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir, func() {
		t.Helper()
		if err := unix.Mount("settle-test", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount read-only: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("the remounted tmpfs is writable: %v", err)
		}
	}
}

// TestHardeningG_ReadOnlyWorkspace: on a read-only filesystem the read-only
// commands work (records, fsck, registry history and classify, batch
// summary and status of a consolidated batch, writeback --dry-run, scene
// reads) and a write fails with a clear code instead of INTERNAL.
func TestHardeningG_ReadOnlyWorkspace(t *testing.T) {
	root, readOnly := roMount(t)
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: writeback.Config{CollectorKeys: []string{crashKey}, DefaultChatID: "chat-0001"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := storetest.Binding("task-1", "T1", "B1")
	if out, err := l.Writeback(ctx, writeback.WritebackRequest{Binding: b}); err != nil || out.Decision.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("write-back: %+v %v", out.Decision, err)
	}
	tracks := []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}
	if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "B1", Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Settle(ctx, "B1", tracks, "T1"); err != nil || !out.FirstConsolidation {
		t.Fatalf("settle: %+v %v", out, err)
	}
	l.Close()
	verdict := hdVerdict(t, root, "task-2")
	readOnly()

	env := hdEnv(root)
	env["SETTLE_COLLECTOR_KEYS"] = storetest.Keys[0]
	for _, args := range [][]string{
		{"records"},
		{"records", "--kind", "durable", "--task", "task-1"},
		{"fsck"},
		{"registry", "history", "task-1"},
		{"registry", "classify", "task-1"},
		{"batch", "summary", "--batch", "B1"},
		{"batch", "status", "--batch", "B1"},
		{"writeback", "--batch", "B1", "--dry-run", verdict},
		{"scene", "list", "--project", "p", "--episode", "1"},
	} {
		if out, stderr, code := run(t, env, args...); code != 0 {
			t.Errorf("settle %s on a read-only filesystem: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
	}
	// A write is refused with a code that says why, not INTERNAL.
	_, stderr, code := run(t, env, "writeback", "--batch", "B1", verdict)
	if code != 1 || strings.Contains(stderr, string(settle.Internal)+":") {
		t.Fatalf("write-back on a read-only filesystem: exit %d %q", code, stderr)
	}
	var rep FsckReport
	out, _, code := run(t, env, "--json", "fsck")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Ledger == nil {
		t.Fatalf("fsck --json: exit %d %v %s", code, err, out)
	}
}
