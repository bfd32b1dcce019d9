package scene_test

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/settlehq/settle/scene"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/pyjson"
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

// referenceDir locates the Python reference (SETTLE_REFERENCE_DIR, default
// <repo root>/../shared/reference/py) and python3, skipping loudly when
// either is missing (failing under CI=true).
func referenceDir(t testing.TB) (python, dir string) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		msg := "!!! PYTHON REFERENCE UNAVAILABLE, DIFFERENTIAL TEST NOT RUN: " + why + " !!!"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		missing("python3 not found")
	}
	dir = os.Getenv("SETTLE_REFERENCE_DIR")
	if dir == "" {
		root, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				missing("no go.mod above the test directory")
			}
			root = parent
		}
		dir = filepath.Join(root, "..", "shared", "reference", "py")
	}
	if _, err := os.Stat(filepath.Join(dir, "recoil", "pipeline", "core", "persistence.py")); err != nil {
		missing("no reference at " + dir + " (set SETTLE_REFERENCE_DIR)")
	}
	return python, dir
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
