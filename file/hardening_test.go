package file_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// lockWaitLog is a logger whose every "locked by another process" line
// signals waiting: the readiness signal of a lock wait in progress.
type lockWaitLog struct {
	waiting chan struct{}
}

func (w *lockWaitLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("locked by another process")) {
		select {
		case w.waiting <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func newLockWaitLog() (*lockWaitLog, *slog.Logger) {
	w := &lockWaitLog{waiting: make(chan struct{}, 1)}
	return w, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestHardeningH_LedgerLockWait: a ledger whose flock another process holds
// makes a write-back wait at most the lock timeout, end when its context
// is cancelled, and end when the store is closed; each is UNAVAILABLE.
// Reads and Check are bounded the same way.
func TestHardeningH_LedgerLockWait(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	file.AppendRawForTest(t, path, lgLine(t, storetest.Registry("task-0", writeback.StatusRegistered)))

	t.Run("timeout", func(t *testing.T) {
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet(), LockTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		release := testenv.HoldFlock(t, path)
		_, err = l.Writeback(lgCtx, lgReq(storetest.Binding("task-1", "T1", "B1")))
		hdWantStillHeld(t, err, "write-back under a held lock")
		file.AppendRawForTest(t, path, lgLine(t, storetest.Registry("task-2", writeback.StatusRegistered))) // new bytes: a read must lock
		if _, err := l.RegistryHistory(lgCtx, "task-2"); settle.ErrorCode(err) != settle.Unavailable {
			t.Fatalf("read under a held lock: %v", err)
		}
		if _, err := l.Check(lgCtx); settle.ErrorCode(err) != settle.Unavailable {
			t.Fatalf("Check under a held lock: %v", err)
		}
		release()
		// The store is not poisoned: once the lock is free it works.
		lgWantClass(t, lgWriteback(t, l, storetest.Binding("task-1", "T1", "B1")), writeback.DurableSuccessWritten, true)
		if h, err := l.RegistryHistory(lgCtx, "task-2"); err != nil || len(h) != 1 {
			t.Fatalf("history after release: %v %v", h, err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		w, log := newLockWaitLog()
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: log, LockTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		testenv.HoldFlock(t, path)
		ctx, cancel := context.WithCancel(lgCtx)
		done := make(chan error, 1)
		go func() {
			_, err := l.Writeback(ctx, lgReq(storetest.Binding("task-3", "T1", "B1")))
			done <- err
		}()
		testenv.Within(t, w.waiting, 10*time.Second, "reaching the lock wait")
		cancel()
		err = testenv.Within(t, done, 10*time.Second, "a cancelled lock wait")
		if settle.ErrorCode(err) != settle.Unavailable || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled write-back: %v", err)
		}
	})

	t.Run("close", func(t *testing.T) {
		w, log := newLockWaitLog()
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: log, LockTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		testenv.HoldFlock(t, path)
		done := make(chan error, 1)
		go func() {
			_, err := l.Writeback(lgCtx, lgReq(storetest.Binding("task-4", "T1", "B1")))
			done <- err
		}()
		testenv.Within(t, w.waiting, 10*time.Second, "reaching the lock wait")
		closed := make(chan error, 1)
		go func() { closed <- l.Close() }()
		if err := testenv.Within(t, closed, 10*time.Second, "Close during a lock wait"); err != nil {
			t.Fatal(err)
		}
		if err := testenv.Within(t, done, 10*time.Second, "the write-back"); settle.ErrorCode(err) != settle.Unavailable {
			t.Fatalf("write-back interrupted by Close: %v", err)
		}
	})
}

// TestHardeningG_ReadOnlyLedger: a ledger opened ReadOnly answers reads,
// creates and repairs nothing (a torn tail stays as it is, a missing
// ledger stays missing) and refuses every write with UNAVAILABLE.
func TestHardeningG_ReadOnlyLedger(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	// A missing ledger: an empty one, nothing created.
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := l.Records(lgCtx, writeback.RecordQuery{}); err != nil || len(p.Records) != 0 {
		t.Fatalf("records of a missing ledger: %v %v", p, err)
	}
	_, err = l.Writeback(lgCtx, lgReq(storetest.Binding("task-1", "T1", "B1")))
	storetest.WantCode(t, err, settle.Unavailable)
	storetest.WantCode(t, l.AppendRegistry(lgCtx, storetest.Registry("task-1", writeback.StatusRegistered)), settle.Unavailable)
	storetest.WantCode(t, l.DeclareBatch(lgCtx, writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}}), settle.Unavailable)
	l.Close()
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Fatalf("a read-only store created %v (%v)", ents, err)
	}

	// A ledger with a success and a torn tail.
	w := lgOpen(t, root)
	lgWriteback(t, w, storetest.Binding("task-1", "T1", "B1"))
	w.Close()
	file.AppendRawForTest(t, path, `{"schema": "callback_4tuple`)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err = file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, err := l.Classify(lgCtx, "task-1"); err != nil || c != writeback.ClassNormalCallbackCompleted {
		t.Fatalf("classify: %q %v", c, err)
	}
	d, err := l.Writeback(lgCtx, writeback.WritebackRequest{Binding: storetest.Binding("task-1", "T1", "B1"), DryRun: true})
	if err != nil || d.Decision.Classification != writeback.WritebackIdempotentSkip {
		t.Fatalf("dry run: %+v %v", d.Decision, err)
	}
	if _, err := l.Check(lgCtx); err != nil {
		t.Fatalf("check: %v", err)
	}
	// Settling would write the summary: refused, nothing written.
	_, err = l.Settle(lgCtx, "B1", []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}, "T1")
	storetest.WantCode(t, err, settle.Unavailable)
	_, err = l.Writeback(lgCtx, lgReq(storetest.Binding("task-2", "T1", "B1")))
	storetest.WantCode(t, err, settle.Unavailable)
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a read-only store changed the ledger")
	}
	if side, _ := filepath.Glob(path + ".torn-*"); len(side) != 0 {
		t.Fatalf("a read-only store wrote %v", side)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(writeback.SummariesRelDir))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only store created the summaries directory: %v", err)
	}
}

