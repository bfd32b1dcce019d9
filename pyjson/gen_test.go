package pyjson_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

// docGen writes random JSON texts in the many spellings json.loads accepts:
// every escape form, raw UTF-8 from many scripts, numbers across the whole
// float64 range in several notations, huge integers, duplicate keys,
// NaN/Infinity, random whitespace and deep nesting.
type docGen struct {
	r      *rand.Rand
	budget int // nodes left in the current document
}

func newDocGen(seed uint64) *docGen {
	return &docGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// doc returns one document of roughly up to size nodes.
func (g *docGen) doc(size int) []byte {
	g.budget = 1 + g.r.IntN(size)
	var b []byte
	b = g.ws(b)
	if g.r.IntN(20) == 0 {
		// deep nesting (Python's recursion limit is ~1000; stay well below)
		return append(b, g.deep(1+g.r.IntN(400))...)
	}
	b = g.value(b, 0)
	b = g.ws(b)
	return b
}

// deep returns a document nested depth levels deep.
func (g *docGen) deep(depth int) []byte {
	kinds := make([]bool, depth) // true: array
	var b []byte
	for i := range kinds {
		kinds[i] = g.r.IntN(2) == 0
		if kinds[i] {
			b = append(b, '[')
			if g.r.IntN(3) == 0 {
				b = g.value(b, 3)
				b = append(b, ',')
			}
		} else {
			b = append(b, `{"k`...)
			b = strconv.AppendInt(b, int64(i%3), 10)
			b = append(b, `":`...)
		}
		b = g.ws(b)
	}
	b = g.value(b, 0)
	for i := depth - 1; i >= 0; i-- {
		b = g.ws(b)
		if kinds[i] {
			b = append(b, ']')
		} else {
			if g.r.IntN(3) == 0 {
				b = append(b, `,"k0":`...) // duplicate key: last wins
				b = g.value(b, 3)
			}
			b = append(b, '}')
		}
	}
	return b
}

func (g *docGen) ws(b []byte) []byte {
	if g.r.IntN(3) != 0 {
		return b
	}
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		b = append(b, " \t\n\r"[g.r.IntN(4)])
	}
	return b
}

func (g *docGen) value(b []byte, depth int) []byte {
	g.budget--
	k := g.r.IntN(100)
	if g.budget <= 0 || depth > 12 {
		k = g.r.IntN(70) // scalars only
	}
	switch {
	case k < 25:
		return g.str(b)
	case k < 40:
		return g.integer(b)
	case k < 58:
		return g.float(b)
	case k < 61:
		return append(b, "null"...)
	case k < 64:
		return append(b, "true"...)
	case k < 67:
		return append(b, "false"...)
	case k < 70:
		return append(b, []string{"NaN", "Infinity", "-Infinity"}[g.r.IntN(3)]...)
	case k < 85:
		b = append(b, '[')
		b = g.ws(b)
		n := g.r.IntN(6)
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ',')
				b = g.ws(b)
			}
			b = g.value(b, depth+1)
			b = g.ws(b)
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		b = g.ws(b)
		n := g.r.IntN(7)
		var keys [][]byte
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ',')
				b = g.ws(b)
			}
			if len(keys) > 0 && g.r.IntN(6) == 0 {
				b = append(b, keys[g.r.IntN(len(keys))]...) // duplicate key
			} else {
				s := len(b)
				if g.r.IntN(2) == 0 {
					b = g.str(b)
				} else {
					b = append(b, '"')
					b = append(b, "abcdefghijklmnopqrstuvwxyzABC_-0123456789"[g.r.IntN(41)])
					b = append(b, "abcxyz"[:g.r.IntN(7)]...)
					b = append(b, '"')
				}
				keys = append(keys, append([]byte(nil), b[s:]...))
			}
			b = g.ws(b)
			b = append(b, ':')
			b = g.ws(b)
			b = g.value(b, depth+1)
			b = g.ws(b)
		}
		return append(b, '}')
	}
}

