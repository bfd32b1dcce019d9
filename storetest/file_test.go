package storetest_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openFileLedger(t *testing.T, root string, cfg writeback.Config) *file.Ledger {
	t.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: cfg, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func openFileEvents(t *testing.T, root string) *file.Events {
	t.Helper()
	ev, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: quiet(), PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	return ev
}

func TestFileLedgerConformance(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T, cfg writeback.Config) writeback.Store {
		return openFileLedger(t, t.TempDir(), cfg)
	})
}

func TestFileLedgerConformanceShared(t *testing.T) {
	storetest.RunLedgerShared(t, func(t *testing.T, cfg writeback.Config, n int) []writeback.Store {
		root := t.TempDir()
		var out []writeback.Store
		for range n {
			out = append(out, openFileLedger(t, root, cfg))
		}
		return out
	})
}

func TestFileEventsConformance(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) event.Log { return openFileEvents(t, t.TempDir()) })
}

func TestFileEventsConformanceShared(t *testing.T) {
	storetest.RunEventsShared(t, func(t *testing.T, n int) []event.Log {
		root := t.TempDir()
		var out []event.Log
		for range n {
			out = append(out, openFileEvents(t, root))
		}
		return out
	})
}

func openFileScenes(t *testing.T, root string) *file.Scenes {
	t.Helper()
	s, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileScenesConformance(t *testing.T) {
	storetest.RunScenes(t, func(t *testing.T) scene.Store { return openFileScenes(t, t.TempDir()) })
}
