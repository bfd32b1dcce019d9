package postgres

import (
	"strings"
	"unicode/utf8"
)

// PostgreSQL's text type cannot hold U+0000, which a task, track or batch
// id may contain (JSON allows it and the file store keeps it). The ledger's
// text columns are only derived from the record's exact line (kept as
// bytea), for the indexes, so they hold the strings escaped: U+0001 is
// the escape character, U+0001 itself is written U+0001 U+0001, U+0000 is
// written U+0001 '0', and a byte that is not UTF-8 (a lone surrogate a
// foreign ledger line may hold, which text cannot hold either) U+0001 'x'
// and two hex digits. The escape is injective, so an equality on the
// escaped column is the equality of the strings, and valid UTF-8 without
// U+0000 and U+0001 (every id in practice) is stored as it is. Migration
// 0002 escapes U+0001 in rows written before.

// dbText is s as a ledger text column holds it.
func dbText(s string) string {
	if strings.IndexByte(s, 0) < 0 && strings.IndexByte(s, 1) < 0 && utf8.ValidString(s) {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString("\x01x")
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&15])
		case r == 0:
			b.WriteString("\x010")
		case r == 1:
			b.WriteString("\x01\x01")
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// dbTextp is dbText of an optional column.
func dbTextp(s *string) *string {
	if s == nil {
		return nil
	}
	t := dbText(*s)
	return &t
}

// fromDBText is the string a ledger text column holds escaped (dbText's
// inverse; a stray escape is kept as it is).
func fromDBText(s string) string {
	if strings.IndexByte(s, 1) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == 1 && i+1 < len(s) {
			switch s[i+1] {
			case 1:
				b.WriteByte(1)
				i++
				continue
			case '0':
				b.WriteByte(0)
				i++
				continue
			case 'x':
				if i+3 < len(s) {
					if h, ok := unhex(s[i+2]); ok {
						if l, ok := unhex(s[i+3]); ok {
							b.WriteByte(h<<4 | l)
							i += 3
							continue
						}
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