// scriptRanges are code point ranges to draw raw characters from.
var scriptRanges = [][2]rune{
	{0x20, 0x7E}, {0x7F, 0x7F}, {0x80, 0x9F}, {0xA0, 0xFF}, {0x100, 0x24F},
	{0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x5FF},
	{0x600, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1680, 0x1680},
	{0x180E, 0x180E}, {0x2000, 0x206F}, {0x3000, 0x30FF}, {0x4E00, 0x9FFF},
	{0xAC00, 0xD7A3}, {0xD7FF, 0xD7FF}, {0xE000, 0xF8FF}, {0xFE00, 0xFEFF},
	{0xFFF0, 0xFFFF}, {0x10000, 0x1007F}, {0x1D400, 0x1D7FF},
	{0x1F300, 0x1FAFF}, {0xE0000, 0xE007F}, {0xF0000, 0xF00FF},
	{0x10FF00, 0x10FFFF}, {0x85, 0x85}, {0x2028, 0x2029},
}

func (g *docGen) randRune() rune {
	rg := scriptRanges[g.r.IntN(len(scriptRanges))]
	return rg[0] + rune(g.r.IntN(int(rg[1]-rg[0]+1)))
}

func (g *docGen) hex4(b []byte, r rune) []byte {
	const lo, up = "0123456789abcdef", "0123456789ABCDEF"
	digits := lo
	if g.r.IntN(3) == 0 {
		digits = up
	}
	b = append(b, '\\', 'u')
	for sh := 12; sh >= 0; sh -= 4 {
		b = append(b, digits[r>>sh&0xF])
	}
	return b
}

