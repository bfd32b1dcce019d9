package pyjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/settlehq/settle/pyjson"
)

func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := pyjson.Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return v
}

func mustEncode(t *testing.T, v any, o pyjson.Options) string {
	t.Helper()
	b, err := pyjson.Encode(v, o)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return string(b)
}

var compact = pyjson.Options{Indent: -1, EnsureASCII: true}

// The expected strings are CPython 3.11's repr(float.fromhex(...)).
func TestFloatRepr(t *testing.T) {
	tests := []struct {
		name string
		f    float64
		want string
	}{
		{"zero", 0, "0.0"},
		{"negative zero", math.Copysign(0, -1), "-0.0"},
		{"one", 1, "1.0"},
		{"minus one", -1, "-1.0"},
		{"tenth", 0x1.999999999999ap-4, "0.1"},
		{"1e-4 fixed", 0x1.a36e2eb1c432dp-14, "0.0001"},
		{"1e-5 exponent", 0x1.4f8b588e368f1p-17, "1e-05"},
		{"5e-5", 0x1.a36e2eb1c432dp-15, "5e-05"},
		{"small fixed", 0x1.02e4b6ce5dc68p-13, "0.00012345"},
		{"1e16 exponent", 0x1.1c37937e08000p+53, "1e+16"},
		{"1e15 fixed", 0x1.c6bf526340000p+49, "1000000000000000.0"},
		{"largest fixed", 0x1.1c37937e07fffp+53, "9999999999999998.0"},
		{"1e22", 0x1.0f0cf064dd592p+73, "1e+22"},
		{"1e23", 0x1.52d02c7e14af6p+76, "1e+23"},
		{"1.5e300", 0x1.1eb2d66005835p+997, "1.5e+300"},
		{"1e100", 0x1.249ad2594c37dp+332, "1e+100"},
		{"smallest subnormal", 0x0.0000000000001p-1022, "5e-324"},
		{"negative subnormal", -0x0.0000000000001p-1022, "-5e-324"},
		{"three subnormal units", 0x0.0000000000003p-1022, "1.5e-323"},
		{"smallest normal", 0x1p-1022, "2.2250738585072014e-308"},
		{"largest subnormal", 0x0.fffffffffffffp-1022, "2.225073858507201e-308"},
		{"17 digits", 0x1.fffffffffffffp-1022, "4.4501477170144023e-308"},
		{"max", math.MaxFloat64, "1.7976931348623157e+308"},
		{"exact binary fraction", 0x1.d6f3454800000p+26, "123456789.125"},
		{"0.3", 0x1.3333333333333p-2, "0.3"},
		{"third", 0x1.5555555555555p-2, "0.3333333333333333"},
		{"2^53", 0x1p+53, "9007199254740992.0"},
		{"2^53+2", 0x1.0000000000001p+53, "9007199254740994.0"},
		{"2^63", 0x1p+63, "9.223372036854776e+18"},
		{"1e-7", 0x1.ad7f29abcaf48p-24, "1e-07"},
		{"16 digits fixed", 0x1.18b54f22aeb03p+50, "1234567890123456.8"},
		{"17 digits exponent", 0x1.5ee2a2eb5a5c4p+53, "1.2345678901234568e+16"},
		{"hundred", 100, "100.0"},
		{"nan", math.NaN(), "NaN"},
		{"inf", math.Inf(1), "Infinity"},
		{"-inf", math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(pyjson.AppendFloat(nil, tt.f)); got != tt.want {
				t.Errorf("AppendFloat(%x) = %s, want %s", tt.f, got, tt.want)
			}
			if got := mustEncode(t, tt.f, compact); got != tt.want {
				t.Errorf("Encode(%x) = %s, want %s", tt.f, got, tt.want)
			}
			if !math.IsNaN(tt.f) && !math.IsInf(tt.f, 0) {
				if got := pyjson.Str(tt.f); got != tt.want {
					t.Errorf("Str(%x) = %s, want %s", tt.f, got, tt.want)
				}
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"negative zero int", "-0", pyjson.Int("0")},
		{"int", " 42 ", pyjson.Int("42")},
		{"big int", "-123456789012345678901234567890", pyjson.Int("-123456789012345678901234567890")},
		{"float", "1.0", 1.0},
		{"negative zero float", "-0.0", math.Copysign(0, -1)},
		{"exponent without fraction", "1E2", 100.0},
		{"overflow", "1e400", math.Inf(1)},
		{"negative overflow", "-1e400", math.Inf(-1)},
		{"underflow", "-1e-400", math.Copysign(0, -1)},
		{"nan", "NaN", math.NaN()},
		{"string escapes", `"\"\\\/\b\f\n\r\t\u00e9"`, "\"\\/\b\f\n\r\té"},
		{"surrogate pair", `"\ud83d\ude00"`, "😀"},
		{"lone high surrogate", `"\ud800x"`, "\xed\xa0\x80x"},
		{"lone low surrogate", `"\uDC00"`, "\xed\xb0\x80"},
		{"high then high-low", `"\ud800\ud800\udc00"`, "\xed\xa0\x80\U00010000"},
		{"raw DEL and C1", "\"\x7f\u0085\"", "\x7f\u0085"},
		{"empty array", "[ ]", []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.in)
			switch w := tt.want.(type) {
			case float64:
				g, ok := got.(float64)
				if !ok || math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
					t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
				}
			case []any:
				if g, ok := got.([]any); !ok || g == nil || len(g) != 0 {
					t.Errorf("Parse(%q) = %#v, want empty non-nil slice", tt.in, got)
				}
			default:
				if got != tt.want {
					t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
				}
			}
		})
	}
}

