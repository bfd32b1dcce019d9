package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/internal/testenv"
)

// TestHardeningI_DBTextEscape: dbText is injective, keeps valid UTF-8
// without U+0000 and U+0001 as it is, always writes valid UTF-8 without
// U+0000 (what text holds), and fromDBText
// inverts it. Random strings over a small alphabet rich in the two
// control characters; SETTLE_TEST_SEED replays a run.
func TestHardeningI_DBTextEscape(t *testing.T) {
	for _, s := range []string{"", "task-1", "é😀", "a\x00b", "a\x010b", "\x01", "\x00", "\x01\x01", "\x010", "x\x01", "a\xffb", "\xed\xa0\x80", "\x01xff", "\x01x"} {
		e := dbText(s)
		if fromDBText(e) != s {
			t.Fatalf("fromDBText(dbText(%q)) = %q", s, fromDBText(e))
		}
		if strings.IndexByte(e, 0) >= 0 || !utf8.ValidString(e) {
			t.Fatalf("dbText(%q) = %q is not storable as text", s, e)
		}
	}
	if dbText("task-1") != "task-1" || dbText("a\x00b") != "a\x010b" || dbText("a\x010b") != "a\x01\x010b" {
		t.Fatalf("escape: %q %q", dbText("a\x00b"), dbText("a\x010b"))
	}
	r := testenv.Rand(t)
	alphabet := []byte{0, 1, '0', 'x', 'f', 0xc3, 0xa9, 0xff}
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
		if strings.IndexByte(e, 0) >= 0 || !utf8.ValidString(e) {
			t.Fatalf("dbText(%q) = %q is not storable as text", s, e)
		}
		if fromDBText(e) != s {
			t.Fatalf("fromDBText(dbText(%q)) = %q", s, fromDBText(e))
		}
	}
}
