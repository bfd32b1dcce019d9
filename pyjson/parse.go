package pyjson

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxDepth is the deepest array/object nesting Parse accepts and Encode
// writes. CPython raises RecursionError near depth 1000; settle accepts
// more, but refuses absurd depths instead of exhausting the stack.
const MaxDepth = 10000

// MaxIntDigits is CPython 3.11's limit on the digits of an integer literal
// (sys.get_int_max_str_digits()): json.loads raises ValueError beyond it.
const MaxIntDigits = 4300

// SyntaxError describes a document that json.loads would refuse. Msg is
// Python's message ("Expecting value", "Extra data", ...); Line, Col and Char
// locate it as JSONDecodeError does (Char counts code points from 0, Line and
// Col from 1); Offset is the byte offset in the input.
type SyntaxError struct {
	Msg    string
	Offset int
	Line   int
	Col    int
	Char   int
}

// depthMsgPrefix starts the message of a document nested too deep.
const depthMsgPrefix = "maximum nesting depth exceeded"

// IsDepthError reports whether err is Parse's refusal of a document nested
// deeper than the allowed depth.
func IsDepthError(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se) && strings.HasPrefix(se.Msg, depthMsgPrefix)
}

func (e *SyntaxError) Error() string {
	return "json: " + e.Msg + ": line " + strconv.Itoa(e.Line) + " column " +
		strconv.Itoa(e.Col) + " (char " + strconv.Itoa(e.Char) + ")"
}

// Parse decodes one JSON document as json.loads does (leading and trailing
// whitespace allowed, nothing else after the value).
//
// The input must be UTF-8 (Python's read_text would refuse anything else)
// and must not start with a byte order mark. Nesting deeper than MaxDepth
// and integer literals longer than MaxIntDigits digits are refused (Python
// raises RecursionError and ValueError). Errors are *SyntaxError; callers
// attach the settle error code (Corrupt for a file, InvalidInput for a request).
//
// The decoded strings share one copy of data, which is not retained.
func Parse(data []byte) (any, error) { return ParseDepth(data, MaxDepth) }

// ParseDepth is Parse with nesting refused beyond maxDepth levels (at most
// MaxDepth): a document of scalars is depth 0, [] and {} are depth 1.
func ParseDepth(data []byte, maxDepth int) (any, error) {
	if maxDepth > MaxDepth || maxDepth < 0 {
		maxDepth = MaxDepth
	}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return nil, newSyntaxError(data, 0, "Unexpected UTF-8 BOM (decode using utf-8-sig)")
	}
	if !utf8.Valid(data) {
		off := invalidUTF8Offset(data)
		return nil, newSyntaxError(data, off, fmt.Sprintf("invalid UTF-8 byte %#02x", data[off]))
	}
	// One copy of the input: strings without escapes and integer literals
	// are substrings of it (no allocation each).
	sc := scratchPool.Get().(*scratch)
	p := parser{data: data, src: string(data), maxDepth: maxDepth, buf: sc.buf, vals: sc.vals, kvs: sc.kvs}
	defer sc.put(&p)
	p.skipWS()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(data) {
		return nil, p.errAt(p.pos, "Extra data")
	}
	return v, nil
}

