package pyjson_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
)

// pyOpts mirror OPTS in testdata/pyjson_driver.py.
var pyOpts = []pyjson.Options{
	{Indent: -1, SortKeys: true, EnsureASCII: true, ItemSep: ",", KeySep: ":"},
	{Indent: -1, SortKeys: true},
	{Indent: 2, EnsureASCII: true},
	{Indent: 2, SortKeys: true, EnsureASCII: true},
	{Indent: -1, EnsureASCII: true},
	{Indent: 0, ItemSep: ", ", KeySep: " : "},
}

// oracle batches requests for testdata/pyjson_driver.py and runs them in
// one python3 process.
type oracle struct {
	req bytes.Buffer
	n   int
}

func (o *oracle) add(kind byte, parts ...[]byte) int {
	o.req.WriteByte(kind)
	o.req.Write(binary.BigEndian.AppendUint32(nil, uint32(len(parts))))
	for _, p := range parts {
		o.req.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		o.req.Write(p)
	}
	o.n++
	return o.n - 1
}

// python3 returns the interpreter, or skips (fails under CI=true) when it
// is missing or is not CPython 3.11, whose behaviour pyjson reproduces.
func python3(t testing.TB) string {
	t.Helper()
	py := testenv.Python(t)
	out, err := exec.Command(py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		testenv.Unavailable(t, "the differential test against CPython's json module: "+py+": "+err.Error())
	}
	if v := strings.TrimSpace(string(out)); v != "3.11" {
		testenv.Unavailable(t, "the differential test against CPython's json module: python3 is "+v+", not 3.11")
	}
	return py
}

// run sends all requests and returns the answers in order.
func (o *oracle) run(t testing.TB) [][][]byte {
	t.Helper()
	py := python3(t)
	cmd := exec.Command(py, "testdata/pyjson_driver.py")
	cmd.Stdin = bytes.NewReader(o.req.Bytes())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python driver: %v\n%s", err, stderr.String())
	}
	r := bytes.NewReader(out)
	u32 := func() int {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatalf("python driver: short answer: %v", err)
		}
		return int(binary.BigEndian.Uint32(b[:]))
	}
	res := make([][][]byte, o.n)
	for i := range res {
		parts := make([][]byte, u32())
		for j := range parts {
			parts[j] = make([]byte, u32())
			if _, err := io.ReadFull(r, parts[j]); err != nil {
				t.Fatalf("python driver: short answer: %v", err)
			}
		}
		res[i] = parts
	}
	if r.Len() != 0 {
		t.Fatalf("python driver: %d bytes of trailing output", r.Len())
	}
	return res
}

func short(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:300])) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

// checkDoc compares Parse + Encode/Str/Truthy with Python's answer.
func checkDoc(t *testing.T, doc []byte, ans [][]byte) {
	t.Helper()
	v, err := pyjson.Parse(doc)
	if string(ans[0]) == "err" {
		if err == nil {
			t.Errorf("doc %s: Python refuses (%s: %s), Parse accepts", short(doc), ans[1], ans[2])
			return
		}
		var se *pyjson.SyntaxError
		if string(ans[1]) == "JSONDecodeError" {
			if !errors.As(err, &se) || se.Error() != "json: "+string(ans[2]) {
				t.Errorf("doc %s: error\n got %v\nwant json: %s", short(doc), err, ans[2])
			}
		}
		return
	}
	if err != nil {
		t.Errorf("doc %s: Python accepts, Parse: %v", short(doc), err)
		return
	}
	for i, o := range pyOpts {
		got, err := pyjson.Encode(v, o)
		if err != nil {
			t.Errorf("doc %s: Encode(%+v): %v", short(doc), o, err)
			continue
		}
		if want := ans[1+i]; !bytes.Equal(got, want) {
			t.Errorf("doc %s: Encode(%+v)\n got %s\nwant %s", short(doc), o, short(got), short(want))
		}
	}
	if got, want := pyjson.Str(v), ans[1+len(pyOpts)]; got != string(want) {
		t.Errorf("doc %s: Str\n got %s\nwant %s", short(doc), short([]byte(got)), short(want))
	}
	if got, want := pyjson.Truthy(v), string(ans[2+len(pyOpts)]) == "1"; got != want {
		t.Errorf("doc %s: Truthy = %v, want %v", short(doc), got, want)
	}
}

