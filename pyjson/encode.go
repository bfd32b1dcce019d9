package pyjson

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Options selects the json.dumps flavour.
type Options struct {
	// Indent: <0 means no newlines (json.dumps indent=None); >=0 means
	// newline-and-indent with that many spaces (indent=0 gives newlines only).
	Indent int
	// SortKeys sorts object keys by code point (sort_keys=True).
	SortKeys bool
	// EnsureASCII escapes every non-ASCII character as \uXXXX, with
	// surrogate pairs beyond the BMP (ensure_ascii=True, Python's default).
	EnsureASCII bool
	// ItemSep and KeySep are the separators. Empty strings mean Python's
	// defaults: ", " and ": " without indent, "," and ": " with indent.
	ItemSep, KeySep string
	// EscapeLineSeps additionally escapes U+0085, U+2028 and U+2029 as
	// \uXXXX when EnsureASCII is false, so that Python's str.splitlines()
	// does not split a JSONL line inside a string. (Not a Python option.)
	EscapeLineSeps bool
}

// Encode encodes v as json.dumps(v, ...) does with the given options
// (allow_nan=True, check_circular aside).
// It returns an error for a value that is not of a pyjson type (see
// FromGo), for an Int that is not a canonical integer literal (or has more
// than MaxIntDigits digits, which Python's int refuses to print), for a
// string that is neither UTF-8 nor WTF-8, and for nesting deeper than
// MaxDepth.
func Encode(v any, opt Options) ([]byte, error) {
	b, err := AppendEncode(nil, v, opt)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendEncode is Encode appending to dst. On error it returns dst as it was.
func AppendEncode(dst []byte, v any, opt Options) ([]byte, error) {
	e := newEncoder(opt)
	b, err := e.value(dst, v, 0)
	if err != nil {
		return dst, err
	}
	return b, nil
}

type encoder struct {
	itemSep, keySep string
	indent          int // <0: none
	sortKeys        bool
	ascii           bool     // escape all non-ASCII
	lineSeps        bool     // escape U+0085, U+2028, U+2029
	surrogates      bool     // escape lone surrogates (MarshalJSON: valid UTF-8 out)
	noNaN           bool     // refuse NaN and infinities (allow_nan=False)
	keys            []string // stack of sorted key lists (SortKeys)
}

func newEncoder(opt Options) *encoder {
	e := &encoder{
		itemSep:  opt.ItemSep,
		keySep:   opt.KeySep,
		indent:   opt.Indent,
		sortKeys: opt.SortKeys,
		ascii:    opt.EnsureASCII,
		lineSeps: opt.EscapeLineSeps && !opt.EnsureASCII,
	}
	if e.itemSep == "" {
		if e.indent < 0 {
			e.itemSep = ", "
		} else {
			e.itemSep = ","
		}
	}
	if e.keySep == "" {
		e.keySep = ": "
	}
	return e
}

// newlineSpaces is a newline and the indentation of most lines, appended
// in one copy.
const newlineSpaces = "\n                                                                "

func (e *encoder) newline(b []byte, level int) []byte {
	n := e.indent * level
	if n < len(newlineSpaces) {
		return append(b, newlineSpaces[:1+n]...)
	}
	b = append(b, '\n')
	for n > 0 {
		const spaces = "                                "
		k := min(n, len(spaces))
		b = append(b, spaces[:k]...)
		n -= k
	}
	return b
}

func (e *encoder) value(b []byte, v any, level int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return e.str(b, x)
	case Int:
		if !validInt(x) {
			return b, fmt.Errorf("pyjson: encode: invalid Int %q", truncate(string(x)))
		}
		return append(b, x...), nil
	case float64:
		if e.noNaN && (math.IsNaN(x) || math.IsInf(x, 0)) {
			return b, fmt.Errorf("pyjson: encode: float %v is not JSON compliant", x)
		}
		return AppendFloat(b, x), nil
	case []any:
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		if level >= MaxDepth {
			return b, errTooDeep
		}
		b = append(b, '[')
		var err error
		for i, el := range x {
			b = e.itemStart(b, i, level+1)
			if b, err = e.value(b, el, level+1); err != nil {
				return b, err
			}
		}
		return e.end(b, ']', level), nil
	case *Object:
		if x.Len() == 0 {
			return append(b, "{}"...), nil
		}
		if level >= MaxDepth {
			return b, errTooDeep
		}
		keys := x.keys
		base := -1
		sorted := false
		if e.sortKeys && !slices.IsSorted(keys) {
			sorted = true
			// Sort a copy on the encoder's key stack (no allocation once
			// the stack has grown); nested objects push above it.
			base = len(e.keys) // on error the encoder is abandoned: no cleanup
			e.keys = append(e.keys, keys...)
			keys = e.keys[base:]
			slices.Sort(keys) // UTF-8 / WTF-8 byte order is code point order
		}
		b = append(b, '{')
		var err error
		for i, k := range keys {
			b = e.itemStart(b, i, level+1)
			if b, err = e.str(b, k); err != nil {
				return b, err
			}
			b = append(b, e.keySep...)
			v := x.vals[i]
			if sorted {
				v, _ = x.Get(k)
			}
			if b, err = e.value(b, v, level+1); err != nil {
				return b, err
			}
		}
		if base >= 0 {
			clear(e.keys[base:])
			e.keys = e.keys[:base]
		}
		return e.end(b, '}', level), nil
	default:
		return b, fmt.Errorf("pyjson: encode: unsupported type %T (convert with FromGo)", v)
	}
}

