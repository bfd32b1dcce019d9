package jsonw_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/settlehq/settle/internal/jsonw"
)

var nasty = []string{
	"", "plain", `q"uote`, `back\slash`, "<html>&amp;", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
	"héllo wörld", "日本語", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "emoji 😀", "\u0085",
}

func TestStringMatchesMarshal(t *testing.T) {
	check := func(s string) {
		want, _ := json.Marshal(s)
		if got := jsonw.String(nil, s); string(got) != string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
	}
	for _, s := range nasty {
		check(s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.IntN(0x80))
			case 1:
				b[i] = byte(r.IntN(256))
			default:
				const pick = "ab<>&\"\\\n\xe2\x80\xa8"
				b[i] = pick[r.IntN(len(pick))]
			}
		}
		check(string(b))
	}
}

func FuzzString(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonw.String(nil, s); string(got) != string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestStringsOptStringBool(t *testing.T) {
	s := "x<y"
	for _, c := range []struct {
		got  []byte
		want any
	}{
		{jsonw.Strings(nil, nil), []string(nil)},
		{jsonw.Strings(nil, []string{}), []string{}},
		{jsonw.Strings(nil, nasty), nasty},
		{jsonw.OptString(nil, nil), (*string)(nil)},
		{jsonw.OptString(nil, &s), &s},
		{jsonw.Bool(nil, true), true},
	} {
		want, _ := json.Marshal(c.want)
		if string(c.got) != string(want) {
			t.Errorf("got %s, want %s", c.got, want)
		}
	}
	obj := jsonw.Field([]byte("{"), "a")
	obj = jsonw.Bool(obj, false)
	obj = jsonw.Field(obj, "b")
	obj = append(jsonw.String(obj, "c"), '}')
	if string(obj) != `{"a":false,"b":"c"}` {
		t.Errorf("fields: %s", obj)
	}
}
