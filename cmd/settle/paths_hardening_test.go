package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const phVerdict = `{"task_id": "task-1", "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU", "collector_key": "anu0000000000001", "executor_key": "exec00000000001", "dispatch_id": "dispatch-1", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "ts_kst": "2026-11-22T10:10:00+09:00"}`

// phEnv is a workspace base/root beside base/out, with a verdict file and
// a plan file outside the root.
func phEnv(t *testing.T) (env map[string]string, base string) {
	t.Helper()
	base = t.TempDir()
	for _, d := range []string{"root", "out", "in"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"in/v.json":     phVerdict,
		"in/plan.json":  `{"sequences": {"A": {"shots": [{"shot_id": "S1"}]}}}`,
		"in/empty.json": `{"sequences": []}`,
		"out/passwd":    "root:x:0:0:root:/root:/bin/sh\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(base, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"SETTLE_ROOT":           filepath.Join(base, "root"),
		"SETTLE_COLLECTOR_KEYS": "anu0000000000001,anu0000000000002",
	}, base
}

// phRefusal runs a command that must exit 1 with a JSON refusal of code.
func phRefusal(t *testing.T, env map[string]string, code string, args ...string) string {
	t.Helper()
	out, errOut, exit := run(t, env, append(args, "--json")...)
	if exit != 1 {
		t.Fatalf("%v: exit %d, want 1 (stdout %q, stderr %q)", args, exit, out, errOut)
	}
	var doc struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Error.Code != code {
		t.Fatalf("%v: refusal %q (%v), want code %s", args, out, err, code)
	}
	return doc.Error.Message
}

func phFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHardeningA_CLISymlinks(t *testing.T) {
	env, base := phEnv(t)
	root, out := env["SETTLE_ROOT"], filepath.Join(base, "out")
	if err := os.MkdirAll(filepath.Join(root, "projects"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../out", filepath.Join(root, "projects", "evil")); err != nil {
		t.Fatal(err)
	}
	phRefusal(t, env, "PATH_REFUSED", "scene", "init", "--project", "evil", "--episode", "1", "--plan", filepath.Join(base, "in", "plan.json"))

	// A ledger that is a link to a file outside: not appended to.
	ledger := filepath.Join(root, "memory", "events", "callback_4tuple_index.jsonl")
	if err := os.MkdirAll(filepath.Dir(ledger), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "passwd"), ledger); err != nil {
		t.Fatal(err)
	}
	phRefusal(t, env, "PATH_REFUSED", "writeback", "--batch", "B1", filepath.Join(base, "in", "v.json"))
	if got := phFiles(t, out); strings.Join(got, ",") != ".,passwd" {
		t.Fatalf("outside the root: %v", got)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "passwd")); string(data) != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Fatalf("the link's target was written: %q", data)
	}
}

func TestHardeningF_CLILongNames(t *testing.T) {
	env, base := phEnv(t)
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		field string
		args  []string
	}{
		{"batch_id", []string{"batch", "status", "--batch", long}},
		{"batch_id", []string{"scene", "show", "--project", "p", "--episode", "1", "--batch", long}},
		{"project", []string{"scene", "init", "--project", long, "--episode", "1", "--plan", filepath.Join(base, "in", "plan.json")}},
		{"episode", []string{"scene", "init", "--project", "p", "--episode", strings.Repeat("1", 300), "--plan", filepath.Join(base, "in", "plan.json")}},
	} {
		msg := phRefusal(t, env, "INVALID_INPUT", c.args...)
		if !strings.Contains(msg, c.field) {
			t.Errorf("%v: message %q does not name %s", c.args[:2], msg, c.field)
		}
	}
	if got := phFiles(t, env["SETTLE_ROOT"]); len(got) != 1 {
		t.Fatalf("refused commands created %v", got)
	}
}

func TestHardeningK_CLIWritebackBatchIDs(t *testing.T) {
	env, base := phEnv(t)
	for _, bad := range []string{"../x", "/abs", ".", "a/b", strings.Repeat("b", 300)} {
		msg := phRefusal(t, env, "INVALID_INPUT", "writeback", "--batch", bad, filepath.Join(base, "in", "v.json"))
		if !strings.Contains(msg, "batch_id") {
			t.Errorf("--batch %q: message %q does not name batch_id", bad, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(env["SETTLE_ROOT"], "memory", "events", "callback_4tuple_index.jsonl")); err == nil {
		data, _ := os.ReadFile(filepath.Join(env["SETTLE_ROOT"], "memory", "events", "callback_4tuple_index.jsonl"))
		if len(data) != 0 {
			t.Fatalf("refused write-backs appended %q", data)
		}
	}
}

func TestHardeningN_CLISmallOnes(t *testing.T) {
	env, base := phEnv(t)
	phRefusal(t, env, "INVALID_INPUT", "records", "--limit", "0")
	phRefusal(t, env, "INVALID_INPUT", "records", "--limit", "-3")
	phRefusal(t, env, "INVALID_INPUT", "scene", "init", "--project", "p", "--episode", "1", "--plan", filepath.Join(base, "in", "empty.json"))
	phRefusal(t, env, "INVALID_INPUT", "scene", "recover-stale", "--project", "p", "--episode", "1", "--batch", "B", "--older-than", "-5m")
	if got := phFiles(t, env["SETTLE_ROOT"]); len(got) != 1 {
		t.Fatalf("refused commands created %v", got)
	}
}
