package durable_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/settlehq/settle/internal/durable"
)

// Below the root no component is followed when it is a link; the root
// itself may be one, and a missing root is created.
func TestHardeningA_NoFollowUnderRoot(t *testing.T) {
	base := t.TempDir()
	root, out := filepath.Join(base, "root"), filepath.Join(base, "out")
	for _, d := range []string{filepath.Join(root, "a"), out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(out, filepath.Join(root, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "f"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "f"), filepath.Join(root, "a", "flink")); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		durable.MkdirUnder(root, filepath.Join(root, "a", "link", "new"), 0o755),
		durable.CheckUnder(root, filepath.Join(root, "a", "link", "x", "y")),
		durable.CheckUnder(root, filepath.Join(root, "a", "flink")),
		func() error { _, err := durable.ReadFile(filepath.Join(root, "a", "flink")); return err }(),
		func() error {
			_, err := durable.LockFile(context.Background(), filepath.Join(root, "a", "flink"), 0)
			return err
		}(),
		func() error {
			_, err := durable.Open(filepath.Join(root, "a", "flink"), os.O_RDWR|os.O_APPEND, 0)
			return err
		}(),
	} {
		if !errors.Is(err, durable.ErrSymlink) {
			t.Errorf("err = %v, want ErrSymlink", err)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Fatalf("outside has %d entries, want only f", len(ents))
	}
	// A linked root, missing directories below it, a path outside it.
	lroot := filepath.Join(base, "lroot")
	if err := os.Symlink(root, lroot); err != nil {
		t.Fatal(err)
	}
	if err := durable.MkdirUnder(lroot, filepath.Join(lroot, "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "b", "c")); err != nil || !fi.IsDir() {
		t.Fatalf("b/c not created: %v", err)
	}
	if err := durable.MkdirUnder(filepath.Join(base, "fresh"), filepath.Join(base, "fresh", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := durable.CheckUnder(root, filepath.Join(out, "f")); err != nil {
		t.Fatalf("a regular file outside the root: %v", err)
	}
	if err := durable.CheckUnder(root, filepath.Join(root, "a", "flink2")); err != nil {
		t.Fatalf("a missing file: %v", err)
	}
	// Below a regular file nothing exists: not a refusal.
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := durable.CheckUnder(root, filepath.Join(root, "file", "x", "y")); err != nil {
		t.Fatalf("a path below a file: %v", err)
	}
}
