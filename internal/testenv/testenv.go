// Package testenv gives tests the outside things some of them need, with one
// rule for when they are missing: the test skips with a loud message, except
// under CI=true, where it fails (CI must never silently skip them).
//
//   - The Python reference (the seed modules, runnable) and python3, for the
//     differential tests: SETTLE_REFERENCE_DIR, default
//     <repo root>/../shared/reference/py.
//   - A PostgreSQL test database: SETTLE_TEST_POSTGRES
//     (scripts/pg-test-db.sh creates one), with a fresh schema per test.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Unavailable skips t with a loud message, or fails it under CI=true.
func Unavailable(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("!!! CANNOT RUN UNDER CI=true: " + what + " !!!")
	}
	t.Skip("!!! SKIPPING: " + what + " !!!")
}

// RepoRoot returns the directory holding go.mod above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Python returns the python3 interpreter, or skips (fails under CI=true).
func Python(t testing.TB) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		Unavailable(t, "python3 not found in PATH")
	}
	return py
}

// ReferenceDir returns the absolute directory of the Python reference, after
// checking python3 and that marker (a path inside the reference, e.g.
// "anu_v3/batch_settle_writeback.py") exists; else it skips (fails under
// CI=true).
func ReferenceDir(t testing.TB, marker string) string {
	t.Helper()
	Python(t)
	dir := os.Getenv("SETTLE_REFERENCE_DIR")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "reference", "py")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, filepath.FromSlash(marker))); err != nil {
		Unavailable(t, "the Python seed reference is not at "+abs+" (set SETTLE_REFERENCE_DIR)")
	}
	return abs
}

// PostgresDSN returns SETTLE_TEST_POSTGRES, or skips (fails under CI=true).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SETTLE_TEST_POSTGRES")
	if dsn == "" {
		Unavailable(t, "PostgreSQL test: SETTLE_TEST_POSTGRES is not set (run scripts/pg-test-db.sh and export SETTLE_TEST_POSTGRES=postgres://settle:settle@127.0.0.1:5432/settle_test?sslmode=disable)")
	}
	return dsn
}

// PostgresSchema returns a fresh schema name with the prefix, dropped at
// cleanup.
func PostgresSchema(t testing.TB, prefix string) string {
	t.Helper()
	dsn := PostgresDSN(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// PostgresURL returns the test database URL with search_path set to a
// fresh schema (dropped at cleanup), as a user would pass to --store.
func PostgresURL(t testing.TB, prefix string) string {
	t.Helper()
	schema := PostgresSchema(t, prefix)
	u, err := url.Parse(PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
