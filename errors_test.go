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
