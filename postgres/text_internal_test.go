package postgres

import (
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestHardeningI_DBTextEscape: dbText is injective, keeps every string
// without U+0000 and U+0001 as it is, never writes U+0000, and fromDBText
// inverts it. Random strings over a small alphabet rich in the two
// control characters; SETTLE_TEST_SEED replays a run.
func TestHardeningI_DBTextEscape(t *testing.T) {
	for _, s := range []string{"", "task-1", "é😀", "a\x00b", "a\x010b", "\x01", "\x00", "\x01\x01", "\x010", "x\x01"} {
		e := dbText(s)
		if fromDBText(e) != s {
			t.Fatalf("fromDBText(dbText(%q)) = %q", s, fromDBText(e))
		}
		for i := 0; i < len(e); i++ {
			if e[i] == 0 {
				t.Fatalf("dbText(%q) = %q holds U+0000", s, e)
			}
		}
	}
	if dbText("task-1") != "task-1" || dbText("a\x00b") != "a\x010b" || dbText("a\x010b") != "a\x01\x010b" {
		t.Fatalf("escape: %q %q", dbText("a\x00b"), dbText("a\x010b"))
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv("SETTLE_TEST_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("seed %d (SETTLE_TEST_SEED replays it)", seed)
	r := rand.New(rand.NewSource(seed))
	alphabet := []byte{0, 1, '0', 'a', 0xc3, 0xa9}
	seen := map[string]string{}
	for range 20000 {
		b := make([]byte, r.Intn(7))
		for i := range b {
			b[i] = alphabet[r.Intn(len(alphabet))]
		}
		s := string(b)
		e := dbText(s)
		if prev, ok := seen[e]; ok && prev != s {
			t.Fatalf("dbText(%q) == dbText(%q) == %q", s, prev, e)
		}
		seen[e] = s
		if fromDBText(e) != s {
			t.Fatalf("fromDBText(dbText(%q)) = %q", s, fromDBText(e))
		}
	}
}
