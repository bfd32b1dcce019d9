package jsonw_test

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/jsonw"
	"github.com/settlehq/settle/internal/testenv"
)

// pieces are the fragments random strings are made of: plain ASCII and
// everything encoding/json escapes or replaces.
var pieces = []string{"a", "Z", "0", " ", "-", "_", "/", ":", "é", "日本", "😀", "\u2028", "\u2029", "\u0085",
	"<", ">", "&", "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\xff", "\xc3", "\xed\xa0\x80"}

// randomString returns a random string of pieces (empty one time in ten).
func randomString(rng *rand.Rand) string {
	if rng.Intn(10) == 0 {
		return ""
	}
	var b strings.Builder
	for range 1 + rng.Intn(12) {
		if rng.Intn(3) == 0 {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		} else {
			b.WriteString(pieces[rng.Intn(4)])
		}
	}
	return b.String()
}

// TestStringsMatchMarshal: every encoder gives json.Marshal's bytes.
func TestStringsMatchMarshal(t *testing.T) {
	rng := testenv.Rand(t)
	check := func(got []byte, v any) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("%#v: got %s, want %s", v, got, want)
		}
	}
	for _, p := range pieces {
		check(jsonw.String(nil, p), p)
	}
	for range 20000 {
		s := randomString(rng)
		check(jsonw.String(nil, s), s)
		check(jsonw.StringPtr(nil, &s), &s)
		var ss []string
		if rng.Intn(5) > 0 {
			ss = []string{}
			for range rng.Intn(4) {
				ss = append(ss, randomString(rng))
			}
		}
		check(jsonw.Strings(nil, ss), ss)
		n := rng.Intn(1000) - 500
		check(jsonw.Int(nil, n), n)
	}
	check(jsonw.StringPtr(nil, nil), (*string)(nil))
	check(jsonw.Bool(nil, true), true)
	check(jsonw.Bool(nil, false), false)
	obj := jsonw.Field([]byte("{"), "a")
	obj = jsonw.Int(obj, 1)
	obj = jsonw.Bool(jsonw.Field(obj, "b"), true)
	check(append(obj, '}'), struct {
		A int  `json:"a"`
		B bool `json:"b"`
	}{1, true})
}