func TestDifferentialRandomDocuments(t *testing.T) {
	n, seed := 4000, uint64(testenv.Seed(t))
	if testing.Short() {
		n = 500
	}
	// PYJSON_DIFF_N allows longer soak runs.
	if v, err := strconv.Atoi(os.Getenv("PYJSON_DIFF_N")); err == nil && v > 0 {
		n = v
	}
	g := newDocGen(seed)
	var o oracle
	docs := make([][]byte, 0, 2*n)
	for i := 0; i < n; i++ {
		d := g.doc(1 + i%60)
		docs = append(docs, d)
		o.add('D', d)
		if i%2 == 0 {
			m := g.mutate(d)
			docs = append(docs, m)
			o.add('D', m)
		}
	}
	ans := o.run(t)
	accepted, refused := 0, 0
	for i, d := range docs {
		if string(ans[i][0]) == "ok" {
			accepted++
		} else {
			refused++
		}
		checkDoc(t, d, ans[i])
	}
	t.Logf("%d documents: %d accepted, %d refused by Python", len(docs), accepted, refused)
	if accepted < n/2 || refused < n/8 {
		t.Errorf("generator imbalance: %d accepted, %d refused", accepted, refused)
	}
}

func TestDifferentialHandWritten(t *testing.T) {
	docs := handWrittenDocs()
	var o oracle
	for _, d := range docs {
		o.add('D', []byte(d))
	}
	ans := o.run(t)
	for i, d := range docs {
		checkDoc(t, []byte(d), ans[i])
	}
}

// handWrittenDocs are documents at the edges of what CPython's json module
// accepts: numbers, escapes and surrogates, whitespace, nesting.
func handWrittenDocs() []string {
	return []string{
		``, ` `, `null`, `true`, `false`, `NaN`, `-NaN`, `Infinity`, `-Infinity`, `infinity`, `nan`,
		`0`, `-0`, `-0.0`, `0.0`, `00`, `-`, `+1`, `1.`, `.1`, `1e`, `1e+`, `1E-0`, `1e5`, `1.5E+300`,
		`1e400`, `-1e400`, `1e-400`, `-1e-400`, `4.9e-324`, `2.4e-324`, `2.5e-324`, `1.7976931348623157e308`, `1.7976931348623159e308`,
		`9007199254740993`, `9007199254740993.0`, `123456789012345678901234567890`, `0.1`, `0.30000000000000004`,
		`1e16`, `1e15`, `9999999999999998.0`, `1e-4`, `1e-5`, `0.00001`, `123.456e-10`,
		`""`, `"\u0000"`, `"\ud800"`, `"\udc00"`, `"\ud800\udc00"`, `"\uD83D\uDE00"`, `"\ud800\ud800\udc00"`, `"\udc00\ud800"`,
		`"\ud800\u0041"`, `"\ud800\\"`, `"\ud800\"`, `"\ud800\u"`, `"\ud800\uzzzz"`, `"\u00e9\u00E9"`, `"\/"`, `"\'"`,
		"\"\x00\"", "\"\x1f\"", "\"\x7f\u0085\u2028\u2029\ufeff\"", "\"\t\"", "\"é😀ᄀ\"", "\"a",
		"\ufeff1", " \ufeff1", "\u00a01", "1\u00a0", "\v1", "\f1", "1\f", " \t\n\r1 \t\n\r",
		`[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `{}`, `{ }`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{1:2}`,
		`{"a":1,"a":2}`, `{"a":1,"b":2,"a":3}`, `{"b":1,"a":2}`, `{"":{"":[]}}`, `[[[[[]]]]]`, `[{}, [], {"a": []}]`,
		`{"é":1,"e":2,"z":3,"😀":4,"ｚ":5,"\ud800":6,"\uffff":7}`,
		`"` + strings.Repeat("x", 5000) + `"`,
		strings.Repeat("9", 4300), "-" + strings.Repeat("9", 4300), strings.Repeat("9", 4301), "1" + strings.Repeat("0", 4300) + ".5",
		strings.Repeat("[", 500) + strings.Repeat("]", 500),
		strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300),
		"\xff", "\"\xc3\"", "\"\xed\xa0\x80\"", "[\"a\"]\xff",
	}
}

