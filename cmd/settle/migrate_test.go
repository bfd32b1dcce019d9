package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// pgTestURL returns a URL on a fresh schema of the test database, or
// skips LOUDLY (fails under CI=true).
func pgTestURL(t *testing.T) string {
	t.Helper()
	return testenv.PostgresURL(t, "cli_")
}

func populateWorkspace(t *testing.T, root string) {
	t.Helper()
	ctx := context.Background()
	led, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config()})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	for _, tt := range storetest.Tracks("b1", 2) {
		if _, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(tt.TaskID, tt.TrackID, "b1")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := led.Settle(ctx, "b1", storetest.Tracks("b1", 2), "T2"); err != nil {
		t.Fatal(err)
	}
	sc, err := file.OpenScenes(file.SceneOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.PatchStatus(ctx, storetest.Ref("B"), 1, []byte(`[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_000"}}]`)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateCommandUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no to":      {"migrate", "--from", "file:"},
		"no from":    {"migrate", "--to", "file:"},
		"same store": {"migrate", "--from", "file:x", "--to", "file:x"},
		"extra args": {"migrate", "--from", "file:a", "--to", "file:b", "c"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, code := run(t, nil, args...); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
	out, _, code := run(t, nil, "--json", "migrate", "--from", "s3://x", "--to", "file:"+t.TempDir())
	if code != 1 || !strings.Contains(out, `"INVALID_INPUT"`) {
		t.Fatalf("bad URL: exit %d %s", code, out)
	}
}

func TestMigrateCommandFileToFile(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	populateWorkspace(t, src)
	out, errOut, code := run(t, nil, "migrate", "--from", "file:"+src, "--to", "file:"+dst)
	if code != 0 || !strings.Contains(out, "verified") || !strings.Contains(errOut, "migrate: ledger") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	a, _ := os.ReadFile(filepath.Join(src, filepath.FromSlash(writeback.DefaultLedgerRelPath)))
	b, _ := os.ReadFile(filepath.Join(dst, filepath.FromSlash(writeback.DefaultLedgerRelPath)))
	if len(a) == 0 || string(a) != string(b) {
		t.Fatal("the copied ledger differs")
	}
	out, _, code = run(t, nil, "--json", "migrate", "--quiet", "--from", "file:"+src, "--to", "file:"+dst)
	var rep struct {
		Records  struct{ Copied, Same int64 }
		Verified bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Records.Copied != 0 || rep.Records.Same == 0 || !rep.Verified {
		t.Fatalf("re-run: exit %d %s", code, out)
	}
}

// TestMigrateCommandPostgres: file -> PostgreSQL, then the ledger and
// scene commands with --store postgres://..., then back to a new file
// workspace, byte for byte.
func TestMigrateCommandPostgres(t *testing.T) {
	pg := pgTestURL(t)
	src, back := t.TempDir(), t.TempDir()
	populateWorkspace(t, src)
	out, errOut, code := run(t, nil, "--json", "migrate", "--from", "file:"+src, "--to", pg)
	if code != 0 || !strings.Contains(out, `"verified":true`) {
		t.Fatalf("file -> pg: exit %d\n%s\n%s", code, out, errOut)
	}
	env := map[string]string{"SETTLE_STORE": pg, "SETTLE_COLLECTOR_KEYS": strings.Join(storetest.Keys, ",")}
	out, errOut, code = run(t, env, "--json", "records")
	var page writeback.RecordPage
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Records) != 4 {
		t.Fatalf("records on pg: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = run(t, env, "registry", "classify", "--json", "b1-task-1")
	if code != 0 || !strings.Contains(out, writeback.ClassNormalCallbackCompleted) {
		t.Fatalf("classify on pg: exit %d %s", code, out)
	}
	out, errOut, code = run(t, env, "scene", "show", "--json", "--project", storetest.Project, "--episode", "1", "--batch", "B")
	if code != 0 || !strings.Contains(out, `"version":1`) || !strings.Contains(out, "SH_000") {
		t.Fatalf("scene show on pg: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "migrate", "--quiet", "--from", pg, "--to", "file:"+back)
	if code != 0 {
		t.Fatalf("pg -> file: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, rel := range []string{writeback.DefaultLedgerRelPath, writeback.SummariesRelDir + "/b1.json", "projects/demo/orchestration/scenes/ep_001_B.json"} {
		a, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(back, filepath.FromSlash(rel)))
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s differs after the round trip (%v)", rel, err)
		}
	}
}