func (g *docGen) str(b []byte) []byte {
	b = append(b, '"')
	n := g.r.IntN(12)
	for i := 0; i < n; i++ {
		switch k := g.r.IntN(20); {
		case k < 6:
			m := 1 + g.r.IntN(8)
			for j := 0; j < m; j++ {
				c := byte(0x20 + g.r.IntN(0x5F))
				if c == '"' || c == '\\' {
					c = 'q'
				}
				b = append(b, c)
			}
		case k < 8:
			b = append(b, []string{`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`}[g.r.IntN(8)]...)
		case k < 10: // \u escape of a BMP code point, control chars and surrogates included
			var r rune
			switch g.r.IntN(4) {
			case 0:
				r = rune(g.r.IntN(0x20))
			case 1:
				r = 0xD800 + rune(g.r.IntN(0x800)) // lone surrogate (or accidental pair)
			default:
				r = rune(g.r.IntN(0x10000))
			}
			b = g.hex4(b, r)
		case k < 11: // escaped surrogate pair
			r := 0x10000 + rune(g.r.IntN(0x100000)) - 0x10000
			b = g.hex4(b, 0xD800|r>>10)
			b = g.hex4(b, 0xDC00|r&0x3FF)
		case k < 12: // high surrogate followed by a non-low escape
			b = g.hex4(b, 0xD800+rune(g.r.IntN(0x400)))
			b = g.hex4(b, rune(g.r.IntN(0xD800)))
		default:
			r := g.randRune()
			if r == '"' || r == '\\' {
				r = 'x'
			}
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func (g *docGen) integer(b []byte) []byte {
	if g.r.IntN(2) == 0 && g.r.IntN(2) == 0 {
		b = append(b, '-')
	}
	switch g.r.IntN(6) {
	case 0:
		return strconv.AppendInt(b, int64(g.r.IntN(10)), 10)
	case 1:
		return strconv.AppendInt(b, g.r.Int64N(1e6), 10)
	case 2: // around 2^53, 2^63, 2^64
		base := []uint64{1 << 53, 1 << 63, math.MaxUint64 - 5, 1 << 62}[g.r.IntN(4)]
		return strconv.AppendUint(b, base+uint64(g.r.IntN(5)), 10)
	case 3: // big
		n := 20 + g.r.IntN(200)
		b = append(b, byte('1'+g.r.IntN(9)))
		for i := 1; i < n; i++ {
			b = append(b, byte('0'+g.r.IntN(10)))
		}
		return b
	default:
		return strconv.AppendUint(b, g.r.Uint64()>>g.r.IntN(64), 10)
	}
}

func (g *docGen) float(b []byte) []byte {
	var f float64
	switch g.r.IntN(6) {
	case 0: // any finite bit pattern: subnormals and the full exponent range
		for {
			f = math.Float64frombits(g.r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				break
			}
		}
	case 1: // subnormal
		f = math.Float64frombits(g.r.Uint64() >> 12)
		if g.r.IntN(2) == 0 {
			f = -f
		}
	case 2: // moderate
		f = (g.r.Float64() - 0.5) * math.Pow(10, float64(g.r.IntN(40)-20))
	case 3: // integral or decimal boundaries
		f = float64(g.r.IntN(100000)) * math.Pow(10, float64(g.r.IntN(24)-6))
	case 4:
		f = []float64{0, math.Copysign(0, -1), 1e16, 1e15, 1e-4, 1e-5, 9999999999999998, 0.1, 1.0 / 3,
			math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 5e-324, 1e22, 1e23, 123456789012345680}[g.r.IntN(16)]
		if g.r.IntN(2) == 0 {
			f = -f
		}
	default: // weird spellings parsed as written
		switch g.r.IntN(8) {
		case 0:
			return append(b, []string{"1e400", "-1e400", "1e-400", "-1e-400", "0e0", "-0.0", "0.0e-0", "1E+2", "1e05", "2.5E-0003", "1.0", "100e-2"}[g.r.IntN(12)]...)
		case 1: // long mantissa
			n := 17 + g.r.IntN(60)
			b = append(b, byte('0'+g.r.IntN(10)), '.')
			for i := 0; i < n; i++ {
				b = append(b, byte('0'+g.r.IntN(10)))
			}
			b = append(b, 'e')
			return strconv.AppendInt(b, int64(g.r.IntN(700)-350), 10)
		case 2: // halfway-ish cases
			n := 1 + g.r.IntN(17)
			b = append(b, byte('1'+g.r.IntN(9)))
			for i := 1; i < n; i++ {
				b = append(b, byte('0'+g.r.IntN(10)))
			}
			b = append(b, "5000000000000000000001"[:1+g.r.IntN(22)]...)
			b = append(b, 'e')
			return strconv.AppendInt(b, int64(g.r.IntN(640)-320), 10)
		}
		f = math.Float64frombits(g.r.Uint64() & 0x7fefffffffffffff)
	}
	s := strconv.FormatFloat(f, []byte("eEfg")[g.r.IntN(4)], []int{-1, -1, 1, 5, 17, 20}[g.r.IntN(6)], 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	if g.r.IntN(4) == 0 {
		s = strings.Replace(s, "e+", "e", 1)
	}
	return append(b, s...)
}

// mutate damages a document in one of many ways; the result may still be
// valid JSON.
func (g *docGen) mutate(d []byte) []byte {
	d = append([]byte(nil), d...)
	pos := 0
	if len(d) > 0 {
		pos = g.r.IntN(len(d) + 1)
	}
	ins := func(s string) []byte {
		return append(d[:pos:pos], append([]byte(s), d[pos:]...)...)
	}
	switch g.r.IntN(14) {
	case 0:
		return d[:pos]
	case 1:
		if pos < len(d) {
			return append(d[:pos:pos], d[pos+1:]...)
		}
		return d
	case 2:
		return ins(string("{}[],:\"\\ x0123456789eE.+-tnfNIua/"[g.r.IntN(33)]))
	case 3:
		return ins(string(rune(g.r.IntN(0x20))))
	case 4:
		return append([]byte("\xEF\xBB\xBF"), d...)
	case 5:
		return ins([]string{"\xFF", "\xC0\x80", "\xED\xA0\x80", "\xE2\x82", "\xF4\x90\x80\x80"}[g.r.IntN(5)])
	case 6:
		return append(d, []string{"x", " 1", ",", "]", "}", "\x00", "\u00a0", "\f"}[g.r.IntN(8)]...)
	case 7:
		return ins([]string{"01", "-", "1.", ".5", "1e", "1e+", "+1", "-01", "0x1", "Infinityy", "-NaN", "nul", "tru", "[,]", "[1,]", `{"a":1,}`, `{"a"}`, `{1:2}`}[g.r.IntN(18)])
	case 8:
		return ins([]string{`"\x"`, `"\u12"`, `"\u12g4"`, `"\ud800\u12"`, `"\ud800\udc0"`, `"\'"`, `"\U0001F600"`, "\"\x1f\"", "\"\x7f\""}[g.r.IntN(9)])
	case 9: // huge integers around Python's 4300 digit limit
		n := 4299 + g.r.IntN(4)
		return []byte("[" + strings.Repeat("7", n) + "]")
	case 10:
		return []byte(strings.Repeat(" ", g.r.IntN(3)) + "\u00a0" + string(d))
	case 11:
		return []byte("\v" + string(d))
	default:
		if pos < len(d) {
			d[pos] = byte(g.r.IntN(256))
		}
		return d
	}
}