// itemStart appends what precedes item i of a list or object whose items
// are at level: the item separator but before the first, and with an
// indent a new line.
func (e *encoder) itemStart(b []byte, i, level int) []byte {
	if i > 0 {
		b = append(b, e.itemSep...)
	}
	if e.indent >= 0 {
		b = e.newline(b, level)
	}
	return b
}

// end appends the closing bracket of a list or object at level, with an
// indent on a line of its own.
func (e *encoder) end(b []byte, bracket byte, level int) []byte {
	if e.indent >= 0 {
		b = e.newline(b, level)
	}
	return append(b, bracket)
}

var errTooDeep = errors.New("pyjson: encode: nesting deeper than MaxDepth (or a cycle)")

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// validInt reports whether s is a canonical integer literal Python can print.
func validInt(s Int) bool {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	n := len(s) - i
	if n == 0 || n > MaxIntDigits {
		return false
	}
	if s[i] == '0' {
		return n == 1 && i == 0
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// escASCII[c] and escRaw[c] tell whether ASCII byte c needs an escape with
// ensure_ascii=True (everything outside ' '..'~', plus '"' and '\\') and
// with ensure_ascii=False (control characters, '"' and '\\').
var escASCII, escRaw [utf8.RuneSelf]bool

func init() {
	for c := 0; c < utf8.RuneSelf; c++ {
		escRaw[c] = c < 0x20 || c == '"' || c == '\\'
		escASCII[c] = escRaw[c] || c == 0x7f
	}
}

const hexDigits = "0123456789abcdef"

func appendU4(b []byte, r rune) []byte { return AppendU4(b, r) }

// AppendU4 appends r (< 0x10000) as Python writes an escape: \uXXXX with
// lowercase hex digits.
func AppendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// escapeLetter[c] is the letter of the one-letter escape json.dumps writes
// for c (0 for none); unescapeLetter[l] is the byte the escape \l stands
// for (0 for none): the decoder also reads \/, which no encoder writes.
var escapeLetter, unescapeLetter [256]byte

func init() {
	for _, p := range []string{`""`, `\\`, "\nn", "\rr", "\tt", "\bb", "\ff"} {
		escapeLetter[p[0]] = p[1]
		unescapeLetter[p[1]] = p[0]
	}
	unescapeLetter['/'] = '/'
}

// AppendEscapedASCII appends the escape Python's json.dumps writes for the
// ASCII byte c inside a string: \" \\ \n \r \t \b \f, or \u00XX for
// any other byte it escapes (control characters, and DEL or non-ASCII
// bytes when the caller escapes those).
func AppendEscapedASCII(b []byte, c byte) []byte {
	if l := escapeLetter[c]; l != 0 {
		return append(b, '\\', l)
	}
	return AppendU4(b, rune(c))
}

// decodeWTF8 decodes the code point at s[i:], accepting the three-byte
// encoding of a surrogate. It returns r < 0 for invalid bytes.
func decodeWTF8(s string, i int) (rune, int) {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r != utf8.RuneError || n != 1 {
		return r, n
	}
	if i+2 < len(s) && s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF {
		return 0xD000 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
	}
	return -1, 1
}

// str appends s as a JSON string literal (CPython's encode_basestring and
// encode_basestring_ascii).
func (e *encoder) str(b []byte, s string) ([]byte, error) {
	tbl := &escRaw
	if e.ascii {
		tbl = &escASCII
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !tbl[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = AppendEscapedASCII(b, c)
			i++
			start = i
			continue
		}
		r, n := decodeWTF8(s, i)
		if r < 0 {
			return b, fmt.Errorf("pyjson: encode: string is not UTF-8 (byte %#x at %d)", c, i)
		}
		surrogate := r >= 0xD800 && r <= 0xDFFF
		if e.ascii || (e.lineSeps && (r == 0x85 || r == 0x2028 || r == 0x2029)) || (e.surrogates && surrogate) {
			b = append(b, s[start:i]...)
			if r >= 0x10000 {
				r -= 0x10000
				b = appendU4(b, 0xD800|(r>>10)&0x3FF)
				b = appendU4(b, 0xDC00|r&0x3FF)
			} else {
				b = appendU4(b, r)
			}
			start = i + n
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// AppendFloat appends Python's repr of f as json.dumps writes it: the
// shortest digits that round-trip, fixed notation when the decimal exponent
// is in [-4, 16) (with ".0" for an integral value), otherwise d.ddde±XX;
// NaN, Infinity and -Infinity for the non-finite values.
func AppendFloat(b []byte, f float64) []byte {
	return appendFloatOr(b, f, &jsonNonFinite)
}

// jsonNonFinite and reprNonFinite are the words json.dumps and repr()
// write for NaN, Infinity and -Infinity.
var jsonNonFinite, reprNonFinite = [3]string{"NaN", "Infinity", "-Infinity"}, [3]string{"nan", "inf", "-inf"}

// appendFloatOr appends repr(f), or for a non-finite f its word in words.
func appendFloatOr(b []byte, f float64, words *[3]string) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, words[0]...)
	case math.IsInf(f, 1):
		return append(b, words[1]...)
	case math.IsInf(f, -1):
		return append(b, words[2]...)
	}
	return appendFloatRepr(b, f)
}

// appendFloatRepr appends repr(f) for a finite f.
func appendFloatRepr(b []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	// Split digits and exponent.
	var digs [24]byte
	nd := 0
	k := 0
	for ; s[k] != 'e'; k++ {
		if s[k] != '.' {
			digs[nd] = s[k]
			nd++
		}
	}
	exp := 0
	neg := s[k+1] == '-'
	for _, c := range s[k+2:] {
		exp = exp*10 + int(c-'0')
	}
	if neg {
		exp = -exp
	}
	d := digs[:nd]
	switch {
	case exp >= 16 || exp < -4:
		b = append(b, d[0])
		if nd > 1 {
			b = append(b, '.')
			b = append(b, d[1:]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		if exp < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(exp), 10)
	case exp >= 0:
		if nd <= exp+1 {
			b = append(b, d...)
			for i := nd; i <= exp; i++ {
				b = append(b, '0')
			}
			return append(b, '.', '0')
		}
		b = append(b, d[:exp+1]...)
		b = append(b, '.')
		return append(b, d[exp+1:]...)
	default:
		b = append(b, '0', '.')
		for i := -1; i > exp; i-- {
			b = append(b, '0')
		}
		return append(b, d...)
	}
}
