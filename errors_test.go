package settle_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
)

func TestErrorCodeAndMessage(t *testing.T) {
	inner := settle.Errorf(settle.InvalidInput, "verdict file: not JSON")
	for name, c := range map[string]struct {
		err  error
		code settle.Code
		msg  string
	}{
		"plain coded":       {inner, settle.InvalidInput, "verdict file: not JSON"},
		"context around it": {fmt.Errorf("bad.json: %w", inner), settle.InvalidInput, "bad.json: verdict file: not JSON"},
		"coded cause":       {settle.Wrap(settle.NotFound, inner, "load"), settle.NotFound, "load: verdict file: not JSON"},
		"plain cause":       {settle.Wrap(settle.Corrupt, errors.New("eof"), "decode"), settle.Corrupt, "decode: eof"},
		"uncoded error":     {errors.New("disk on fire"), settle.Internal, "disk on fire"},
		"wrapped twice":     {fmt.Errorf("a: %w", fmt.Errorf("b: %w", inner)), settle.InvalidInput, "a: b: verdict file: not JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := settle.ErrorCode(c.err); got != c.code {
				t.Errorf("code = %s, want %s", got, c.code)
			}
			if got := settle.ErrorMessage(c.err); got != c.msg {
				t.Errorf("message = %q, want %q", got, c.msg)
			}
		})
	}
	if settle.ErrorCode(nil) != "" || settle.ErrorMessage(nil) != "" {
		t.Error("nil error has a code or message")
	}
}

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[settle.Code]int{
		settle.NotFound: 404, settle.SchemaMismatch: 422, settle.Corrupt: 422, settle.InvalidEpisode: 400,
		settle.UnsafeArtifact: 422, settle.ManifestIdentity: 422, settle.SceneLocked: 423,
		settle.StructureImmutable: 409, settle.VersionConflict: 412, settle.IdentityMismatch: 409,
		settle.PathRefused: 403, settle.InvalidInput: 400, settle.Unauthorized: 401,
		settle.Forbidden: 403, settle.Unavailable: http.StatusServiceUnavailable, settle.Internal: 500, settle.Compacted: http.StatusGone,
	} {
		if got := settle.HTTPStatus(code); got != want {
			t.Errorf("%s -> %d, want %d", code, got, want)
		}
	}
}

func TestErrorsIsAndAsByCode(t *testing.T) {
	err := fmt.Errorf("load: %w", settle.Wrap(settle.NotFound, settle.Errorf(settle.InvalidInput, "bad id"), "scene B1"))
	if !errors.Is(err, settle.NotFound) || !errors.Is(err, settle.InvalidInput) {
		t.Errorf("errors.Is misses a code in the chain of %v", err)
	}
	if errors.Is(err, settle.Corrupt) || errors.Is(errors.New("NOT_FOUND"), settle.NotFound) {
		t.Error("errors.Is matches a code that is not in the chain")
	}
	var c settle.Code
	if !errors.As(err, &c) || c != settle.NotFound {
		t.Errorf("errors.As: %q, want the first code NOT_FOUND", c)
	}
	var e *settle.Error
	if !errors.As(err, &e) || e.Code != settle.NotFound || e.Message != "scene B1" {
		t.Errorf("errors.As *Error: %+v", e)
	}
	if settle.ErrorCode(fmt.Errorf("x: %w", settle.VersionConflict)) != settle.VersionConflict {
		t.Error("a bare Code in the chain is the error's code")
	}
}

// TestErrorMessageWithoutCodes: the message shows every coded error's text
// without its code, whatever wraps it, and exactly the text otherwise.
func TestErrorMessageWithoutCodes(t *testing.T) {
	coded := settle.Errorf(settle.Unavailable, "lock held")
	for name, c := range map[string]struct {
		err error
		msg string
	}{
		"joined":        {errors.Join(coded, fmt.Errorf("roll back: %w", settle.Errorf(settle.Internal, "eio"))), "lock held\nroll back: eio"},
		"%v, not %w":    {fmt.Errorf("serve: %v", coded), "serve: UNAVAILABLE: lock held"},
		"cause first":   {fmt.Errorf("%w: then more", coded), "UNAVAILABLE: lock held: then more"},
		"code in text":  {fmt.Errorf("UNAVAILABLE: lock held: %w", coded), "UNAVAILABLE: lock held: lock held"},
		"empty message": {settle.Wrap(settle.Corrupt, errors.New("eof"), ""), "eof"},
	} {
		if got := settle.ErrorMessage(c.err); got != c.msg {
			t.Errorf("%s: message = %q, want %q", name, got, c.msg)
		}
	}
}

// TestCodeNames: each code's Go name is its wire name in Go style, and the
// deprecated E-names are the same values.
func TestCodeNames(t *testing.T) {
	// Every Code constant is named as its code: NOT_FOUND is NotFound.
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			v := sp.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			wire, err := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			for _, w := range strings.Split(wire, "_") {
				want += w[:1] + strings.ToLower(w[1:])
			}
			if v.Names[0].Name != want {
				t.Errorf("constant %s has code %s: want the name %s", v.Names[0].Name, wire, want)
			}
			if settle.Code(wire).Error() != wire {
				t.Errorf("%s.Error() = %q", wire, settle.Code(wire).Error())
			}
			n++
		}
	}
	if n != 17 {
		t.Fatalf("%d Code constants in errors.go, want 17", n)
	}
}
