package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// hdDemo makes the demo workspace and returns its root and environment.
func hdDemo(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if _, stderr, code := run(t, nil, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: %s", stderr)
	}
	return dir, map[string]string{"SETTLE_ROOT": dir}
}

// hdSnapshot hashes every file under root but the inputs the tests add
// under in/ and lock files.
func hdSnapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	return testenv.Snapshot(t, root, func(rel string, d fs.DirEntry) bool {
		return d.IsDir() && rel == "in" || !d.IsDir() && strings.HasSuffix(rel, ".lock")
	})
}

// hdInput writes an input file under root/in.
func hdInput(t *testing.T, root, name, text string) string {
	t.Helper()
	p := filepath.Join(root, "in", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hdRefusal runs a command with --json and returns its refusal.
func hdRefusal(t *testing.T, env map[string]string, args ...string) (code, message string) {
	t.Helper()
	out, stderr, exit := run(t, env, args...)
	if exit != 1 {
		t.Fatalf("%v: exit %d, want 1\n%s%s", args, exit, out, stderr)
	}
	var doc struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: refusal is not JSON: %q", args, out)
	}
	return doc.Error.Code, doc.Error.Message
}

var hdBatch1 = []string{"--json", "--project", "demo-film", "--episode", "1", "--batch", "BATCH_001"}

func hdNest(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// TestHardeningB_CLIPatchRefused: the 20 KB patch adding a value
// nested 9,990 deep exits 1 with INVALID_INPUT naming MaxJSONDepth and
// writes nothing; so does a patch file over MaxPatchBytes.
func TestHardeningB_CLIPatchRefused(t *testing.T) {
	root, env := hdDemo(t)
	before := hdSnapshot(t, root)
	for _, c := range []struct{ patch, limit string }{
		{`[{"op": "add", "path": "/scene_metadata/x", "value": ` + hdNest(9990) + `}]`, "MaxJSONDepth"},
		{`[{"op": "add", "path": "/scene_metadata/x", "value": "` + strings.Repeat("y", settle.MaxPatchBytes) + `"}]`, "MaxPatchBytes"},
	} {
		p := hdInput(t, root, "patch.json", c.patch)
		code, msg := hdRefusal(t, env, append([]string{"scene", "patch", "--expected-version", "2", "--patch", p}, hdBatch1...)...)
		if code != "INVALID_INPUT" || !strings.Contains(msg, c.limit) {
			t.Fatalf("refusal %s %q, want INVALID_INPUT naming %s", code, msg, c.limit)
		}
	}
	storetest.SameSnapshot(t, before, hdSnapshot(t, root))
}

// TestHardeningJ_CLIInputLimits: /dev/zero, a FIFO, a verdict over
// MaxVerdictBytes, a task id over MaxIDBytes, a plan, scene or registry
// record over its limit: each is INVALID_INPUT naming what was wrong, and
// nothing is written.
func TestHardeningJ_CLIInputLimits(t *testing.T) {
	root, env := hdDemo(t)
	verdict, err := os.ReadFile(filepath.Join(root, "verdicts", "task-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(verdict, &v); err != nil {
		t.Fatal(err)
	}
	v["task_id"] = strings.Repeat("t", settle.MaxIDBytes+1)
	longID, _ := json.Marshal(v)
	fifo := filepath.Join(root, "in", "fifo")
	os.MkdirAll(filepath.Dir(fifo), 0o755)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	bigVerdict := hdInput(t, root, "big.json", string(verdict)+strings.Repeat(" ", settle.MaxVerdictBytes))
	before := hdSnapshot(t, root)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"writeback", "--json", "--batch", "BATCH-900", "/dev/zero"}, "not a regular file"},
		{[]string{"writeback", "--json", "--batch", "BATCH-900", fifo}, "not a regular file (a FIFO)"},
		{[]string{"writeback", "--json", "--batch", "BATCH-900", bigVerdict}, "MaxVerdictBytes"},
		{[]string{"writeback", "--json", "--batch", "BATCH-900", hdInput(t, root, "long.json", string(longID))}, "MaxIDBytes"},
		{append([]string{"scene", "candidate", "--scene", hdInput(t, root, "scene.json", `{"scene_id": "BATCH_001", "beats": [], "scene_metadata": {"x": "`+strings.Repeat("s", settle.MaxSceneBytes)+`"}}`)}, hdBatch1...), "MaxSceneBytes"},
		{append([]string{"scene", "candidate", "--scene", hdInput(t, root, "deep.json", `{"scene_id": "BATCH_001", "beats": [], "scene_metadata": {"x": `+hdNest(100)+`}}`)}, hdBatch1...), "MaxJSONDepth"},
		{[]string{"scene", "init", "--json", "--project", "demo-film", "--episode", "1", "--plan", "/dev/zero"}, "not a regular file"},
		{[]string{"registry", "append", "--json", "--json-record", hdInput(t, root, "rec.json", `{"task_id": "`+strings.Repeat("r", settle.MaxRecordBytes)+`"}`)}, "MaxRecordBytes"},
	}
	for _, c := range cases {
		code, msg := hdRefusal(t, env, c.args...)
		if code != "INVALID_INPUT" || !strings.Contains(msg, c.want) {
			t.Errorf("%v: refusal %s %q, want INVALID_INPUT %q", c.args[:2], code, msg, c.want)
		}
	}
	storetest.SameSnapshot(t, before, hdSnapshot(t, root))
}

