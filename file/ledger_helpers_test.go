package file_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/settlehq/settle/internal/testenv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/writeback"
)

var lgCtx = context.Background()

// lgKeys are the configured independent collector keys of the tests.
var lgKeys = []string{"anu0000000000001", "anu0000000000002"}

func lgConfig() writeback.Config {
	return writeback.Config{CollectorKeys: lgKeys, DefaultChatID: "6937032012"}
}

func lgQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lgLedgerPath is the default ledger path under root.
func lgLedgerPath(root string) string {
	return filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
}

// lgOpen opens the ledger store at root's default path and closes it at
// cleanup.
func lgOpen(t testing.TB, root string) *file.Ledger {
	t.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: lgConfig(), Logger: lgQuiet()})
	if err != nil {
		t.Fatalf("OpenLedger(%s): %v", root, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// lgBinding is a clean independent-ANU binding for task/track/batch.
func lgBinding(task, track, batch string) writeback.Binding {
	return writeback.Binding{
		TaskID:                      task,
		TrackID:                     track,
		DispatchID:                  "dispatch-" + task,
		DispatchIDSource:            "source_recorded",
		NormalCollectorCronID:       "ncc-" + task,
		NormalCollectorCronIDSource: "source_recorded",
		CollectorKey:                lgKeys[0],
		CollectorRole:               "ANU",
		AuthoritativeVerdict:        writeback.AuthoritativePass,
		TerminalStatus:              writeback.StatusCompleted,
		CompletedAt:                 "2025-11-22T09:00:00+09:00",
		SourceResultPath:            "memory/results/" + task + ".json",
		BatchID:                     batch,
		ExecutorKey:                 "exec000000000001",
	}
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

func lgWantCode(t testing.TB, err error, code settle.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := settle.ErrorCode(err); got != code {
		t.Fatalf("err = %v (code %s), want %s", err, got, code)
	}
}

// lgAppendRaw appends bytes to a file without any locking, as a foreign
// writer would.
func lgAppendRaw(t testing.TB, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
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

// lgRegistry is a valid registry record of task.
func lgRegistry(task, status string) writeback.RegistryRecord {
	return writeback.RegistryRecord{
		Schema:                writeback.RegistrySchema,
		TaskID:                task,
		DispatchID:            "dispatch-" + task,
		DispatchCronID:        "dispatch-" + task,
		Executor:              "executor exec000000000001",
		ChatID:                "6937032012",
		NormalCollectorCronID: "ncc-" + task,
		Role:                  "dispatcher",
		Status:                status,
		NoFallback:            true,
		TsKST:                 "2025-11-22T08:00:00+09:00",
	}
}

// lgAll returns every record of the ledger by paging through Records.
func lgAll(t testing.TB, l *file.Ledger, q writeback.RecordQuery) []writeback.LedgerRecord {
	t.Helper()
	var out []writeback.LedgerRecord
	q.After = -1
	for pages := 0; ; pages++ {
		if pages > 1_000_000 {
			t.Fatal("Records does not terminate")
		}
		p, err := l.Records(lgCtx, q)
		if err != nil {
			t.Fatalf("Records(%+v): %v", q, err)
		}
		out = append(out, p.Records...)
		if p.Next < 0 {
			return out
		}
		if p.Next <= q.After {
			t.Fatalf("Records cursor went back: %d after %d", p.Next, q.After)
		}
		q.After = p.Next
	}
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
