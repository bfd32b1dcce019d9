package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

var lgCtx = context.Background()

func lgQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lgLedgerPath is the default ledger path under root.
func lgLedgerPath(root string) string {
	return filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
}

// lgOpen opens the ledger store at root's default path and closes it at
// cleanup.
func lgOpen(t testing.TB, root string) *file.Ledger {
	t.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
	if err != nil {
		t.Fatalf("OpenLedger(%s): %v", root, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func lgReq(b writeback.Binding) writeback.WritebackRequest {
	return writeback.WritebackRequest{Binding: b}
}

// lgWriteback writes b back and fails the test on an error.
func lgWriteback(t testing.TB, l *file.Ledger, b writeback.Binding) writeback.WritebackOutcome {
	t.Helper()
	out, err := l.Writeback(lgCtx, lgReq(b))
	if err != nil {
		t.Fatalf("Writeback(%s/%s): %v", b.TaskID, b.TrackID, err)
	}
	return out
}

func lgWantClass(t testing.TB, out writeback.WritebackOutcome, class string, appended bool) {
	t.Helper()
	if out.Decision.Classification != class || out.Decision.Appended != appended {
		t.Fatalf("decision = %s appended=%v, want %s appended=%v (reasons %q)",
			out.Decision.Classification, out.Decision.Appended, class, appended, out.Decision.Reasons)
	}
}

// lgLine is the ledger line (with "\n") of a record.
func lgLine(t testing.TB, v any) string {
	t.Helper()
	b, err := writeback.EncodeLine(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lgCheckFile verifies the ledger file: every complete line is a valid
// record (no glued lines), and returns the records by kind and the
// writeback ids of the durable records with their counts.
func lgCheckFile(t testing.TB, path string) (kinds map[writeback.RecordKind]int, wids map[string]int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	kinds = map[writeback.RecordKind]int{}
	wids = map[string]int{}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1] // a torn tail is allowed; it is never glued to
	}
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		rec, ok := writeback.DecodeLine([]byte(line))
		if !ok {
			t.Fatalf("%s line %d is not a valid record: %.200q", path, n+1, line)
		}
		kinds[rec.Kind]++
		if rec.Durable != nil {
			wids[rec.Durable.WritebackID]++
		}
	}
	return kinds, wids
}

// lgRepoRoot walks up from the working directory to go.mod.
func lgRepoRoot(t testing.TB) string {
	t.Helper()
	return testenv.RepoRoot(t)
}

// lgReferenceMarker is the seed module the ledger tests run.
const lgReferenceMarker = "anu_v3/batch_settle_writeback.py"

// lgReference returns the Python reference directory and python3, or skips
// (see testenv.Reference for when it fails instead).
func lgReference(t testing.TB) (dir, python string) {
	t.Helper()
	return testenv.ReferenceDir(t, lgReferenceMarker), testenv.Python(t)
}

// lgSeedRead is what the seed's readers make of a ledger
// (testdata/ledger_reader.py): the registry records, the durable lines
// and their writeback ids, and the class of each task asked about.
type lgSeedRead struct {
	Registry     int               `json:"registry"`
	Durable      int               `json:"durable"`
	WritebackIDs []string          `json:"writeback_ids"`
	Classify     map[string]string `json:"classify"`
}

// lgSeedReads runs the seed's readers of the reference ref with python on
// the ledger at path, classifying tasks; any failure fails t.
func lgSeedReads(t testing.TB, ref, python, path string, tasks ...string) lgSeedRead {
	t.Helper()
	args := append([]string{filepath.Join(lgRepoRoot(t), "file", "testdata", "ledger_reader.py"), ref, path}, tasks...)
	out, err := exec.Command(python, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("python reader: %v\n%s", err, out)
	}
	var got lgSeedRead
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python reader output %q: %v", out, err)
	}
	return got
}
