package pyjson_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/pyjson"
)

var fuzzSeeds = []string{
	``, `null`, `true`, `-0`, `-0.0`, `1e400`, `1e-400`, `NaN`, `[-Infinity]`, `123456789012345678901234567890`,
	`0.1`, `1e16`, `1e-5`, `5e-324`, `"\ud800"`, `"\ud83d\ude00"`, `"\u0000\u001f\u007f"`, "\"\u2028\u0085\"",
	`{"a":1,"a":2,"b":[{},[]]}`, `[1,]`, `{"a" 1}`, `"\x"`, `"\u12"`, "\ufeff1", "\"\xff\"", " [ 1 , 2 ] ",
	`[[[[[[[[[[]]]]]]]]]]`, `{"é":{"😀":["\t"]}}`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	g := newDocGen(4)
	for i := 0; i < 40; i++ {
		f.Add(g.doc(20))
		f.Add(g.mutate(g.doc(10)))
	}
	opts := []pyjson.Options{
		{Indent: -1, EnsureASCII: true},
		{Indent: -1, EnsureASCII: true, SortKeys: true, ItemSep: ",", KeySep: ":"},
		{Indent: 2, SortKeys: true},
		{Indent: -1, EscapeLineSeps: true},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := pyjson.Parse(data)
		if err != nil {
			return
		}
		_ = pyjson.Str(v)
		_ = pyjson.Truthy(v)
		// Indented output grows with the square of the nesting depth.
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > 300
		for _, o := range opts {
			if deep && o.Indent >= 0 {
				continue
			}
			b1, err := pyjson.Encode(v, o)
			if err != nil {
				t.Fatalf("Encode(%+v) of a parsed document: %v", o, err)
			}
			if !utf8.Valid(b1) {
				// Raw lone surrogates: Python could not write these either.
				if o.EnsureASCII {
					t.Fatalf("EnsureASCII output is not UTF-8: %q", b1)
				}
				continue
			}
			v2, err := pyjson.Parse(b1)
			if err != nil {
				t.Fatalf("re-parse of %q: %v", b1, err)
			}
			b2, err := pyjson.Encode(v2, o)
			if err != nil || !bytes.Equal(b1, b2) {
				t.Fatalf("not a fixed point (%v):\n%q\n%q", err, b1, b2)
			}
			if !pyjson.Equal([]any{v}, []any{v2}) {
				t.Fatalf("re-parsed value differs: %q", b1)
			}
		}
		if o, ok := v.(*pyjson.Object); ok {
			b, err := json.Marshal(o)
			if err != nil {
				return // NaN or infinity
			}
			var back pyjson.Object
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("MarshalJSON output %q does not unmarshal: %v", b, err)
			}
			if !pyjson.Equal(o, &back) {
				t.Fatalf("MarshalJSON round trip differs: %q", b)
			}
		}
	})
}