// hdEditBody rewrites the active body of BATCH_001 (v002) with edit.
func hdEditBody(t *testing.T, root string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(root, "projects/demo-film/orchestration/scenes/ep_001_BATCH_001.v002.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHardeningL_ShowPatchFsckAgree: a registered body whose scene_id was
// edited is MANIFEST_IDENTITY for show, patch and fsck; one whose
// structure was edited (the manifest's structure_fingerprint no longer
// matches) is CORRUPT for all three. Nothing is written.
func TestHardeningL_ShowPatchFsckAgree(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"scene_id edited", func(m map[string]any) { m["scene_id"] = "BATCH_999" }, "MANIFEST_IDENTITY"},
		{"structure edited", func(m map[string]any) {
			beats := m["beats"].([]any)
			beats[0].(map[string]any)["beat_id"] = "EDITED"
		}, "CORRUPT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, env := hdDemo(t)
			hdEditBody(t, root, c.edit)
			before := hdSnapshot(t, root)
			if code, msg := hdRefusal(t, env, append([]string{"scene", "show"}, hdBatch1...)...); code != c.want {
				t.Errorf("show: %s %q, want %s", code, msg, c.want)
			}
			patch := hdInput(t, root, "patch.json", `[{"op": "add", "path": "/scene_metadata/note", "value": "x"}]`)
			if code, msg := hdRefusal(t, env, append([]string{"scene", "patch", "--expected-version", "2", "--patch", patch}, hdBatch1...)...); code != c.want {
				t.Errorf("patch: %s %q, want %s", code, msg, c.want)
			}
			storetest.SameSnapshot(t, before, hdSnapshot(t, root))
			out, _, exit := run(t, env, "fsck", "--json")
			var rep FsckReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil || exit != 1 {
				t.Fatalf("fsck: exit %d, %v\n%s", exit, err, out)
			}
			if len(rep.SceneProblems) != 1 || rep.SceneProblems[0].Code != c.want {
				t.Fatalf("fsck problems %+v, want one %s", rep.SceneProblems, c.want)
			}
		})
	}
}

