package durable_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
)

func TestPoisonAfterAppendCutsBack(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\npartial"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ps durable.Poison
	if ps.Poisoned() || ps.Err() != nil {
		t.Fatal("zero Poison is poisoned")
	}
	boom := errors.New("fsync: input/output error")
	if err := ps.AfterAppend(f, boom, 4); err != nil {
		t.Fatal(err)
	}
	ps.Set(errors.New("later"))
	if !ps.Poisoned() || ps.Err() != boom {
		t.Fatalf("poison %v, want the first error", ps.Err())
	}
	if got, _ := os.ReadFile(p); string(got) != "a\nb\n" {
		t.Fatalf("file %q, want cut back to offset 4", got)
	}
}

func TestRepairTornSavesSidecars(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ps durable.Poison
	for i, torn := range []string{"tor", "again"} {
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("a\n"+torn), 0); err != nil {
			t.Fatal(err)
		}
		tail, err := durable.RepairTorn(f, p, 2, int64(2+len(torn)), &ps)
		if err != nil {
			t.Fatal(err)
		}
		want := p + ".torn-2"
		if i == 1 {
			want += ".1"
		}
		if tail.Sidecar != want || tail.Bytes != int64(len(torn)) || tail.Offset != 2 {
			t.Fatalf("repair %d: %+v, want sidecar %s", i, tail, want)
		}
		if got, _ := os.ReadFile(want); string(got) != torn {
			t.Fatalf("sidecar %q, want %q", got, torn)
		}
		if got, _ := os.ReadFile(p); string(got) != "a\n" {
			t.Fatalf("file %q after repair", got)
		}
	}
	if ps.Poisoned() {
		t.Fatal("a successful repair poisoned")
	}
	// A file that cannot be read at the tail's offset is INTERNAL.
	if _, err := durable.RepairTorn(f, p, 10, 12, &ps); settle.ErrorCode(err) != settle.Internal {
		t.Fatalf("repair past the end: %v, want INTERNAL", err)
	}
}
