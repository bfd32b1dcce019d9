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

// The error codes of docs/errors.md (docs/contracts.md §3). Each constant
// is named as its code, and is an error value itself:
// errors.Is(err, settle.NotFound) reports whether a coded error in err's
// chain has that code.
const (
	// NotFound: a scene, manifest, body or record does not exist.
	NotFound Code = "NOT_FOUND"
	// SchemaMismatch: a file's schema_version is missing or not the supported one.
	SchemaMismatch Code = "SCHEMA_MISMATCH"
	// Corrupt: a file is not valid JSON or not of the expected shape.
	Corrupt Code = "CORRUPT"
	// InvalidEpisode: an episode token is not an int or ep_NNN.
	InvalidEpisode Code = "INVALID_EPISODE"
	// UnsafeArtifact: a manifest artifact is not a bare basename.
	UnsafeArtifact Code = "UNSAFE_ARTIFACT"
	// ManifestIdentity: a manifest or body names another batch.
	ManifestIdentity Code = "MANIFEST_IDENTITY"
	// SceneLocked: a locked scene blocks a replacement.
	SceneLocked Code = "SCENE_LOCKED"
	// StructureImmutable: a status save would change the scene's structure.
	StructureImmutable Code = "STRUCTURE_IMMUTABLE"
	// VersionConflict: the active version moved since it was read.
	VersionConflict Code = "VERSION_CONFLICT"
	// IdentityMismatch: a candidate scene's scene_id is not the requested batch.
	IdentityMismatch Code = "IDENTITY_MISMATCH"
	// PathRefused: a write outside the allowlisted ledger was attempted.
	PathRefused Code = "PATH_REFUSED"
	// InvalidInput: a malformed request, patch, record or verdict file.
	InvalidInput Code = "INVALID_INPUT"
	// Unauthorized: no or unknown credentials (server).
	Unauthorized Code = "UNAUTHORIZED"
	// Forbidden: credentials without the authority for the operation.
	Forbidden Code = "FORBIDDEN"
	// Unavailable: the store cannot serve the operation now (not in
	// contracts §3): it refuses writes after a failed write or fsync until
	// it is reopened, it is closed or opened read-only, a lock another
	// process holds was not released within the lock timeout, or the
	// caller gave up (a cancelled context, SIGTERM) while waiting.
	Unavailable Code = "UNAVAILABLE"
	// Internal: an unexpected failure (I/O error, bug).
	Internal Code = "INTERNAL"
	// Compacted: a resume point older than what the event log retains;
	// the client re-syncs from the ledger and the batch statuses.
	Compacted Code = "COMPACTED"
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

// Error makes a Code an error value, the target of errors.Is and errors.As.
func (c Code) Error() string { return string(c) }

// Is reports whether target is e's code: errors.Is(err, settle.NotFound).
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// As sets a *Code target to e's code: var c settle.Code; errors.As(err, &c).
func (e *Error) As(target any) bool {
	c, ok := target.(*Code)
	if ok {
		*c = e.Code
	}
	return ok
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the code, a message and a cause.
func Wrap(code Code, err error, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the first code in err's chain, Internal for any other
// non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return Internal
}

// ErrorMessage returns err's text for display beside its code: the text of
// every *Error in the chain without its code, so context added with
// fmt.Errorf("%s: %w", ...) around a coded error does not repeat the code.
// It follows the chain: a wrapper whose text ends with its cause's text (the
// ": %w" form) keeps its own prefix, errors.Join keeps its lines; any other
// wrapper is shown as it is.
func ErrorMessage(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case *Error:
		switch {
		case e.Err != nil && e.Message != "":
			return e.Message + ": " + ErrorMessage(e.Err)
		case e.Err != nil:
			return ErrorMessage(e.Err)
		default:
			return e.Message
		}
	case interface{ Unwrap() error }:
		text, cause := err.Error(), e.Unwrap()
		if cause != nil {
			if prefix, ok := strings.CutSuffix(text, cause.Error()); ok {
				return prefix + ErrorMessage(cause)
			}
		}
		return text
	case interface{ Unwrap() []error }:
		// errors.Join: one line per error.
		causes := e.Unwrap()
		texts, msgs := make([]string, len(causes)), make([]string, len(causes))
		for i, c := range causes {
			texts[i], msgs[i] = c.Error(), ErrorMessage(c)
		}
		if text := err.Error(); text != strings.Join(texts, "\n") {
			return text
		}
		return strings.Join(msgs, "\n")
	}
	return err.Error()
}

// HTTPStatus maps a code to its HTTP status (contracts §3).
func HTTPStatus(code Code) int {
	switch code {
	case NotFound:
		return http.StatusNotFound
	case SchemaMismatch, Corrupt, UnsafeArtifact, ManifestIdentity:
		return http.StatusUnprocessableEntity
	case InvalidEpisode, InvalidInput:
		return http.StatusBadRequest
	case SceneLocked:
		return http.StatusLocked
	case StructureImmutable, IdentityMismatch:
		return http.StatusConflict
	case VersionConflict:
		return http.StatusPreconditionFailed
	case PathRefused, Forbidden:
		return http.StatusForbidden
	case Unauthorized:
		return http.StatusUnauthorized
	case Unavailable:
		return http.StatusServiceUnavailable
	case Compacted:
		return http.StatusGone
	default:
		return http.StatusInternalServerError
	}
}