// TestHardeningL_FsckRecordsAndManifests: fsck flags a durable line with
// task_id ["x"], one missing mandatory fields, one with a forged
// writeback_id of zeros, and a manifest listing a version twice.
func TestHardeningL_FsckRecordsAndManifests(t *testing.T) {
	root, env := hdDemo(t)
	ledger := filepath.Join(root, "memory/events/callback_4tuple_index.jsonl")
	raw, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	var durable map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.Contains(line, `"durable_success_writeback.v1"`) {
			json.Unmarshal([]byte(line), &durable)
			break
		}
	}
	if durable == nil {
		t.Fatal("the demo ledger holds no durable record")
	}
	variant := func(edit func(m map[string]any)) string {
		m := maps.Clone(durable)
		edit(m)
		b, _ := json.Marshal(m)
		return string(b) + "\n"
	}
	f, err := os.OpenFile(ledger, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(variant(func(m map[string]any) { m["task_id"] = []string{"x"} }))
	f.WriteString(variant(func(m map[string]any) { delete(m, "dispatch_id"); delete(m, "completed_at") }))
	f.WriteString(variant(func(m map[string]any) { m["writeback_id"] = strings.Repeat("0", 64) }))
	f.Close()

	man := filepath.Join(root, "projects/demo-film/orchestration/scenes/ep_001_BATCH_001.versions.json")
	raw, err = os.ReadFile(man)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	vs := m["versions"].([]any)
	m["versions"] = append(vs, vs[0])
	out, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(man, out, 0o644)

	text, _, exit := run(t, env, "fsck", "--json")
	var rep FsckReport
	if err := json.Unmarshal([]byte(text), &rep); err != nil || exit != 1 {
		t.Fatalf("fsck: exit %d, %v\n%s", exit, err, text)
	}
	if rep.Ledger == nil || len(rep.Ledger.InvalidRecords) != 3 {
		t.Fatalf("invalid records %+v, want 3", rep.Ledger)
	}
	for i, want := range []string{"task_id is an array", "dispatch_id missing", "writeback_id"} {
		if got := strings.Join(rep.Ledger.InvalidRecords[i].Problems, "; "); !strings.Contains(got, want) {
			t.Errorf("record %d: %q, want %q", i, got, want)
		}
	}
	if len(rep.SceneProblems) != 1 || !strings.Contains(rep.SceneProblems[0].Problem, "registered twice") {
		t.Fatalf("scene problems %+v, want the duplicate version", rep.SceneProblems)
	}
	// The text report names them too.
	text, _, _ = run(t, env, "fsck")
	if !strings.Contains(text, "invalid durable record") || !strings.Contains(text, "registered twice") {
		t.Fatalf("fsck text:\n%s", text)
	}
}

// FuzzHardeningRegistryRecord: any registry record file is appended within
// the limits or refused with INVALID_INPUT, writing nothing.
func FuzzHardeningRegistryRecord(f *testing.F) {
	ok := `{"schema": "callback_4tuple_ledger_record.v1", "task_id": "t1", "dispatch_id": "d1", "dispatch_cron_id": "d1", "executor": "e", "chat_id": "c", "normal_collector_cron_id": "n", "fallback_callback_cron_id": null, "role": "executor", "status": "DISPATCHED", "no_fallback": true, "ts_kst": "2026-11-22T10:01:00+09:00"}`
	for _, s := range []string{ok, strings.Replace(ok, `"t1"`, `"`+strings.Repeat("t", settle.MaxIDBytes+1)+`"`, 1),
		strings.Replace(ok, `"c"`, hdNest(settle.MaxJSONDepth), 1), `[`, `{}`, `{"no_fallback": "yes"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		env := map[string]string{"SETTLE_ROOT": root}
		rec := filepath.Join(t.TempDir(), "rec.json")
		if err := os.WriteFile(rec, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, exit := run(t, env, "registry", "append", "--json", "--json-record", rec)
		ledger := filepath.Join(root, "memory/events/callback_4tuple_index.jsonl")
		raw, err := os.ReadFile(ledger)
		switch exit {
		case 0:
			if err != nil {
				t.Fatalf("accepted record not written: %v", err)
			}
			if p := writeback.CheckLine(bytes.TrimSuffix(raw, []byte("\n"))); len(p) > 0 {
				t.Fatalf("appended a record that breaks its schema: %v\n%s", p, raw)
			}
		default:
			if !strings.Contains(out, `"INVALID_INPUT"`) {
				t.Fatalf("refused without INVALID_INPUT: %s", out)
			}
			if err == nil && len(raw) > 0 {
				t.Fatalf("a refused record was written")
			}
		}
	})
}
