package settle_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	settle "github.com/settlehq/settle"
)

func TestErrorCodeAndMessage(t *testing.T) {
	inner := settle.Errorf(settle.EINVALID, "verdict file: not JSON")
	for name, c := range map[string]struct {
		err  error
		code settle.Code
		msg  string
	}{
		"plain coded":       {inner, settle.EINVALID, "verdict file: not JSON"},
		"context around it": {fmt.Errorf("bad.json: %w", inner), settle.EINVALID, "bad.json: verdict file: not JSON"},
		"coded cause":       {settle.Wrap(settle.ENOTFOUND, inner, "load"), settle.ENOTFOUND, "load: verdict file: not JSON"},
		"plain cause":       {settle.Wrap(settle.ECORRUPT, errors.New("eof"), "decode"), settle.ECORRUPT, "decode: eof"},
		"uncoded error":     {errors.New("disk on fire"), settle.EINTERNAL, "disk on fire"},
		"wrapped twice":     {fmt.Errorf("a: %w", fmt.Errorf("b: %w", inner)), settle.EINVALID, "a: b: verdict file: not JSON"},
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
		settle.ENOTFOUND: 404, settle.ESCHEMA: 422, settle.ECORRUPT: 422, settle.EINVALIDEPISODE: 400,
		settle.EUNSAFEARTIFACT: 422, settle.EMANIFESTIDENTITY: 422, settle.ESCENELOCKED: 423,
		settle.ESTRUCTURE: 409, settle.EVERSIONCONFLICT: 412, settle.EIDENTITY: 409,
		settle.EPATHREFUSED: 403, settle.EINVALID: 400, settle.EUNAUTHORIZED: 401,
		settle.EFORBIDDEN: 403, settle.EUNAVAILABLE: http.StatusServiceUnavailable, settle.EINTERNAL: 500, settle.ECOMPACTED: http.StatusGone,
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
	for _, c := range []struct {
		code, old settle.Code
		wire      string
	}{
		{settle.NotFound, settle.ENOTFOUND, "NOT_FOUND"}, {settle.SchemaMismatch, settle.ESCHEMA, "SCHEMA_MISMATCH"},
		{settle.Corrupt, settle.ECORRUPT, "CORRUPT"}, {settle.InvalidEpisode, settle.EINVALIDEPISODE, "INVALID_EPISODE"},
		{settle.UnsafeArtifact, settle.EUNSAFEARTIFACT, "UNSAFE_ARTIFACT"}, {settle.ManifestIdentity, settle.EMANIFESTIDENTITY, "MANIFEST_IDENTITY"},
		{settle.SceneLocked, settle.ESCENELOCKED, "SCENE_LOCKED"}, {settle.StructureImmutable, settle.ESTRUCTURE, "STRUCTURE_IMMUTABLE"},
		{settle.VersionConflict, settle.EVERSIONCONFLICT, "VERSION_CONFLICT"}, {settle.IdentityMismatch, settle.EIDENTITY, "IDENTITY_MISMATCH"},
		{settle.PathRefused, settle.EPATHREFUSED, "PATH_REFUSED"}, {settle.InvalidInput, settle.EINVALID, "INVALID_INPUT"},
		{settle.Unauthorized, settle.EUNAUTHORIZED, "UNAUTHORIZED"}, {settle.Forbidden, settle.EFORBIDDEN, "FORBIDDEN"},
		{settle.Unavailable, settle.EUNAVAILABLE, "UNAVAILABLE"}, {settle.Internal, settle.EINTERNAL, "INTERNAL"},
		{settle.Compacted, settle.ECOMPACTED, "COMPACTED"},
	} {
		if string(c.code) != c.wire || c.old != c.code || c.code.Error() != c.wire {
			t.Errorf("%s: code %q, old name %q", c.wire, c.code, c.old)
		}
	}
}
