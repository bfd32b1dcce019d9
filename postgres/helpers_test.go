package postgres_test

import (
	"context"
	"io"
	"log/slog"
	mrand "math/rand"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/writeback"
)

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newSchema returns a fresh schema name, dropped at cleanup.
func newSchema(t testing.TB) string {
	t.Helper()
	return testenv.PostgresSchema(t, "t_")
}

// openStore opens a store on schema (a new schema when ""), closed at
// cleanup.
func openStore(t testing.TB, schema string, cfg writeback.Config) *postgres.Store {
	t.Helper()
	if schema == "" {
		schema = newSchema(t)
	}
	s, err := postgres.Open(ctx, postgres.Options{URL: testenv.PostgresDSN(t), Schema: schema, Config: cfg, Logger: quiet(), MaxConns: 8})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// opened returns s, which its opener returned with err, failing t on the
// error, and closes it at cleanup.
func opened[S io.Closer](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRand(seed int64) *mrand.Rand { return mrand.New(mrand.NewSource(seed)) }