func TestParseDuplicateKeysLastWinsFirstPosition(t *testing.T) {
	o := mustParse(t, `{"b":1,"a":2,"b":3}`).(*pyjson.Object)
	if got := strings.Join(o.Keys(), ","); got != "b,a" {
		t.Errorf("keys = %s, want b,a", got)
	}
	if v, _ := o.Get("b"); v != pyjson.Int("3") {
		t.Errorf("b = %v, want 3", v)
	}
	if got := mustEncode(t, o, compact); got != `{"b": 3, "a": 2}` {
		t.Errorf("Encode = %s", got)
	}
}

// TestParseAfterFailedParses: parses share their stacks, and a parse
// that fails midway leaves entries on them; the documents parsed after
// such failures decode as they did before.
func TestParseAfterFailedParses(t *testing.T) {
	docs := []string{
		`{"a": [1, {"b": "x\u00e9", "c": [true, null, {"d": {}}]}, []], "e": {"f": "g", "h": [1.5, -2]}, "a": 3}`,
		`[[[[{"k": "v"}]]], {"k": ["\n", "w"]}, "s"]`,
		`{"k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k10": {"x": [10, 11]}}`,
	}
	want := make([]string, len(docs))
	for i, d := range docs {
		want[i] = mustEncode(t, mustParse(t, d), pyjson.Options{})
	}
	for i, d := range docs {
		for cut := 1; cut < len(d); cut++ {
			if _, err := pyjson.Parse([]byte(d[:cut])); err == nil {
				continue // a prefix that is a document itself
			}
			for j, e := range docs {
				if got := mustEncode(t, mustParse(t, e), pyjson.Options{}); got != want[j] {
					t.Fatalf("document %d after a failed parse of %q (document %d): %s, want %s", j, d[:cut], i, got, want[j])
				}
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty", "", "Expecting value: line 1 column 1 (char 0)"},
		{"bom", "\ufeff{}", "Unexpected UTF-8 BOM"},
		{"invalid utf8", "\"\xff\"", "invalid UTF-8"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", "invalid UTF-8"},
		{"control character", "\"a\nb\"", "Invalid control character at: line 1 column 3 (char 2)"},
		{"trailing comma", "[1,]", "Expecting value: line 1 column 4 (char 3)"},
		{"extra data", "{} {}", "Extra data: line 1 column 4 (char 3)"},
		{"position counts code points", "\"é\" x", "Extra data: line 1 column 5 (char 4)"},
		{"line and column", "[1,\n 2,\n x]", "Expecting value: line 3 column 2 (char 9)"},
		{"nbsp is not whitespace", "\u00a01", "Expecting value"},
		{"vertical tab is not whitespace", "1\v", "Extra data"},
		{"leading zero", "01", "Extra data"},
		{"too many digits", strings.Repeat("1", 4301), "Exceeds the limit (4300 digits)"},
		{"too many negative digits", "-" + strings.Repeat("1", 4301), "value has 4301 digits"},
		{"too deep arrays", strings.Repeat("[", pyjson.MaxDepth+1) + strings.Repeat("]", pyjson.MaxDepth+1), "maximum nesting depth"},
		{"very deep unterminated", strings.Repeat(`{"a":[`, 200000), "maximum nesting depth"},
		{"bad escape", `"\x"`, `Invalid \escape: line 1 column 2 (char 1)`},
		{"short unicode escape", `"\u12"`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{"unterminated", `"abc`, "Unterminated string starting at: line 1 column 1 (char 0)"},
		{"single quotes", `'a'`, "Expecting value"},
		{"key not string", `{1:2}`, "Expecting property name enclosed in double quotes"},
		{"missing colon", `{"a" 1}`, "Expecting ':' delimiter"},
		{"missing comma", `[1 2]`, "Expecting ',' delimiter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted, got %#v", v)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var se *pyjson.SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SyntaxError", err)
			}
		})
	}
	// The deepest accepted nesting.
	d := strings.Repeat("[", pyjson.MaxDepth) + strings.Repeat("]", pyjson.MaxDepth)
	v := mustParse(t, d)
	if got := mustEncode(t, v, compact); got != d {
		t.Error("deepest document does not round-trip")
	}
}

func TestEncodeOptions(t *testing.T) {
	doc := mustParse(t, `{"b":[1,{"x":[]},{}],"a":"é\u2028\u0085\u007f\ud800😀<&>","c":null}`)
	tests := []struct {
		name string
		opt  pyjson.Options
		want string
	}{
		{"python default", pyjson.Options{Indent: -1, EnsureASCII: true},
			`{"b": [1, {"x": []}, {}], "a": "\u00e9\u2028\u0085\u007f\ud800\ud83d\ude00<&>", "c": null}`},
		{"compact sorted", pyjson.Options{Indent: -1, EnsureASCII: true, SortKeys: true, ItemSep: ",", KeySep: ":"},
			`{"a":"\u00e9\u2028\u0085\u007f\ud800\ud83d\ude00<&>","b":[1,{"x":[]},{}],"c":null}`},
		{"raw utf8", pyjson.Options{Indent: -1, SortKeys: true},
			"{\"a\": \"é\u2028\u0085\x7f\xed\xa0\x80😀<&>\", \"b\": [1, {\"x\": []}, {}], \"c\": null}"},
		{"raw utf8 escaping line separators", pyjson.Options{Indent: -1, SortKeys: true, EscapeLineSeps: true},
			"{\"a\": \"é\\u2028\\u0085\x7f\xed\xa0\x80😀<&>\", \"b\": [1, {\"x\": []}, {}], \"c\": null}"},
		{"indent 2", pyjson.Options{Indent: 2, EnsureASCII: true},
			"{\n  \"b\": [\n    1,\n    {\n      \"x\": []\n    },\n    {}\n  ],\n  \"a\": \"\\u00e9\\u2028\\u0085\\u007f\\ud800\\ud83d\\ude00<&>\",\n  \"c\": null\n}"},
		{"indent 0", pyjson.Options{Indent: 0, EnsureASCII: true, SortKeys: true},
			"{\n\"a\": \"\\u00e9\\u2028\\u0085\\u007f\\ud800\\ud83d\\ude00<&>\",\n\"b\": [\n1,\n{\n\"x\": []\n},\n{}\n],\n\"c\": null\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustEncode(t, doc, tt.opt); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEncodeControlCharacters(t *testing.T) {
	s := "\x00\x01\b\t\n\v\f\r\x1f \"\\/"
	want := `"\u0000\u0001\b\t\n\u000b\f\r\u001f \"\\/"`
	for _, ascii := range []bool{true, false} {
		if got := mustEncode(t, s, pyjson.Options{Indent: -1, EnsureASCII: ascii}); got != want {
			t.Errorf("EnsureASCII=%v: got %s, want %s", ascii, got, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := pyjson.NewObject()
	cyclic.Set("self", cyclic)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"go int", 1, "unsupported type int"},
		{"go map", map[string]any{}, "unsupported type map[string]interface {}"},
		{"non-canonical int", pyjson.Int("01"), "invalid Int"},
		{"negative zero int", pyjson.Int("-0"), "invalid Int"},
		{"empty int", pyjson.Int(""), "invalid Int"},
		{"int with too many digits", pyjson.Int(strings.Repeat("1", 4301)), "invalid Int"},
		{"invalid utf8", "a\xffb", "not UTF-8"},
		{"nested unsupported", []any{1.0, struct{}{}}, "unsupported type struct {}"},
		{"cycle", cyclic, "nesting deeper than MaxDepth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := pyjson.Encode(tt.v, compact)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encode error = %v, want %q", err, tt.want)
			}
			if b != nil {
				t.Errorf("Encode returned %q with the error", b)
			}
			if b, _ := pyjson.AppendEncode([]byte("keep"), []any{"x", tt.v}, compact); string(b) != "keep" {
				t.Errorf("AppendEncode returned %q with the error", b)
			}
		})
	}
}

func TestEncodeNilObjectAndAppend(t *testing.T) {
	var o *pyjson.Object
	if got := mustEncode(t, []any{o, pyjson.NewObject()}, compact); got != "[{}, {}]" {
		t.Errorf("got %s", got)
	}
	b, err := pyjson.AppendEncode([]byte("x="), pyjson.Int("5"), compact)
	if err != nil || string(b) != "x=5" {
		t.Errorf("AppendEncode = %q, %v", b, err)
	}
}

func TestStr(t *testing.T) {
	tests := []struct {
		name string
		in   string // JSON
		want string
	}{
		{"string itself", `"a'b"`, "a'b"},
		{"none", `null`, "None"},
		{"bools", `[true,false]`, "[True, False]"},
		{"numbers", `[1, -0, 1.0, 1e16, NaN, Infinity, -Infinity]`, "[1, 0, 1.0, 1e+16, nan, inf, -inf]"},
		{"dict", `{"k": null, "l": [1, "a"]}`, "{'k': None, 'l': [1, 'a']}"},
		{"quote choice", `["a'b", "a\"b", "a'\"b", "\\"]`, `["a'b", 'a"b', 'a\'"b', '\\']`},
		{"escapes", `["\t\n\r\u0000\u007f\u0085\u00a0\u00ad\u00e9"]`, `['\t\n\r\x00\x7f\x85\xa0\xadé']`},
		{"non printable", `["\u2028\ud800\ufeff\udb40\udc01\ud83d\ude00 "]`, `['\u2028\ud800\ufeff\U000e0001😀 ']`},
		{"empty", `[[], {}, ""]`, `[[], {}, '']`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pyjson.Str(mustParse(t, tt.in)); got != tt.want {
				t.Errorf("Str(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	if got := pyjson.Repr("a"); got != "'a'" {
		t.Errorf("Repr(a) = %s", got)
	}
}

func TestTruthy(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"null", false}, {"false", false}, {"true", true}, {"0", false}, {"-0", false}, {"1", true},
		{"0.0", false}, {"-0.0", false}, {"NaN", true}, {"0.1", true}, {`""`, false}, {`" "`, true},
		{"[]", false}, {"[0]", true}, {"{}", false}, {`{"":0}`, true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := pyjson.Truthy(mustParse(t, tt.in)); got != tt.want {
				t.Errorf("Truthy(%s) = %v", tt.in, got)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b string
		want bool
	}{
		{"bool int float", "[true, 1, 1.0]", "[1.0, true, 1]", true},
		{"false zero", "false", "-0.0", true},
		{"big int exact float", "9007199254740992", "9007199254740992.0", true},
		{"big int inexact float", "9007199254740993", "9007199254740992.0", false},
		{"huge int", "123456789012345677877719597056", "1.2345678901234568e+29", true},
		{"huge int off by one", "123456789012345677877719597057", "1.2345678901234568e+29", false},
		{"fraction", "1", "1.5", false},
		{"dict order", `{"a":1,"b":[2]}`, `{"b":[2.0],"a":1}`, true},
		{"dict extra key", `{"a":1}`, `{"a":1,"b":1}`, false},
		{"nan top", "NaN", "NaN", false},
		{"nan in list", "[NaN]", "[NaN]", true},
		{"nan in dict", `{"a":NaN}`, `{"a":NaN}`, true},
		{"nan vs number", "[NaN]", "[1]", false},
		{"inf", "1e999", "Infinity", true},
		{"string vs int", `"1"`, "1", false},
		{"null vs false", "null", "false", false},
		{"list vs dict", "[]", "{}", false},
		{"list length", "[1]", "[1,1]", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			if got := pyjson.Equal(a, b); got != tt.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := pyjson.Equal(b, a); got != tt.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

// TestSameKeyHashable: SameKey is Equal wrapped in a one-element list, as
// CPython compares dict keys and list members; Hashable refuses exactly the
// containers.
func TestSameKeyHashable(t *testing.T) {
	docs := []string{"NaN", "1", "1.0", "true", "false", "0", "null", `"1"`, `"a"`, "1e999",
		"123456789012345677877719597056", "[NaN]", "[1]", "{}", `{"a":NaN}`}
	for _, x := range docs {
		for _, y := range docs {
			a, b := mustParse(t, x), mustParse(t, y)
			want := pyjson.Equal([]any{a}, []any{b})
			if got := pyjson.SameKey(a, b); got != want {
				t.Errorf("SameKey(%s, %s) = %v, want %v (Equal([%s], [%s]))", x, y, got, want, x, y)
			}
		}
	}
	if !pyjson.SameKey(math.NaN(), math.NaN()) || pyjson.Equal(math.NaN(), math.NaN()) {
		t.Error("NaN: SameKey must hold and Equal must not")
	}
	for _, tt := range []struct {
		doc  string
		want bool
	}{{"null", true}, {"NaN", true}, {"1", true}, {`"a"`, true}, {"true", true}, {"[]", false}, {"{}", false}} {
		if got := pyjson.Hashable(mustParse(t, tt.doc)); got != tt.want {
			t.Errorf("Hashable(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

func TestStripFields(t *testing.T) {
	for _, tt := range []struct {
		name, in, strip string
		fields          []string
	}{
		{"empty", "", "", []string{}},
		{"only space", " \t\n\v\f\r\x1c\x1d\x1e\x1f\u0085\u00a0\u3000", "", []string{}},
		{"words", "  a b\u2003c\x1fd  ", "a b\u2003c\x1fd", []string{"a", "b", "c", "d"}},
		{"zero width is not space", "\u200ba\u200b", "\u200ba\u200b", []string{"\u200ba\u200b"}},
		{"mongolian vowel separator is not space", "\u180ea", "\u180ea", []string{"\u180ea"}},
		{"lone surrogate kept", " \xed\xa0\x80 ", "\xed\xa0\x80", []string{"\xed\xa0\x80"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := pyjson.Strip(tt.in); got != tt.strip {
				t.Errorf("Strip(%q) = %q, want %q", tt.in, got, tt.strip)
			}
			got := pyjson.Fields(tt.in)
			if strings.Join(got, "|") != strings.Join(tt.fields, "|") || len(got) != len(tt.fields) {
				t.Errorf("Fields(%q) = %q, want %q", tt.in, got, tt.fields)
			}
		})
	}
}

func TestFromGo(t *testing.T) {
	type myString string
	var nilMap map[string]any
	in := map[string]any{
		"z": []any{1, int64(-2), uint64(18446744073709551615), 1.5, float32(0.5), true, nil, "s"},
		"a": map[string]any{"y": json.Number("10"), "x": json.Number("1e2"), "w": json.Number("-0")},
		"m": map[string]int{"b": 2, "a": 1},
		"s": []string{"p", "q"},
		"p": &[]int{3},
		"t": myString("named"),
		"n": nilMap,
		"o": mustParse(t, `{"k":[1]}`),
		"r": json.RawMessage(`{"raw": 1.0}`),
		"i": pyjson.Int("12345678901234567890"),
	}
	v, err := pyjson.FromGo(in)
	if err != nil {
		t.Fatal(err)
	}
	got := mustEncode(t, v, compact)
	want := `{"a": {"w": 0, "x": 100.0, "y": 10}, "i": 12345678901234567890, "m": {"a": 1, "b": 2}, "n": null, ` +
		`"o": {"k": [1]}, "p": [3], "r": {"raw": 1.0}, "s": ["p", "q"], "t": "named", ` +
		`"z": [1, -2, 18446744073709551615, 1.5, 0.5, true, null, "s"]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	// An encoding/json tree decodes floats that look integral as float64.
	var tree any
	if err := json.Unmarshal([]byte(`{"b":[1,2.5,"x",null,false],"a":{}}`), &tree); err != nil {
		t.Fatal(err)
	}
	v, err = pyjson.FromGo(tree)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustEncode(t, v, compact); got != `{"a": {}, "b": [1.0, 2.5, "x", null, false]}` {
		t.Errorf("encoding/json tree: %s", got)
	}

	for _, bad := range []any{struct{}{}, map[int]any{1: 1}, json.Number("NaN"), json.Number("x"), pyjson.Int("-0"), []any{make(chan int)}} {
		if _, err := pyjson.FromGo(bad); err == nil {
			t.Errorf("FromGo(%#v) accepted", bad)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	type envelope struct {
		Doc   *pyjson.Object `json:"doc"`
		Count pyjson.Int     `json:"count"`
		None  *pyjson.Object `json:"none"`
	}
	doc := mustParse(t, `{"z":1,"a":[1.0,-0.0,"é\ud800"],"m":{"<":">"}}`).(*pyjson.Object)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelope{Doc: doc, Count: "123456789012345678901234567890"}); err != nil {
		t.Fatal(err)
	}
	want := `{"doc":{"z":1,"a":[1.0,-0.0,"é\ud800"],"m":{"<":">"}},"count":123456789012345678901234567890,"none":null}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}

	var back envelope
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !pyjson.Equal(back.Doc, doc) || back.Count != "123456789012345678901234567890" || back.None != nil {
		t.Errorf("round trip: %+v", back)
	}
	if got := mustEncode(t, back.Doc, pyjson.Options{Indent: -1}); got != `{"z": 1, "a": [1.0, -0.0, "é`+"\xed\xa0\x80"+`"], "m": {"<": ">"}}` {
		t.Errorf("unmarshaled doc encodes as %s", got)
	}

	if _, err := json.Marshal(mustParse(t, `{"x":NaN}`)); err == nil {
		t.Error("NaN marshaled")
	}
	if err := json.Unmarshal([]byte(`{"doc":[1]}`), &back); err == nil {
		t.Error("array unmarshaled into *Object")
	}
	if err := json.Unmarshal([]byte(`{"count":1.5}`), &back); err == nil {
		t.Error("float unmarshaled into Int")
	}
	if _, err := json.Marshal(pyjson.Int("x")); err == nil {
		t.Error("invalid Int marshaled")
	}
}
