package postgres_test

import (
	"testing"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

func TestLedgerConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.RunLedger(t, func(t *testing.T, cfg writeback.Config) writeback.Store {
		return openStore(t, "", cfg)
	})
}

func TestLedgerConformanceShared(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.RunLedgerShared(t, func(t *testing.T, cfg writeback.Config, n int) []writeback.Store {
		schema := newSchema(t)
		var out []writeback.Store
		for range n {
			out = append(out, openStore(t, schema, cfg))
		}
		return out
	})
}

func TestEventsConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.RunEvents(t, func(t *testing.T) event.Log { return openStore(t, "", storetest.Config()) })
}

func TestEventsConformanceShared(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.RunEventsShared(t, func(t *testing.T, n int) []event.Log {
		schema := newSchema(t)
		var out []event.Log
		for range n {
			out = append(out, openStore(t, schema, storetest.Config()))
		}
		return out
	})
}

func TestScenesConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	storetest.RunScenes(t, func(t *testing.T) scene.Store { return openStore(t, "", storetest.Config()) })
}
