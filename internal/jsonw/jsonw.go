package jsonw

import (
	"encoding/json"
	"strconv"
)

// String appends s as json.Marshal encodes it. Plain ASCII is copied as
// is; a string with anything encoding/json escapes (control characters,
// '"', '\\', '<', '>', '&') or any byte beyond ASCII (invalid UTF-8,
// U+2028 and U+2029 are escaped too) goes through json.Marshal itself, so
// every string comes out byte for byte as json.Marshal gives it.
func String(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// StringPtr appends *p, or null for nil.
func StringPtr(dst []byte, p *string) []byte {
	if p == nil {
		return append(dst, "null"...)
	}
	return String(dst, *p)
}

// Strings appends ss as a JSON array, or null for a nil slice.
func Strings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = String(dst, s)
	}
	return append(dst, ']')
}

// Bool appends true or false.
func Bool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }

// Int appends n.
func Int(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// Field appends the member name key (plain ASCII, no escapes) with its
// colon, after a comma unless it is the object's first member.
func Field(dst []byte, key string) []byte {
	if len(dst) > 0 && dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}
