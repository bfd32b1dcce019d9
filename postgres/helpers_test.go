package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	mrand "math/rand"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/writeback"
)

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testDSN returns the test database URL, or skips LOUDLY (fails under
// CI=true) when SETTLE_TEST_POSTGRES is not set.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SETTLE_TEST_POSTGRES")
	if dsn == "" {
		msg := "!!! SKIPPING POSTGRESQL TEST: SETTLE_TEST_POSTGRES is not set (run scripts/pg-test-db.sh and export SETTLE_TEST_POSTGRES=postgres://settle:settle@127.0.0.1:5432/settle_test?sslmode=disable) !!!"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// newSchema returns a fresh schema name, dropped at cleanup.
func newSchema(t testing.TB) string {
	t.Helper()
	dsn := testDSN(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openStore opens a store on schema (a new schema when ""), closed at
// cleanup.
func openStore(t testing.TB, schema string, cfg writeback.Config) *postgres.Store {
	t.Helper()
	if schema == "" {
		schema = newSchema(t)
	}
	s, err := postgres.Open(ctx, postgres.Options{URL: testDSN(t), Schema: schema, Config: cfg, Logger: quiet(), MaxConns: 8})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRand(seed int64) *mrand.Rand { return mrand.New(mrand.NewSource(seed)) }
