package settle_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	settle "github.com/settlehq/settle"
)

// TestHardeningJ_ReadInputFile: inputs are read up to their limit and no
// further; anything but a regular file is refused before it is read, a
// FIFO without waiting for a writer.
func TestHardeningJ_ReadInputFile(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at")
	over := filepath.Join(dir, "over")
	os.WriteFile(at, []byte(strings.Repeat("a", 100)), 0o644)
	os.WriteFile(over, []byte(strings.Repeat("a", 101)), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := settle.ReadInputFile(at, "MaxTest", 100)
	if err != nil || len(data) != 100 {
		t.Fatalf("file at the limit: %d bytes, %v", len(data), err)
	}
	for _, c := range []struct{ path, want string }{
		{over, "exceeds MaxTest (100)"},
		{"/dev/zero", "not a regular file (a device)"},
		{fifo, "not a regular file (a FIFO)"},
		{dir, "not a regular file (a directory)"},
	} {
		_, err := settle.ReadInputFile(c.path, "MaxTest", 100)
		if settle.ErrorCode(err) != settle.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want INVALID_INPUT %q", c.path, err, c.want)
		}
	}
	if _, err := settle.ReadInputFile(filepath.Join(dir, "missing"), "MaxTest", 100); settle.ErrorCode(err) != settle.ENOTFOUND {
		t.Errorf("missing file: %v", err)
	}
	// A stream (standard input) is cut at limit+1 bytes.
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := settle.ReadInput(f, "standard input", "MaxTest", 100); settle.ErrorCode(err) != settle.EINVALID || !strings.Contains(err.Error(), "MaxTest") {
		t.Errorf("endless stream: %v", err)
	}
}

// TestHardeningB_ParseInputDepth: ParseInput accepts MaxJSONDepth levels
// and refuses one more, naming the limit.
func TestHardeningB_ParseInputDepth(t *testing.T) {
	nest := func(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }
	if _, err := settle.ParseInput(nest(settle.MaxJSONDepth), "MaxTest", 1<<20); err != nil {
		t.Fatalf("depth %d: %v", settle.MaxJSONDepth, err)
	}
	_, err := settle.ParseInput(nest(settle.MaxJSONDepth+1), "MaxTest", 1<<20)
	if settle.ErrorCode(err) != settle.EINVALID || !strings.Contains(err.Error(), "MaxJSONDepth") {
		t.Fatalf("depth %d: %v", settle.MaxJSONDepth+1, err)
	}
	_, err = settle.ParseInput(nest(10), "MaxTest", 5)
	if settle.ErrorCode(err) != settle.EINVALID || !strings.Contains(err.Error(), "MaxTest") {
		t.Fatalf("over the size limit: %v", err)
	}
	// A syntax error is returned uncoded, for the caller to code.
	if _, err := settle.ParseInput([]byte("{"), "MaxTest", 10); err == nil || settle.ErrorCode(err) != settle.EINTERNAL {
		t.Fatalf("syntax error: %v", err)
	}
}
