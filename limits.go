package settle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/settlehq/settle/pyjson"
)

// The limits on every input settle accepts, checked before anything is
// written. They are chosen so that whatever settle writes stays readable by
// the Python tools that share the workspace (json.load recurses once per
// nesting level and stops near 1000) and stays cheap to read back.
// docs/limits.md is the table of the same values.
const (
	// MaxJSONDepth is the deepest array/object nesting of any JSON document
	// settle reads as input or writes as a scene body, counted from the
	// document's root (a scene body's own structure takes 6 levels down to
	// a take's metadata).
	MaxJSONDepth = 64
	// MaxVerdictBytes is the largest verdict file.
	MaxVerdictBytes = 1 << 20
	// MaxSceneBytes is the largest scene given as input and the largest
	// scene body settle writes (a patch or a status save may not grow a
	// body past it).
	MaxSceneBytes = 4 << 20
	// MaxPlanBytes is the largest plan file.
	MaxPlanBytes = 4 << 20
	// MaxPatchBytes is the largest JSON Patch document.
	MaxPatchBytes = 1 << 20
	// MaxPatchOps is the most operations one JSON Patch may hold.
	MaxPatchOps = 1000
	// MaxRecordBytes is the largest registry record or --expect document
	// given as input.
	MaxRecordBytes = 64 << 10
	// MaxIDBytes is the longest id (task, track, batch, dispatch, collector,
	// executor, chat, cron ids, keys, roles, statuses, classifications) a
	// ledger record may carry.
	MaxIDBytes = 512
	// MaxTextBytes is the longest other string a ledger record may carry
	// (source_result_path, completed_at, ts_kst, a verdict).
	MaxTextBytes = 4096
	// MaxBeats is the most beats a scene may hold.
	MaxBeats = 1000
	// MaxTakesPerBeat is the most takes one beat may hold.
	MaxTakesPerBeat = 1000
	// MaxPlanSequences is the most sequences one plan may hold.
	MaxPlanSequences = 1000
	// MaxHTTPBodyBytes is the default request body limit of the HTTP
	// server: room for the largest scene or plan in a request.
	MaxHTTPBodyBytes = 8 << 20
	// MaxBatchWritebacks is the most write-backs one batched request
	// (WritebackMany, POST /v1/writebacks/batch) carries: one group
	// commit holds them all, so a batch must stay a bounded unit of work.
	MaxBatchWritebacks = 256
)

// Limit is one row of the limits table.
type Limit struct {
	Name  string
	Value int
	Unit  string
	What  string
}

// Limits lists every limit with what it bounds, in the order of
// docs/limits.md.
var Limits = []Limit{
	{"MaxJSONDepth", MaxJSONDepth, "levels", "nesting of every JSON input and of every scene body written"},
	{"MaxVerdictBytes", MaxVerdictBytes, "bytes", "verdict file"},
	{"MaxSceneBytes", MaxSceneBytes, "bytes", "scene input and every scene body written"},
	{"MaxPlanBytes", MaxPlanBytes, "bytes", "plan file"},
	{"MaxPatchBytes", MaxPatchBytes, "bytes", "JSON Patch document"},
	{"MaxPatchOps", MaxPatchOps, "operations", "operations of one JSON Patch"},
	{"MaxRecordBytes", MaxRecordBytes, "bytes", "registry record or --expect document"},
	{"MaxIDBytes", MaxIDBytes, "bytes", "each id field of a ledger record"},
	{"MaxTextBytes", MaxTextBytes, "bytes", "each other string field of a ledger record"},
	{"MaxBeats", MaxBeats, "beats", "beats of one scene"},
	{"MaxTakesPerBeat", MaxTakesPerBeat, "takes", "takes of one beat"},
	{"MaxPlanSequences", MaxPlanSequences, "sequences", "sequences of one plan"},
	{"MaxHTTPBodyBytes", MaxHTTPBodyBytes, "bytes", "HTTP request body (server default)"},
	{"MaxBatchWritebacks", MaxBatchWritebacks, "write-backs", "write-backs of one batched request"},
}

// LimitError is the InvalidInput refusal of an input over the named limit.
func LimitError(limit string, max int, format string, args ...any) error {
	return &Error{Code: InvalidInput, Message: fmt.Sprintf(format, args...) + fmt.Sprintf(" exceeds %s (%d)", limit, max)}
}

// ReadInputFile reads an input file of at most limit bytes, named by the
// limit's name in the refusal. It refuses anything but a regular file
// (a device such as /dev/zero, a FIFO, a directory) before reading, and
// reads at most limit+1 bytes, so an oversized input costs no more memory
// than the limit. A missing file is NotFound, every other failure InvalidInput.
func ReadInputFile(path, limitName string, limit int) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; the mode
	// check below then refuses it. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Wrap(NotFound, err, "read %s", path)
		}
		return nil, Wrap(InvalidInput, err, "read %s", path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Wrap(InvalidInput, err, "read %s", path)
	}
	if !fi.Mode().IsRegular() {
		return nil, Errorf(InvalidInput, "read %s: not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	if fi.Size() > int64(limit) {
		return nil, LimitError(limitName, limit, "%s: %d bytes", path, fi.Size())
	}
	return ReadInput(f, path, limitName, limit)
}

// ReadInput reads at most limit bytes from r (standard input, a request
// body) and refuses a longer input with InvalidInput naming the limit.
func ReadInput(r io.Reader, what, limitName string, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, Wrap(InvalidInput, err, "read %s", what)
	}
	if len(data) > limit {
		return nil, LimitError(limitName, limit, "%s: more than %d bytes", what, limit)
	}
	return data, nil
}

// ParseInput parses a JSON input of at most limit bytes nested at most
// MaxJSONDepth levels. Over a limit it returns the InvalidInput refusal naming
// it; for a document json.loads refuses it returns the *pyjson.SyntaxError,
// which the caller wraps with its own code and context.
func ParseInput(data []byte, limitName string, limit int) (any, error) {
	if len(data) > limit {
		return nil, LimitError(limitName, limit, "input of %d bytes", len(data))
	}
	v, err := pyjson.ParseDepth(data, MaxJSONDepth)
	if err != nil {
		if pyjson.IsDepthError(err) {
			return nil, LimitError("MaxJSONDepth", MaxJSONDepth, "nesting")
		}
		return nil, err
	}
	return v, nil
}

// fileKind names the type of a file that is not a regular file.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}
