package testenv

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records how a helper ended: it skipped, it failed, or it returned.
type fakeTB struct {
	testing.TB
	ended string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.ended = "skip"
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.ended = "fatal"
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.ended = "fatal"
	runtime.Goexit()
}

// run calls fn with a fake TB in its own goroutine (Skip and Fatal end
// it) and returns how it ended.
func run(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeTB{TB: t, ended: "returned"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.ended
}

func TestReferenceAbsentSkipsEvenUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	t.Setenv(RequireReferenceEnv, "")
	t.Setenv("SETTLE_REFERENCE_DIR", filepath.Join(t.TempDir(), "none"))
	if got := run(t, func(tb testing.TB) { ReferenceDir(tb, "m.py") }); got != "skip" {
		t.Fatalf("ReferenceDir with the reference absent under CI=true: %s, want skip", got)
	}
	var ok bool
	if got := run(t, func(tb testing.TB) { _, ok = Reference(tb, "m.py") }); got != "returned" || ok {
		t.Fatalf("Reference with the reference absent: %s ok=%v, want returned ok=false", got, ok)
	}
}

func TestReferenceAbsentFailsWhenRequired(t *testing.T) {
	t.Setenv(RequireReferenceEnv, "1")
	t.Setenv("SETTLE_REFERENCE_DIR", filepath.Join(t.TempDir(), "none"))
	if got := run(t, func(tb testing.TB) { Reference(tb, "m.py") }); got != "fatal" {
		t.Fatalf("Reference with a required reference absent: %s, want fatal", got)
	}
}

func TestReferencePresentRuns(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not in PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CI", "true")
	t.Setenv(RequireReferenceEnv, "1")
	t.Setenv("SETTLE_REFERENCE_DIR", dir)
	var got string
	if how := run(t, func(tb testing.TB) { got = ReferenceDir(tb, "m.py") }); how != "returned" || got != dir {
		t.Fatalf("ReferenceDir with the reference present: %s %q, want returned %q", how, got, dir)
	}
}

func TestCorpusRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c", "x.jsonl.gz")
	lines := [][]byte{[]byte(`{"a": 1}`), []byte(`{"b": "\u00e9"}`)}
	WriteCorpus(t, path, lines)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := ReadCorpus(t, path)
	if len(got) != 2 || string(got[0]) != string(lines[0]) || string(got[1]) != string(lines[1]) {
		t.Fatalf("ReadCorpus = %q", got)
	}
	WriteCorpus(t, path, lines)
	second, _ := os.ReadFile(path)
	if string(first) != string(second) {
		t.Fatal("the same lines gave different corpus bytes")
	}
}

func TestSeedReplaysFromEnv(t *testing.T) {
	t.Setenv(SeedEnv, "12345")
	if got := Seed(t); got != 12345 {
		t.Fatalf("Seed = %d with %s=12345", got, SeedEnv)
	}
	t.Setenv(SeedEnv, "x")
	if ended := run(t, func(tb testing.TB) { Seed(tb) }); ended != "fatal" {
		t.Fatalf("a malformed %s: Seed %s, want fatal", SeedEnv, ended)
	}
}

func TestUntilIsBounded(t *testing.T) {
	n := 0
	Until(t, time.Second, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	if ended := run(t, func(tb testing.TB) { Until(tb, 10*time.Millisecond, func() bool { return false }) }); ended != "fatal" {
		t.Fatalf("a condition that never holds: Until %s, want fatal", ended)
	}
}

// TestFeedDeliversAndEnds: Feed delivers what produce emits in order, and
// its cleanup returns only after produce did, even when produce was held
// by a full channel.
func TestFeedDeliversAndEnds(t *testing.T) {
	var stopped atomic.Bool
	t.Run("feed", func(t *testing.T) {
		ch := Feed(t, 1, func(ctx context.Context, emit func(int)) {
			for i := 0; ctx.Err() == nil; i++ {
				emit(i)
			}
			stopped.Store(true)
		})
		for want := range 3 {
			if got := <-ch; got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		}
	})
	if !stopped.Load() {
		t.Fatal("produce still runs after the cleanup")
	}
}

// TestSnapshotSkips: Snapshot hashes every file, leaves out the files skip
// names and the whole of the directories it names, and changes with a
// file's content.
func TestSnapshotSkips(t *testing.T) {
	root := t.TempDir()
	for name, text := range map[string]string{"a": "1", "d/b": "2", "d/b.lock": "", "in/c": "3"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	skip := func(rel string, d fs.DirEntry) bool {
		return d.IsDir() && rel == "in" || filepath.Ext(rel) == ".lock"
	}
	before := Snapshot(t, root, skip)
	if len(before) != 2 || before["a"] == "" || before["d/b"] == "" {
		t.Fatalf("snapshot %v, want a and d/b", before)
	}
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := Snapshot(t, root, skip); after["a"] == before["a"] {
		t.Fatal("a written, same hash")
	}
}