// variant returns a value Python considers equal to v (keys reordered,
// numbers respelled), or with probability mutateP a probably different one.
func variant(g *docGen, v any, mutateP int) any {
	if g.r.IntN(100) < mutateP {
		switch g.r.IntN(5) {
		case 0:
			return "mutated"
		case 1:
			return pyjson.Int("7")
		case 2:
			return []any{v}
		case 3:
			return 7.5
		default:
			return nil
		}
	}
	switch x := v.(type) {
	case *pyjson.Object:
		keys := append([]string(nil), x.Keys()...)
		g.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		o := pyjson.NewObject()
		for _, k := range keys {
			e, _ := x.Get(k)
			o.Set(k, variant(g, e, mutateP))
		}
		if g.r.IntN(100) < mutateP {
			o.Set("extra", nil)
		}
		return o
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = variant(g, e, mutateP)
		}
		return a
	case pyjson.Int:
		switch {
		case x == "0" && g.r.IntN(2) == 0:
			return false
		case x == "1" && g.r.IntN(2) == 0:
			return true
		case len(x) < 16 && g.r.IntN(2) == 0:
			f, _ := strconv.ParseFloat(string(x), 64)
			return f
		case g.r.IntN(3) == 0:
			f, _ := strconv.ParseFloat(string(x), 64) // rounds: equal only if exact
			return f
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e300 && g.r.IntN(2) == 0 {
			if x == 0 {
				return pyjson.Int("0") // Python's int(-0.0) is 0
			}
			return pyjson.Int(strconv.FormatFloat(x, 'f', 0, 64))
		}
	case bool:
		if g.r.IntN(2) == 0 {
			if x {
				return pyjson.Int("1")
			}
			return 0.0
		}
	}
	return v
}

func TestDifferentialEqual(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	g := newDocGen(2)
	type pair struct{ a, b []byte }
	var pairs []pair
	for len(pairs) < n {
		d := g.doc(1 + len(pairs)%40)
		v, err := pyjson.Parse(d)
		if err != nil {
			t.Fatalf("generated document refused: %v\n%s", err, short(d))
		}
		w := variant(g, v, []int{0, 0, 2, 10}[len(pairs)%4])
		e, err := pyjson.Encode(w, pyjson.Options{Indent: -1, EnsureASCII: true})
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair{d, e})
	}
	for _, p := range [][2]string{
		{`9007199254740993`, `9007199254740992.0`}, {`9007199254740992`, `9007199254740992.0`},
		{`[NaN]`, `[NaN]`}, {`NaN`, `NaN`}, {`{"a":NaN}`, `{"a":NaN}`}, {`1e400`, `Infinity`}, {`[1e400]`, `[1e401]`},
		{`true`, `1`}, {`true`, `1.0`}, {`false`, `-0.0`}, {`0`, `-0`}, {`[1,2]`, `[2,1]`}, {`{"a":1,"b":2}`, `{"b":2,"a":1}`},
		{`{"a":1}`, `{"a":1,"a":1}`}, {`"a"`, `"\u0061"`}, {`null`, `[]`}, {`{}`, `[]`}, {`""`, `null`},
		{`123456789012345678901234567890`, `1.2345678901234568e+29`}, {`123456789012345677877719597056`, `1.2345678901234568e+29`},
		{`-0.0`, `0`}, {`[[]]`, `[{}]`}, {`1`, `"1"`},
	} {
		pairs = append(pairs, pair{[]byte(p[0]), []byte(p[1])})
	}
	var o oracle
	for _, p := range pairs {
		o.add('E', p.a, p.b)
	}
	ans := o.run(t)
	same := 0
	for i, p := range pairs {
		a, err1 := pyjson.Parse(p.a)
		b, err2 := pyjson.Parse(p.b)
		if err1 != nil || err2 != nil || string(ans[i][0]) == "err" {
			t.Errorf("pair %s %s: %v %v %q", short(p.a), short(p.b), err1, err2, ans[i])
			continue
		}
		want := string(ans[i][0]) == "True"
		if want {
			same++
		}
		if got := pyjson.Equal(a, b); got != want {
			t.Errorf("Equal(%s, %s) = %v, Python says %v", short(p.a), short(p.b), got, want)
		}
	}
	t.Logf("%d pairs, %d equal for Python", len(pairs), same)
}

