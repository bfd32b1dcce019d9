package settle

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Code is a stable, machine-readable error code. The same code is used in Go
// errors, in the CLI's JSON output and in the HTTP API.
type Code string

// The error codes of docs/errors.md (docs/contracts.md §3).
const (
	// ENOTFOUND: a scene, manifest, body or record does not exist.
	ENOTFOUND Code = "NOT_FOUND"
	// ESCHEMA: a file's schema_version is missing or not the supported one.
	ESCHEMA Code = "SCHEMA_MISMATCH"
	// ECORRUPT: a file is not valid JSON or not of the expected shape.
	ECORRUPT Code = "CORRUPT"
	// EINVALIDEPISODE: an episode token is not an int or ep_NNN.
	EINVALIDEPISODE Code = "INVALID_EPISODE"
	// EUNSAFEARTIFACT: a manifest artifact is not a bare basename.
	EUNSAFEARTIFACT Code = "UNSAFE_ARTIFACT"
	// EMANIFESTIDENTITY: a manifest or body names another batch.
	EMANIFESTIDENTITY Code = "MANIFEST_IDENTITY"
	// ESCENELOCKED: a locked scene blocks a replacement.
	ESCENELOCKED Code = "SCENE_LOCKED"
	// ESTRUCTURE: a status save would change the scene's structure.
	ESTRUCTURE Code = "STRUCTURE_IMMUTABLE"
	// EVERSIONCONFLICT: the active version moved since it was read.
	EVERSIONCONFLICT Code = "VERSION_CONFLICT"
	// EIDENTITY: a candidate scene's scene_id is not the requested batch.
	EIDENTITY Code = "IDENTITY_MISMATCH"
	// EPATHREFUSED: a write outside the allowlisted ledger was attempted.
	EPATHREFUSED Code = "PATH_REFUSED"
	// EINVALID: a malformed request, patch, record or verdict file.
	EINVALID Code = "INVALID_INPUT"
	// EUNAUTHORIZED: no or unknown credentials (server).
	EUNAUTHORIZED Code = "UNAUTHORIZED"
	// EFORBIDDEN: credentials without the authority for the operation.
	EFORBIDDEN Code = "FORBIDDEN"
	// EUNAVAILABLE: the store cannot serve the operation now (not in
	// contracts §3): it refuses writes after a failed write or fsync until
	// it is reopened, it is closed or opened read-only, a lock another
	// process holds was not released within the lock timeout, or the
	// caller gave up (a cancelled context, SIGTERM) while waiting.
	EUNAVAILABLE Code = "UNAVAILABLE"
	// EINTERNAL: an unexpected failure (I/O error, bug).
	EINTERNAL Code = "INTERNAL"
	// ECOMPACTED: a resume point older than what the event log retains;
	// the client re-syncs from the ledger and the batch statuses.
	ECOMPACTED Code = "COMPACTED"
)

// Error is an error with a Code. Wrap it with fmt.Errorf("...: %w", err) to
// add context; ErrorCode still finds the code.
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return string(e.Code) + ": " + e.Err.Error()
	}
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the code, a message and a cause.
func Wrap(code Code, err error, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns err's text for display beside its code: the text of
// every *Error in the chain without its code prefix, so context added with
// fmt.Errorf("%s: %w", ...) around a coded error does not repeat the code.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	// Replace the *Error's own text (code included) inside the full text.
	return strings.Replace(err.Error(), e.Error(), e.message(), 1)
}

// message is the error's text without its code prefix (recursively for a
// coded cause).
func (e *Error) message() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + ErrorMessage(e.Err)
	case e.Err != nil:
		return ErrorMessage(e.Err)
	default:
		return e.Message
	}
}

// HTTPStatus maps a code to its HTTP status (contracts §3).
func HTTPStatus(code Code) int {
	switch code {
	case ENOTFOUND:
		return http.StatusNotFound
	case ESCHEMA, ECORRUPT, EUNSAFEARTIFACT, EMANIFESTIDENTITY:
		return http.StatusUnprocessableEntity
	case EINVALIDEPISODE, EINVALID:
		return http.StatusBadRequest
	case ESCENELOCKED:
		return http.StatusLocked
	case ESTRUCTURE, EIDENTITY:
		return http.StatusConflict
	case EVERSIONCONFLICT:
		return http.StatusPreconditionFailed
	case EPATHREFUSED, EFORBIDDEN:
		return http.StatusForbidden
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ECOMPACTED:
		return http.StatusGone
	default:
		return http.StatusInternalServerError
	}
}