// scratch is a parser's stacks and string buffer, kept between parses so
// that the members of each document do not grow the object stack from
// nothing (five allocations for a ten-member object).
type scratch struct {
	buf  []byte
	vals []any
	kvs  []kv
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxScratch bounds the stack entries kept (a huge document's stacks
// are left to the collector).
const maxScratch = 1024

// put takes the parser's stacks back, emptied (a failed parse leaves its
// entries on them), and returns sc to the pool.
func (sc *scratch) put(p *parser) {
	clear(p.vals)
	clear(p.kvs)
	if cap(p.vals) > maxScratch || cap(p.kvs) > maxScratch || cap(p.buf) > 64*maxScratch {
		return
	}
	sc.buf, sc.vals, sc.kvs = p.buf[:0], p.vals[:0], p.kvs[:0]
	scratchPool.Put(sc)
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// newSyntaxError computes Python's line/column/char position of byte off.
func newSyntaxError(data []byte, off int, msg string) *SyntaxError {
	if off > len(data) {
		off = len(data)
	}
	char := utf8.RuneCount(data[:off])
	line := 1
	lastNL := -1 // char index of the last '\n' before off
	ci := 0
	for i := 0; i < off; {
		c := data[i]
		if c == '\n' {
			line++
			lastNL = ci
		}
		if c < utf8.RuneSelf {
			i++
		} else {
			_, n := utf8.DecodeRune(data[i:off])
			i += n
		}
		ci++
	}
	return &SyntaxError{Msg: msg, Offset: off, Line: line, Col: char - lastNL, Char: char}
}

type parser struct {
	data []byte
	src  string // string(data)
	pos  int
	buf  []byte // scratch for strings with escapes
	vals []any  // stack of the elements of the arrays being parsed
	kvs  []kv   // stack of the members of the objects being parsed
	// maxDepth is the deepest nesting accepted.
	maxDepth int
}

type kv struct {
	k string
	v any
}

func (p *parser) errAt(off int, msg string) error {
	return newSyntaxError(p.data, off, msg)
}

func (p *parser) skipWS() {
	d := p.data
	i := p.pos
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	p.pos = i
}

func (p *parser) hasLit(lit string) bool {
	d := p.data[p.pos:]
	return len(d) >= len(lit) && string(d[:len(lit)]) == lit
}

// words are the values spelled as a word, by their first byte: JSON's
// three and the two CPython's parse_constant accepts (-Infinity starts
// like a number).
var words = [256]struct {
	text string
	val  any
}{
	'n': {"null", nil}, 't': {"true", true}, 'f': {"false", false},
	'N': {"NaN", math.NaN()}, 'I': {"Infinity", math.Inf(1)},
}

// value parses the value at p.pos (whitespace already skipped).
func (p *parser) value(depth int) (any, error) {
	d := p.data
	if p.pos >= len(d) {
		return nil, p.errAt(p.pos, "Expecting value")
	}
	switch c := d[p.pos]; c {
	case '"':
		return p.str()
	case '{':
		if depth >= p.maxDepth {
			return nil, p.errAt(p.pos, depthMsgPrefix+" while decoding a JSON object")
		}
		return p.object(depth + 1)
	case '[':
		if depth >= p.maxDepth {
			return nil, p.errAt(p.pos, depthMsgPrefix+" while decoding a JSON array")
		}
		return p.array(depth + 1)
	case 'n', 't', 'f', 'N', 'I':
		if w := &words[c]; p.hasLit(w.text) {
			p.pos += len(w.text)
			return w.val, nil
		}
	case '-':
		if p.hasLit("-Infinity") {
			p.pos += 9
			return math.Inf(-1), nil
		}
		return p.number()
	default:
		if c >= '0' && c <= '9' {
			return p.number()
		}
	}
	return nil, p.errAt(p.pos, "Expecting value")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number follows CPython's _match_number_unicode.
func (p *parser) number() (any, error) {
	d := p.data
	start := p.pos
	i := start
	if d[i] == '-' {
		i++
		if i >= len(d) {
			return nil, p.errAt(start, "Expecting value")
		}
	}
	switch {
	case d[i] >= '1' && d[i] <= '9':
		i++
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	case d[i] == '0':
		i++
	default:
		return nil, p.errAt(start, "Expecting value")
	}
	intEnd := i
	isFloat := false
	if i+1 < len(d) && d[i] == '.' && isDigit(d[i+1]) {
		isFloat = true
		i += 2
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		e := i
		i++
		if i < len(d) && (d[i] == '-' || d[i] == '+') {
			i++
		}
		ds := i
		for i < len(d) && isDigit(d[i]) {
			i++
		}
		if i > ds {
			isFloat = true
		} else {
			i = e
		}
	}
	p.pos = i
	if isFloat {
		f, err := strconv.ParseFloat(p.src[start:i], 64)
		if err != nil {
			// ErrRange: f is ±Inf on overflow, ±0 on underflow, as float().
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				return nil, p.errAt(start, "invalid number: "+err.Error())
			}
		}
		return f, nil
	}
	digits := intEnd - start
	if d[start] == '-' {
		digits--
		if digits == 1 && d[start+1] == '0' {
			return Int("0"), nil
		}
	}
	if digits > MaxIntDigits {
		return nil, p.errAt(start, "Exceeds the limit (4300 digits) for integer string conversion: value has "+
			strconv.Itoa(digits)+" digits")
	}
	return Int(p.src[start:intEnd]), nil
}

// str parses a string starting at the opening quote (CPython scanstring,
// strict mode).
func (p *parser) str() (string, error) {
	d := p.data
	begin := p.pos
	i := begin + 1
	// Fast path: no escapes.
	for i < len(d) {
		c := d[i]
		if c == '"' {
			s := p.src[begin+1 : i]
			p.pos = i + 1
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errAt(i, "Invalid control character at")
		}
		i++
	}
	if i >= len(d) {
		return "", p.errAt(begin, "Unterminated string starting at")
	}
	b := append(p.buf[:0], d[begin+1:i]...)
	for {
		if i >= len(d) {
			return "", p.errAt(begin, "Unterminated string starting at")
		}
		c := d[i]
		if c == '"' {
			p.pos = i + 1
			p.buf = b
			return string(b), nil
		}
		if c < 0x20 {
			return "", p.errAt(i, "Invalid control character at")
		}
		if c != '\\' {
			j := i + 1
			for j < len(d) && d[j] != '"' && d[j] != '\\' && d[j] >= 0x20 {
				j++
			}
			b = append(b, d[i:j]...)
			i = j
			continue
		}
		// escape
		i++
		if i >= len(d) {
			return "", p.errAt(begin, "Unterminated string starting at")
		}
		if c, ok := SimpleEscape(d[i]); ok {
			b = append(b, c)
			i++
			continue
		}
		switch d[i] {
		case 'u':
			// CPython wants a character after the four digits (end >= len).
			r, ok := hex4(d, i+1)
			if !ok || i+5 >= len(d) {
				return "", p.errAt(i, "Invalid \\uXXXX escape")
			}
			i += 4
			if r >= 0xD800 && r <= 0xDBFF && i+7 < len(d) && d[i+1] == '\\' && d[i+2] == 'u' {
				r2, ok := hex4(d, i+3)
				if !ok {
					return "", p.errAt(i+2, "Invalid \\uXXXX escape")
				}
				if r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			b = appendWTF8(b, r)
		default:
			return "", p.errAt(i-1, "Invalid \\escape")
		}
		i++
	}
}

// SimpleEscape returns the byte a one-letter JSON escape \c stands for
// (\" \\ \/ \b \f \n \r \t), and false for any other c (\u is not
// one-letter).
func SimpleEscape(c byte) (byte, bool) {
	e := unescapeLetter[c]
	return e, e != 0
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// appendWTF8 appends r as UTF-8, encoding a surrogate code point as its
// three-byte generalized UTF-8 form (WTF-8), as Python keeps it in a str.
func appendWTF8(b []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(b, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(b, r)
}

// open consumes the opening bracket at p.pos and the space after it, and
// reports an empty list or object (consuming its closing bracket end).
func (p *parser) open(end byte) (empty bool) {
	p.pos++
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == end {
		p.pos++
		return true
	}
	return false
}

func (p *parser) array(depth int) (any, error) {
	if p.open(']') {
		return []any{}, nil
	}
	base := len(p.vals) // on error the parser is abandoned: no cleanup
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.vals = append(p.vals, v)
		if more, err := p.next(']'); !more {
			if err != nil {
				return nil, err
			}
			arr := append([]any(nil), p.vals[base:]...)
			clear(p.vals[base:])
			p.vals = p.vals[:base]
			return arr, nil
		}
	}
}

// next reads what follows an item of a list or object: more is true after
// a ',' (and the space after it), false after the closing bracket end and
// with an error for anything else.
func (p *parser) next(end byte) (more bool, err error) {
	p.skipWS()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
			return true, nil
		case end:
			p.pos++
			return false, nil
		}
	}
	return false, p.errAt(p.pos, "Expecting ',' delimiter")
}

func (p *parser) object(depth int) (any, error) {
	if p.open('}') {
		return &Object{}, nil
	}
	base := len(p.kvs) // on error the parser is abandoned: no cleanup
	d := p.data
	for {
		if p.pos >= len(d) || d[p.pos] != '"' {
			return nil, p.errAt(p.pos, "Expecting property name enclosed in double quotes")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.pos >= len(d) || d[p.pos] != ':' {
			return nil, p.errAt(p.pos, "Expecting ':' delimiter")
		}
		p.pos++
		p.skipWS()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.kvs = append(p.kvs, kv{k, v})
		if more, err := p.next('}'); !more {
			if err != nil {
				return nil, err
			}
			o := buildObject(p.kvs[base:])
			clear(p.kvs[base:])
			p.kvs = p.kvs[:base]
			return o, nil
		}
	}
}

// buildObject makes an object of the members in document order: a
// duplicated key keeps its first position and takes its last value.
func buildObject(m []kv) *Object {
	o := newObjectCap(len(m))
	if len(m) <= objectIndexMin {
		for _, e := range m {
			o.Set(e.k, e.v)
		}
		return o
	}
	o.idx = make(map[string]int, len(m))
	for _, e := range m {
		if i, dup := o.idx[e.k]; dup {
			o.vals[i] = e.v
			continue
		}
		o.idx[e.k] = len(o.keys)
		o.keys = append(o.keys, e.k)
		o.vals = append(o.vals, e.v)
	}
	return o
}
