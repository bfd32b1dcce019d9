package pyjson_test

import (
	"fmt"
	"testing"

	"github.com/settlehq/settle/pyjson"
)

// benchDoc is a ~100 KB ledger-like document.
func benchDoc() []byte {
	var b []byte
	b = append(b, '[')
	for i := 0; len(b) < 100_000; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, `{"schema_version": 3, "scene_id": "batch_%04d", "episode": "ep_%03d", "take": %d, `+
			`"score": %g, "ratio": 0.%d, "ok": %t, "note": "r\u00e9sum\u00e9 \u2014 take %d \ud83c\udfac", `+
			`"tags": ["alpha", "beta", "gamma"], "meta": {"by": "ops", "at": 1712345678.25, "n": null}}`,
			i, i%100, i%7, float64(i)*1.5e-3, i, i%2 == 0, i)
	}
	return append(b, ']')
}

func BenchmarkParse(b *testing.B) {
	d := benchDoc()
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pyjson.Parse(d); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, o pyjson.Options) {
	v, err := pyjson.Parse(benchDoc())
	if err != nil {
		b.Fatal(err)
	}
	out, _ := pyjson.Encode(v, o)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	buf := make([]byte, 0, len(out))
	for b.Loop() {
		if buf, err = pyjson.AppendEncode(buf[:0], v, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	b.Run("sorted_compact_ascii", func(b *testing.B) {
		benchEncode(b, pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true, ItemSep: ",", KeySep: ":"})
	})
	b.Run("sorted_raw", func(b *testing.B) { benchEncode(b, pyjson.Options{Indent: -1, SortKeys: true}) })
	b.Run("indent2", func(b *testing.B) { benchEncode(b, pyjson.Options{Indent: 2, EnsureASCII: true}) })
}
