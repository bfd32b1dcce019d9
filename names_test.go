package settle_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
)

func TestHardeningK_CheckName(t *testing.T) {
	for _, ok := range []string{"B1", " B1", "BATCH_001", "SEQ_A", ".hidden", "é", "a.b", "x.tmp", strings.Repeat("n", settle.MaxNameBytes)} {
		if err := settle.CheckName("batch_id", ok); err != nil {
			t.Errorf("CheckName(%q) = %v, want accepted", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "/abs", "a/b", "a\\b", "a\x00b", "\xff", "x.tmp-1", strings.Repeat("n", settle.MaxNameBytes+1), strings.Repeat("é", 65)} {
		err := settle.CheckName("batch_id", bad)
		if settle.ErrorCode(err) != settle.InvalidInput || !strings.HasPrefix(settle.ErrorMessage(err), "batch_id") {
			t.Errorf("CheckName(%q) = %v, want INVALID_INPUT naming batch_id", bad, err)
		}
	}
}

// FuzzCheckName: an accepted name is one directory entry the filesystem
// takes, also with the longest suffix settle adds; a refused one never
// panics and is INVALID_INPUT.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"B1", "..", "a/b", "\x00", "x.tmp-", strings.Repeat("n", 128), strings.Repeat("n", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := settle.CheckName("batch_id", name)
		if err != nil {
			if settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("CheckName(%q) = %v", name, err)
			}
			return
		}
		if !utf8.ValidString(name) || len(name) > settle.MaxNameBytes || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
			t.Fatalf("CheckName accepted %q", name)
		}
		dir := t.TempDir()
		long := "ep_" + strings.Repeat("9", settle.MaxEpisodeBytes-3) + "_" + name + ".v999999999.json.tmp-4194304-0123456789ab"
		for _, n := range []string{name, long} {
			if err := os.Mkdir(filepath.Join(dir, n), 0o755); err != nil {
				t.Fatalf("accepted %q, but the filesystem refuses %q: %v", name, n, err)
			}
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 2 {
			t.Fatalf("%q did not name one entry: %v %v", name, ents, err)
		}
	})
}
