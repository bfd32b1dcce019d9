package pyjson

import (
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Equal reports Python equality (==) of two decoded values: numbers compare
// by value across Int, float64 and bool (True == 1 == 1.0), NaN equals
// nothing, objects compare as unordered dicts, arrays element-wise.
//
// One CPython detail is reproduced: containers compare their elements by
// identity first, and json.loads returns one shared float object for every
// "NaN" literal, so a NaN inside an array or object equals a NaN at the same
// place in the other (json.loads("[NaN]") == json.loads("[NaN]") is True)
// while Equal(NaN, NaN) at the top is false, as NaN == NaN is in Python.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool, Int, float64:
		return numEqual(x, b)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !SameKey(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i, k := range x.Keys() {
			yv, ok := y.Get(k)
			if !ok || !SameKey(x.vals[i], yv) {
				return false
			}
		}
		return true
	}
	return false
}

// SameKey is Equal as a container compares its members (CPython's
// PyObject_RichCompareBool: identity first): the NaN json.loads returns is
// one object, so two NaNs are the same dict key or list element although
// Equal(NaN, NaN) is false. A dict lookup, `in` on a list and duplicate
// detection use it; for values that are not Hashable only the list case
// applies.
func SameKey(a, b any) bool {
	if x, ok := a.(float64); ok && x != x {
		y, ok := b.(float64)
		return ok && y != y
	}
	return Equal(a, b)
}

func numEqual(a, b any) bool {
	switch y := b.(type) {
	case bool:
		if y {
			b = Int("1")
		} else {
			b = Int("0")
		}
	case Int, float64:
	default:
		return false
	}
	if x, ok := a.(bool); ok {
		if x {
			a = Int("1")
		} else {
			a = Int("0")
		}
	}
	switch x := a.(type) {
	case Int:
		switch y := b.(type) {
		case Int:
			if x == y {
				return true
			}
			if validInt(x) && validInt(y) {
				return false
			}
			bx, ok1 := new(big.Int).SetString(string(x), 10)
			by, ok2 := new(big.Int).SetString(string(y), 10)
			return ok1 && ok2 && bx.Cmp(by) == 0
		case float64:
			return intFloatEqual(x, y)
		}
	case float64:
		switch y := b.(type) {
		case Int:
			return intFloatEqual(y, x)
		case float64:
			return x == y
		}
	}
	return false
}

// intFloatEqual compares an integer literal and a float exactly, as Python
// compares int and float.
func intFloatEqual(i Int, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return false
	}
	if len(i) <= 18 && math.Abs(f) < 1e18 {
		n, err := strconv.ParseInt(string(i), 10, 64)
		if err == nil {
			return n == int64(f)
		}
	}
	bi, ok := new(big.Int).SetString(string(i), 10)
	if !ok {
		return false
	}
	bf, _ := new(big.Float).SetFloat64(f).Int(nil)
	return bi.Cmp(bf) == 0
}

// Hashable reports whether v can be a dict key in Python: every decoded
// value but a list ([]any) or a dict (*Object).
func Hashable(v any) bool {
	switch v.(type) {
	case []any, *Object:
		return false
	}
	return true
}

// Truthy reports Python truthiness: None, False, 0, 0.0, "", [], {} are false.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case Int:
		return x != "0" && x != "" && x != "-0"
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case *Object:
		return x.Len() > 0
	}
	return true
}

// Str returns Python's str(v) for a decoded value: strings as themselves,
// None, True, False, int digits, float repr, and Python's repr for lists and
// dicts ("[1, 'a']", "{'k': None}").
func Str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return string(appendRepr(nil, v, 0))
}

// Repr returns Python's repr(v) for a decoded value ("'a'" for a string).
func Repr(v any) string { return string(appendRepr(nil, v, 0)) }

func appendRepr(b []byte, v any, depth int) []byte {
	if depth > MaxDepth {
		return append(b, "..."...)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "None"...)
	case bool:
		if x {
			return append(b, "True"...)
		}
		return append(b, "False"...)
	case Int:
		return append(b, x...)
	case float64:
		return appendFloatOr(b, x, &reprNonFinite)
	case string:
		return appendStrRepr(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendRepr(b, e, depth+1)
		}
		return append(b, ']')
	case *Object:
		b = append(b, '{')
		for i, k := range x.Keys() {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendStrRepr(b, k)
			b = append(b, ": "...)
			b = appendRepr(b, x.vals[i], depth+1)
		}
		return append(b, '}')
	}
	return append(b, "<unsupported>"...)
}

// isPrintable is Python 3.11's str.isprintable() for one code point.
func isPrintable(r rune) bool {
	if r < 0x80 {
		return r >= 0x20 && r < 0x7f
	}
	i := sort.Search(len(nonPrintable), func(i int) bool { return nonPrintable[i][1] >= r })
	return i == len(nonPrintable) || r < nonPrintable[i][0]
}

// appendStrRepr appends Python's repr of a str (unicode_repr).
func appendStrRepr(b []byte, s string) []byte {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b = append(b, quote)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == quote || c == '\\':
				b = append(b, '\\', c)
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < ' ' || c == 0x7f:
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := decodeWTF8(s, i)
		switch {
		case r < 0:
			// Not representable in a Python str; show the byte as
			// surrogateescape would ('\udcXX').
			b = appendU4(b, 0xDC00|rune(c))
		case isPrintable(r):
			b = append(b, s[i:i+n]...)
		case r <= 0xFF:
			b = append(b, '\\', 'x', hexDigits[r>>4], hexDigits[r&0xF])
		case r <= 0xFFFF:
			b = appendU4(b, r)
		default:
			b = append(b, '\\', 'U')
			for sh := 28; sh >= 0; sh -= 4 {
				b = append(b, hexDigits[r>>sh&0xF])
			}
		}
		i += n
	}
	return append(b, quote)
}

// IsSpace reports whether r is whitespace for Python's str.strip/split
// (str.isspace: bidirectional class WS, B or S, or category Zs).
func IsSpace(r rune) bool {
	switch {
	case r <= ' ':
		return r == ' ' || (r >= '\t' && r <= '\r') || (r >= 0x1C && r <= 0x1F)
	case r < 0x85:
		return false
	}
	switch r {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// Strip returns s without leading and trailing Python whitespace (str.strip()).
func Strip(s string) string {
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			if !IsSpace(rune(c)) {
				break
			}
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRuneInString(s)
		if !IsSpace(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		if c < utf8.RuneSelf {
			if !IsSpace(rune(c)) {
				break
			}
			s = s[:len(s)-1]
			continue
		}
		r, n := utf8.DecodeLastRuneInString(s)
		if !IsSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

// Fields splits s around runs of Python whitespace (str.split()).
func Fields(s string) []string {
	return strings.FieldsFunc(s, IsSpace)
}
