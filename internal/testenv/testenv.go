package testenv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
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

// RequireReferenceEnv, set to 1, makes a missing seed reference fail the
// tests that need it instead of skipping them.
const RequireReferenceEnv = "SETTLE_REQUIRE_REFERENCE"

var referenceNote sync.Once

// referencePath is the reference directory the tests look at.
func referencePath(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SETTLE_REFERENCE_DIR")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "reference", "py")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// Reference reports where the Python reference is, after checking marker
// (a path inside it, e.g. "anu_v3/batch_settle_writeback.py") exists and
// python3 is there. When the reference is absent it returns ok false, or
// fails t under SETTLE_REQUIRE_REFERENCE=1; a present reference without
// python3 skips t (fails under CI=true). Tests that can do part of their
// work without the reference call it first, so a required reference that
// is missing fails them before that work.
func Reference(t testing.TB, marker string) (dir string, ok bool) {
	t.Helper()
	abs := referencePath(t)
	if _, err := os.Stat(filepath.Join(abs, filepath.FromSlash(marker))); err != nil {
		if os.Getenv(RequireReferenceEnv) == "1" {
			t.Fatalf("!!! %s=1 but the Python seed reference is not at %s (set SETTLE_REFERENCE_DIR) !!!", RequireReferenceEnv, abs)
		}
		referenceNote.Do(func() {
			fmt.Fprintf(os.Stderr, "!!! the Python seed reference is not at %s: the live differential, multi-process and crash read-back tests SKIP; seed fidelity is checked by the TestCorpus tests only !!!\n", abs)
		})
		return "", false
	}
	Python(t)
	return abs, true
}

// ReferenceDir returns the absolute directory of the Python reference (see
// Reference), or skips t when it is absent (fails under
// SETTLE_REQUIRE_REFERENCE=1).
func ReferenceDir(t testing.TB, marker string) string {
	t.Helper()
	dir, ok := Reference(t, marker)
	if !ok {
		t.Skip("the Python seed reference is absent (SETTLE_REFERENCE_DIR): skipped; the TestCorpus tests check seed fidelity")
	}
	return dir
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

// RegenCorpusEnv, set to 1, makes the corpus generators (TestCorpusGenerate
// in each package that has a corpus) record the seed's answers again; they
// need the reference.
const RegenCorpusEnv = "SETTLE_REGEN_CORPUS"

// RegenCorpus reports whether the corpus generators should run; when they
// should not, it skips t.
func RegenCorpus(t testing.TB) {
	t.Helper()
	if os.Getenv(RegenCorpusEnv) != "1" {
		t.Skip("corpus generator: runs only with " + RegenCorpusEnv + "=1")
	}
}

// WriteCorpus writes lines (JSON documents without their newline) as a
// gzipped JSON Lines file. The gzip header carries no name or time, so the
// same lines give the same bytes.
func WriteCorpus(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if bytes.IndexByte(l, '\n') >= 0 {
			t.Fatalf("corpus line holds a newline: %.80q", l)
		}
		zw.Write(l)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d lines, %d bytes", path, len(lines), buf.Len())
}

// ReadCorpus returns the lines of a gzipped JSON Lines corpus file. A
// missing or unreadable corpus fails t: the corpus is part of the
// repository.
func ReadCorpus(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("corpus: %v (regenerate with %s=1 go test -run TestCorpusGenerate, which needs the seed reference)", err, RegenCorpusEnv)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("corpus %s: %v", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("corpus %s: %v", path, err)
	}
	var lines [][]byte
	for l := range bytes.SplitSeq(data, []byte{'\n'}) {
		if len(l) > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("corpus %s is empty", path)
	}
	return lines
}

// DirNames lists the names in dir, sorted; nil when dir does not exist.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Snapshot maps every file below root (its slash-separated path relative
// to root) to a hash of its content, so that two snapshots tell whether
// anything was created, written or removed. skip leaves out the files it
// names, and the whole of the directories it names.
func Snapshot(t testing.TB, root string, skip func(rel string, d fs.DirEntry) bool) map[string]string {
	t.Helper()
	tree := os.DirFS(root)
	out := map[string]string{}
	walk := func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case skip != nil && skip(rel, d) && d.IsDir():
			return fs.SkipDir
		case skip != nil && skip(rel, d) || d.IsDir():
			return nil
		}
		b, err := fs.ReadFile(tree, rel)
		h := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(h[:])
		return err
	}
	if err := fs.WalkDir(tree, ".", walk); err != nil {
		t.Fatal(err)
	}
	return out
}

// HoldFlock takes an exclusive flock on path (created if missing) through
// its own open file description, as another process would: flock locks
// conflict between descriptions even within one process. It is released
// by the returned func or at cleanup.
func HoldFlock(t testing.TB, path string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { f.Close() }) }
	t.Cleanup(release)
	return release
}

// Within fails the test unless ch yields within d: a bound on a wait that
// must end, not a synchronisation.
func Within[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not end within %s", what, d)
		panic("unreachable")
	}
}

// SeedEnv names the variable that replays a random test: set to the seed a
// failed run logged, every test calling Seed uses it.
const SeedEnv = "SETTLE_TEST_SEED"

// Seed returns the seed of a random test and logs it, so that a failure
// can be replayed: SETTLE_TEST_SEED if set, a fresh random seed otherwise.
func Seed(t testing.TB) int64 {
	t.Helper()
	if s := os.Getenv(SeedEnv); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not an int64: %v", SeedEnv, s, err)
		}
		t.Logf("seed %d (from %s)", seed, SeedEnv)
		return seed
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	seed := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	t.Logf("seed %d (replay with %s=%d)", seed, SeedEnv, seed)
	return seed
}

// Rand returns a generator seeded by Seed, which logs the seed.
func Rand(t testing.TB) *mrand.Rand {
	t.Helper()
	return mrand.New(mrand.NewSource(Seed(t)))
}

// RandString joins fewer than n pieces, each drawn at random from pieces:
// strings of the characters an encoder must escape, in any order.
func RandString(rng *mrand.Rand, pieces []string, n int) string {
	var b []byte
	for range rng.Intn(n) {
		b = append(b, pieces[rng.Intn(len(pieces))]...)
	}
	return string(b)
}

// Count is the positive whole number in the environment variable name,
// or def when it is unset: how many rounds or workers a test runs. Any
// other value fails the test.
func Count(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, s)
	}
	return n
}

// Until polls cond until it holds, failing the test when timeout passes
// first: a bounded wait for an event the test cannot be told of directly.
func Until(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the awaited condition did not hold within %s", timeout)
		}
		time.Sleep(delay)
	}
}

// Feed runs produce in its own goroutine and returns the channel of what
// it emits (buffered by buf). At cleanup the context produce runs with is
// cancelled, and the cleanup waits for produce to return; emit gives up
// once the context is done, so a full channel cannot hold produce.
func Feed[T any](t testing.TB, buf int, produce func(ctx context.Context, emit func(T))) <-chan T {
	t.Helper()
	ch := make(chan T, buf)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		produce(ctx, func(v T) {
			select {
			case ch <- v:
			case <-ctx.Done():
			}
		})
	}()
	return ch
}

// Buffer is a bytes.Buffer that goroutines may write and read at once,
// such as a server's log sink.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