// TestHardeningH_LockTimeout: a scene batch lock or the event log's flock
// that another process holds makes a write wait at most the lock timeout
// (UNAVAILABLE), writing nothing, and the store works again once the lock
// is released. The ledger's is TestHardeningH_LedgerLockWait's "timeout".
func TestHardeningH_LockTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	t.Run("scenes", func(t *testing.T) {
		root := t.TempDir()
		s := scOpenWith(t, file.SceneOptions{Root: root, LockTimeout: timeout})
		sc := scGen(t, rand.New(rand.NewSource(1)), "B", 2)
		if _, err := s.WriteCandidate(lgCtx, storetest.Ref("B"), sc, "first", true); err != nil {
			t.Fatal(err)
		}
		before := scSnapshot(t, root)
		release := testenv.HoldFlock(t, scPath(root, storetest.Token+"_B.versions.lock"))
		_, err := s.WriteCandidate(lgCtx, storetest.Ref("B"), sc, "second", true)
		hdWantStillHeld(t, err, "candidate under a held batch lock")
		storetest.SameSnapshot(t, before, scSnapshot(t, root))
		release()
		if _, err := s.WriteCandidate(lgCtx, storetest.Ref("B"), sc, "second", true); err != nil {
			t.Fatalf("candidate after release: %v", err)
		}
	})
	t.Run("event log", func(t *testing.T) {
		root := t.TempDir()
		e := openEventsWith(t, file.EventsOptions{Root: root, Logger: lgQuiet(), LockTimeout: timeout})
		release := testenv.HoldFlock(t, filepath.Join(root, "memory", "events", "settle_events.jsonl"))
		_, err := e.Append(lgCtx, "test.event", map[string]any{"n": 1})
		hdWantStillHeld(t, err, "append under a held lock")
		release()
		if ev, err := e.Append(lgCtx, "test.event", map[string]any{"n": 2}); err != nil || ev.ID != 1 {
			t.Fatalf("append after release: %+v %v", ev, err)
		}
	})
}

// hdWantStillHeld fails t unless err is the UNAVAILABLE of a lock wait
// that gave up while another process held the lock.
func hdWantStillHeld(t *testing.T, err error, what string) {
	t.Helper()
	if settle.ErrorCode(err) != settle.Unavailable || !strings.Contains(err.Error(), "still held") {
		t.Fatalf("%s: %v", what, err)
	}
}
