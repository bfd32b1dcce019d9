package scene_test

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/settlehq/settle/scene"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
)

// obj parses a JSON object literal.
func obj(t testing.TB, s string) *pyjson.Object {
	t.Helper()
	v, err := pyjson.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		t.Fatalf("parse %q: not an object", s)
	}
	return o
}

// val parses any JSON value.
func val(t testing.TB, s string) any {
	t.Helper()
	v, err := pyjson.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// compact encodes a value as compact JSON in key order.
func compact(t testing.TB, v any) string {
	t.Helper()
	b, err := pyjson.Encode(v, pyjson.Options{Indent: -1, ItemSep: ",", KeySep: ":", EnsureASCII: true})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// wantCode fails unless err carries code (or is nil when code is "").
func wantCode(t testing.TB, err error, code settle.Code) {
	t.Helper()
	if got := settle.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// referenceDir locates the Python reference and python3, or skips (see
// testenv.Reference for when it fails instead).
func referenceDir(t testing.TB) (python, dir string) {
	t.Helper()
	dir = testenv.ReferenceDir(t, "recoil/pipeline/core/persistence.py")
	return testenv.Python(t), dir
}

// mustEncode is EncodeBody or a fatal error.
func mustEncode(t testing.TB, sc *scene.Scene) []byte {
	t.Helper()
	b, err := scene.EncodeBody(sc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sha is the hex sha256 of s.
func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
