package settle_test

import (
	"fmt"
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
		if settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want INVALID_INPUT %q", c.path, err, c.want)
		}
	}
	if _, err := settle.ReadInputFile(filepath.Join(dir, "missing"), "MaxTest", 100); settle.ErrorCode(err) != settle.NotFound {
		t.Errorf("missing file: %v", err)
	}
	// A stream (standard input) is cut at limit+1 bytes.
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := settle.ReadInput(f, "standard input", "MaxTest", 100); settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxTest") {
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
	if settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxJSONDepth") {
		t.Fatalf("depth %d: %v", settle.MaxJSONDepth+1, err)
	}
	_, err = settle.ParseInput(nest(10), "MaxTest", 5)
	if settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxTest") {
		t.Fatalf("over the size limit: %v", err)
	}
	// A syntax error is returned uncoded, for the caller to code.
	if _, err := settle.ParseInput([]byte("{"), "MaxTest", 10); err == nil || settle.ErrorCode(err) != settle.Internal {
		t.Fatalf("syntax error: %v", err)
	}
}

// TestLimitsDocTable: docs/limits.md lists every limit of settle.Limits
// with its value, and nothing else.
func TestLimitsDocTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("docs", "limits.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`Max") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	if len(rows) != len(settle.Limits) {
		t.Errorf("docs/limits.md has %d rows, settle.Limits %d", len(rows), len(settle.Limits))
	}
	for _, l := range settle.Limits {
		want := fmt.Sprintf("%d %s", l.Value, l.Unit)
		if l.Unit == "bytes" {
			switch {
			case l.Value%(1<<20) == 0:
				want = fmt.Sprintf("%d MiB", l.Value>>20)
			case l.Value%(1<<10) == 0:
				want = fmt.Sprintf("%d KiB", l.Value>>10)
			}
		}
		if got, ok := rows[l.Name]; !ok || got != want {
			t.Errorf("docs/limits.md: %s is %q, want %q", l.Name, got, want)
		}
	}
}