func TestDifferentialStripFields(t *testing.T) {
	g := newDocGen(3)
	spaces := []rune{' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2000, 0x200a,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0x180e, 0x200b, 0xfeff, 0x00, 0x7f, 0x2060}
	var texts []string
	for i := 0; i < 2000; i++ {
		var b []byte
		n := g.r.IntN(10)
		for j := 0; j < n; j++ {
			if g.r.IntN(2) == 0 {
				b = utf8.AppendRune(b, spaces[g.r.IntN(len(spaces))])
			} else {
				b = utf8.AppendRune(b, g.randRune())
			}
		}
		texts = append(texts, string(b))
	}
	texts = append(texts, "", " ", "a b", "\ud7ff", " \xed\xa0\x80 x ")
	var o oracle
	for _, s := range texts {
		o.add('S', []byte(s))
	}
	ans := o.run(t)
	for i, s := range texts {
		if got, want := pyjson.Strip(s), string(ans[i][0]); got != want {
			t.Errorf("Strip(%q) = %q, Python %q", s, got, want)
		}
		got := pyjson.Fields(s)
		want := make([]string, 0, len(ans[i])-1)
		for _, f := range ans[i][1:] {
			want = append(want, string(f))
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("Fields(%q) = %q, Python %q", s, got, want)
		}
	}
}

func TestDifferentialIsSpace(t *testing.T) {
	var o oracle
	o.add('W')
	ans := o.run(t)
	want := map[rune]bool{}
	for _, h := range strings.Split(string(ans[0][0]), ",") {
		r, err := strconv.ParseInt(h, 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		want[rune(r)] = true
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if got := pyjson.IsSpace(r); got != want[r] {
			t.Errorf("IsSpace(%U) = %v, Python %v", r, got, want[r])
		}
	}
}

// TestPrintableTableUpToDate checks printable_table.go (used by Str) against
// the running Python.
func TestPrintableTableUpToDate(t *testing.T) {
	py := python3(t)
	out, err := exec.Command(py, "testdata/gen_printable.py").Output()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("printable_table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Error("printable_table.go is stale: python3 testdata/gen_printable.py > printable_table.go")
	}
}

// TestDifferentialFloats compares the repr of many floats spread over every
// binade (random bits, subnormals, integers near 2^53, powers of ten).
func TestDifferentialFloats(t *testing.T) {
	g := newDocGen(5)
	var o oracle
	var docs [][]byte
	for i := 0; i < 100; i++ {
		b := []byte{'['}
		for j := 0; j < 500; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			var f float64
			switch j % 5 {
			case 0, 1:
				f = math.Float64frombits(g.r.Uint64()&^(0x7ff<<52) | uint64(g.r.IntN(0x7ff))<<52)
			case 2:
				f = math.Float64frombits(g.r.Uint64() >> (12 + g.r.IntN(40)))
			case 3:
				f = float64(int64(1)<<53 + g.r.Int64N(1<<20) - 1<<19)
			default:
				f = math.Pow(10, float64(g.r.IntN(640)-325)) * float64(1+g.r.IntN(9))
			}
			b = strconv.AppendFloat(b, f, 'g', 17, 64)
			if !bytes.ContainsAny(b[bytes.LastIndexByte(b, ',')+1:], ".eEI") {
				b = append(b, ".0"...)
			}
		}
		b = append(b, ']')
		docs = append(docs, b)
		o.add('D', b)
	}
	ans := o.run(t)
	for i, d := range docs {
		checkDoc(t, d, ans[i])
	}
}
