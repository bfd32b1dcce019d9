package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// statusError is an error answered with a status other than its code's
// (413, 428, 405).
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(status int, err error) error { return &statusError{status: status, err: err} }

// errorStatus returns the HTTP status and code of err (contracts §3).
func errorStatus(err error) (int, settle.Code) {
	code := settle.ErrorCode(err)
	var se *statusError
	if errors.As(err, &se) {
		return se.status, code
	}
	return settle.HTTPStatus(code), code
}

// errorMessage is the message of err without its code prefix.
func errorMessage(err error) string {
	var se *statusError
	if errors.As(err, &se) && se == err {
		err = se.err
	}
	return settle.ErrorMessage(err)
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	// The write-back answers are encoded without reflection (the same
	// bytes: see answer_json.go), into a buffer used again once written:
	// a batch's answer is ~100 KB.
	switch x := v.(type) {
	case *writeback.Decision:
		bp := decisionBufs.Get().(*[]byte)
		b = x.AppendJSON((*bp)[:0])
		defer repool(&decisionBufs, bp, &b, maxPooledDecision)
	case *WritebackBatchResponse:
		bp := answerBufs.Get().(*[]byte)
		b = x.appendJSON((*bp)[:0])
		defer repool(&answerBufs, bp, &b, maxPooledAnswer)
	default:
		b, err = json.Marshal(v)
	}
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: APIError{Code: string(settle.Internal), Message: "encode response: " + err.Error()}})
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// repool returns bp to pool holding *b, the buffer it became, unless
// that grew beyond limit.
func repool(pool *sync.Pool, bp *[]byte, b *[]byte, limit int) {
	if cap(*b) <= limit {
		*bp = *b
		pool.Put(bp)
	}
}

// decisionBufs holds the buffers single write-back answers (~1.5 KB) are
// encoded into: net/http copies what the handler writes, so a buffer is
// free again once written (one per request would be a tenth of the bytes
// a write-back allocates). One larger than maxPooledDecision is left to
// the collector.
var decisionBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledDecision = 16 << 10

// answerBufs holds the buffers batch answers are encoded into; one larger
// than maxPooledAnswer is left to the collector.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledAnswer = 1 << 20

// writeError answers err as {"error": {"code", "message"}}.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	if ri := info(r.Context()); ri != nil {
		ri.err = err
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="settle"`)
	}
	writeJSON(w, status, ErrorBody{Error: APIError{Code: string(code), Message: errorMessage(err)}})
}

// decodeJSON decodes the request body strictly into dst: one JSON value,
// no unknown fields, nothing after it, within the size limit.
func decodeJSON(r *http.Request, dst any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeStrict(body, dst)
}

func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return settle.Errorf(settle.InvalidInput, "empty request body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return settle.Wrap(settle.InvalidInput, err, "request body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return settle.Errorf(settle.InvalidInput, "request body: data after the JSON value")
	}
	return nil
}

// readBody reads the whole body within the server's size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAllSized(r.Body, r.ContentLength)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, withStatus(http.StatusRequestEntityTooLarge,
				settle.Errorf(settle.InvalidInput, "request body exceeds %d bytes", mb.Limit))
		}
		return nil, settle.Wrap(settle.InvalidInput, err, "read request body")
	}
	return b, nil
}

// maxPresize bounds the buffer readAllSized takes from a declared length
// before any byte is read (a batch of 64 verdicts is ~35 KB).
const maxPresize = 64 << 10

// readAllSized is io.ReadAll starting with room for the declared length
// size (-1: unknown) and the read that sees EOF, so a body is read into
// one allocation instead of io.ReadAll's 512 bytes grown by copies.
func readAllSized(rd io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxPresize {
		return io.ReadAll(rd)
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// errMethod is the 405 answer.
func errMethod(method string, allow []string) error {
	return withStatus(http.StatusMethodNotAllowed,
		settle.Errorf(settle.InvalidInput, "method %s not allowed; allowed: %v", method, allow))
}
