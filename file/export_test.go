package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

func exLine(t *testing.T, v any) []byte {
	t.Helper()
	b, err := writeback.EncodeLine(v)
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)-1]
}

func TestImportRecords(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("task-1", "T1", "b")) // 2 records
	lines := [][]byte{exLine(t, storetest.Registry("task-2", writeback.StatusRegistered)), exLine(t, storetest.Registry("task-2", writeback.StatusDispatched))}

	storetest.WantCode(t, l.ImportRecords(ctx, 0, lines), settle.VersionConflict)
	storetest.WantCode(t, l.ImportRecords(ctx, 3, lines), settle.VersionConflict)
	storetest.WantCode(t, l.ImportRecords(ctx, 2, [][]byte{[]byte(`{"schema": "other"}`)}), settle.InvalidInput)
	storetest.WantCode(t, l.ImportRecords(ctx, 2, [][]byte{append(exLine(t, storetest.Registry("x", "REGISTERED")), '\n')}), settle.InvalidInput)
	if kinds, _ := lgCheckFile(t, lgLedgerPath(root)); kinds[writeback.KindRegistry] != 1 {
		t.Fatalf("a refused import wrote: %v", kinds)
	}

	// A torn tail left by a dead writer is repaired first, as by an append.
	file.AppendRawForTest(t, lgLedgerPath(root), `{"schema": "callback_4tu`)
	if err := l.ImportRecords(ctx, 2, lines); err != nil {
		t.Fatal(err)
	}
	all := storetest.AllRecords(t, l, writeback.RecordQuery{})
	if len(all) != 4 || all[3].Registry == nil || all[3].Registry.Status != writeback.StatusDispatched || string(all[3].Raw) != string(lines[1]) {
		t.Fatalf("after import: %d records", len(all))
	}
	if h, _ := l.RegistryHistory(ctx, "task-2"); len(h) != 2 {
		t.Fatalf("history after import: %+v", h)
	}
	// Another store on the file sees them too, and the writer's decisions
	// follow them.
	l2 := lgOpen(t, root)
	if c, _ := l2.Classify(ctx, "task-2"); c != writeback.ClassRegistered {
		t.Fatalf("classify %s", c)
	}
	if err := l.ImportRecords(ctx, 4, nil); err != nil {
		t.Fatalf("empty import: %v", err)
	}
}

func TestExportDocuments(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := lgOpen(t, root)
	if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "b2", Tracks: storetest.Tracks("b2", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := l.PutBatchFile(ctx, "b1", []byte("{\"batch_id\": \"b1\", \"tracks\": []}\n")); err != nil {
		t.Fatal(err)
	}
	storetest.WantCode(t, l.PutBatchFile(ctx, "../x", []byte("{}")), settle.InvalidInput)
	// Leftovers that are not batch files.
	dir := filepath.Join(root, filepath.FromSlash(file.BatchesRelDir))
	for _, n := range []string{"b3.json.tmp-1-ab", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := l.WalkBatchFiles(ctx, func(id string, data []byte) error {
		keys = append(keys, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "b1,b2" {
		t.Fatalf("batch files %v", keys)
	}
	if b, err := l.GetBatch(ctx, "b1"); err != nil || b.BatchID != "b1" {
		t.Fatalf("GetBatch of an imported file: %+v %v", b, err)
	}

	created, err := l.PutSummaryFile(ctx, "b1", []byte("{\"batch_id\": \"b1\"}\n"))
	if err != nil || !created {
		t.Fatalf("first summary: %v %v", created, err)
	}
	created, err = l.PutSummaryFile(ctx, "b1", []byte("{}"))
	if err != nil || created {
		t.Fatalf("second summary: %v %v", created, err)
	}
	n := 0
	if err := l.WalkSummaryFiles(ctx, func(id string, data []byte) error {
		n++
		if id != "b1" || string(data) != "{\"batch_id\": \"b1\"}\n" {
			t.Fatalf("summary %s %q", id, data)
		}
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("%d summaries %v", n, err)
	}
}

func TestExportSceneFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := scOpen(t, root)
	if err := s.PutSceneFile(ctx, "p1", "ep_001_B.json", []byte("body")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSceneFile(ctx, "p0", "ep_001_B.versions.json", []byte("manifest")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		project, name string
		code          settle.Code
	}{
		{"p1", "../x.json", settle.UnsafeArtifact},
		{"p1", "a/b.json", settle.UnsafeArtifact},
		{"p1", "ep_001_B.versions.lock", settle.InvalidInput},
		{"p1", "ep_001_B.json.tmp-1-ab", settle.InvalidInput},
		{"../p", "x.json", settle.InvalidInput},
	} {
		storetest.WantCode(t, s.PutSceneFile(ctx, tc.project, tc.name, []byte("x")), tc.code)
	}
	// Locks, temporary files, other files and directories are not scene
	// files.
	dir := filepath.Join(root, "projects", "p1", "orchestration", "scenes")
	for _, n := range []string{"ep_001_B.versions.lock", "ep_001_B.json.tmp-9-00", "ep_001_B.json.tmp", "readme.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.WalkSceneFiles(ctx, func(project, name string, data []byte) error {
		got = append(got, project+"/"+name+"="+string(data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "p0/ep_001_B.versions.json=manifest,p1/ep_001_B.json=body" {
		t.Fatalf("scene files %v", got)
	}
	data, ok, err := s.ReadSceneFile(ctx, "p1", "ep_001_B.json")
	if err != nil || !ok || string(data) != "body" {
		t.Fatalf("read %q %v %v", data, ok, err)
	}
	if _, ok, err := s.ReadSceneFile(ctx, "p1", "ep_001_C.json"); err != nil || ok {
		t.Fatalf("missing file: %v %v", ok, err)
	}
}
