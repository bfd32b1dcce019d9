package postgres

import "strings"

// PostgreSQL's text type cannot hold U+0000, which a task, track or batch
// id may contain (JSON allows it and the file store keeps it). The ledger's
// text columns are only derived from the record's exact line (kept as
// bytea), for the indexes, so they hold the strings escaped: U+0001 is
// the escape character, U+0001 itself is written U+0001 U+0001 and U+0000
// is written U+0001 '0'. The escape is injective, so an equality on the
// escaped column is the equality of the strings, and a string without
// U+0000 and U+0001 (every id in practice) is stored as it is. Migration
// 0002 escapes U+0001 in rows written before.

// dbText is s as a ledger text column holds it.
func dbText(s string) string {
	if strings.IndexByte(s, 0) < 0 && strings.IndexByte(s, 1) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b.WriteString("\x010")
		case 1:
			b.WriteString("\x01\x01")
		default:
			b.WriteByte(c)
		}
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
		if s[i] == 1 && i+1 < len(s) && (s[i+1] == 1 || s[i+1] == '0') {
			if s[i+1] == '0' {
				b.WriteByte(0)
			} else {
				b.WriteByte(1)
			}
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
