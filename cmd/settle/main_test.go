package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
)

// run runs settle in-process with the given environment.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	err := m.Run(context.Background(), args)
	return out.String(), errb.String(), ExitCode(err)
}

func TestHelpOnEveryCommand(t *testing.T) {
	cases := [][]string{{"--help"}, {"help"}}
	for _, c := range commands() {
		// Every spelling the flag package takes for help.
		for _, h := range []string{"--help", "-help", "-h"} {
			cases = append(cases, []string{c.name, h})
		}
	}
	cases = append(cases, []string{"events", "compact", "--help"})
	for _, sub := range []string{"status", "declare", "summary"} {
		cases = append(cases, []string{"batch", sub, "--help"})
	}
	for _, sub := range []string{"append", "history", "classify"} {
		cases = append(cases, []string{"registry", sub, "--help"})
	}
	for _, sub := range sceneSubs {
		cases = append(cases, []string{"scene", sub, "--help"})
	}
	for _, args := range cases {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			out, _, code := run(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			if !strings.Contains(out, "Usage") {
				t.Fatalf("no usage text on stdout: %q", out)
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for name, args := range map[string][]string{
		"no command":          {},
		"unknown command":     {"frobnicate"},
		"writeback no batch":  {"writeback", "x.json"},
		"writeback no files":  {"writeback", "--batch", "B"},
		"batch no sub":        {"batch"},
		"scene no project":    {"scene", "show", "--episode", "1", "--batch", "B"},
		"scene patch no exp":  {"scene", "patch", "--project", "p", "--episode", "1", "--batch", "B", "--patch", "x"},
		"unknown flag":        {"records", "--nope"},
		"registry extra args": {"registry", "history"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, code := run(t, nil, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "settle.json")
	if err := os.WriteFile(cfgPath, []byte(`{"root": "fileroot", "collector_keys": ["kfile"], "default_chat_id": "chatfile"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	resolve := func(env map[string]string, args ...string) *Config {
		t.Helper()
		m := &Main{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(k string) string { return env[k] }}
		var g globalFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		g.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := m.resolve(fs, &g)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	c := resolve(map[string]string{"SETTLE_CONFIG": cfgPath})
	if c.Root != filepath.Join(dir, "fileroot") || c.CollectorKeys[0] != "kfile" || c.DefaultChatID != "chatfile" {
		t.Fatalf("file config not applied: %+v", c)
	}
	c = resolve(map[string]string{"SETTLE_CONFIG": cfgPath, "SETTLE_ROOT": "/envroot", "SETTLE_COLLECTOR_KEYS": "a, b"})
	if c.Root != "/envroot" || strings.Join(c.CollectorKeys, "|") != "a|b" || c.DefaultChatID != "chatfile" {
		t.Fatalf("environment does not win over the file: %+v", c)
	}
	c = resolve(map[string]string{"SETTLE_CONFIG": cfgPath, "SETTLE_ROOT": "/envroot"}, "--root", "/flagroot", "--default-chat-id", "chatflag")
	if c.Root != "/flagroot" || c.DefaultChatID != "chatflag" || c.LedgerPath() != "/flagroot/memory/events/callback_4tuple_index.jsonl" {
		t.Fatalf("flag does not win: %+v", c)
	}
	// Unknown fields in the config file are an error, with a code.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"rooot": "x"}`), 0o644)
	_, stderr, code := run(t, map[string]string{"SETTLE_CONFIG": bad}, "records")
	if code != 1 || !strings.Contains(stderr, "INVALID_INPUT") {
		t.Fatalf("bad config: exit %d stderr %q", code, stderr)
	}
}

func TestJSONRefusal(t *testing.T) {
	dir := t.TempDir()
	out, _, code := run(t, map[string]string{"SETTLE_ROOT": dir}, "scene", "show", "--json", "--project", "p", "--episode", "x1", "--batch", "B")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var doc struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("refusal is not JSON: %q", out)
	}
	if doc.Error.Code != "INVALID_EPISODE" || doc.Error.Message == "" {
		t.Fatalf("refusal = %+v", doc.Error)
	}
}

// TestDemo runs the README's first set-up command end to end: every step
// checks its own outcome.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo failed (exit %d): %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "demo complete") {
		t.Fatalf("demo did not complete:\n%s", out)
	}
	// The workspace is in the seed's layout.
	for _, rel := range []string{
		"memory/events/callback_4tuple_index.jsonl",
		"memory/events/batch_summaries/BATCH-900.json",
		"projects/demo-film/orchestration/scenes/ep_001_BATCH_001.json",
		"projects/demo-film/orchestration/scenes/ep_001_BATCH_001.v002.json",
		"projects/demo-film/orchestration/scenes/ep_001_BATCH_001.versions.json",
		"projects/demo-film/orchestration/scenes/ep_001_BATCH_001.versions.lock",
	} {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			t.Errorf("missing %s: %v", rel, err)
		}
	}
}

func TestFsck(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := run(t, nil, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: %s", stderr)
	}
	env := map[string]string{"SETTLE_ROOT": dir}
	out, _, code := run(t, env, "fsck")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("fsck of the demo workspace: exit %d\n%s", code, out)
	}
	scenes := filepath.Join(dir, "projects/demo-film/orchestration/scenes")
	// A leftover tmp of a dead writer is reported, then removed.
	// So is the index base of a background merge whose process died.
	tmp := filepath.Join(scenes, "ep_001_BATCH_001.json.tmp-999999999-abcdef")
	os.WriteFile(tmp, []byte("{half"), 0o644)
	ixTmp := filepath.Join(dir, "memory/events/callback_4tuple_index.jsonl.idx.tmp-999999999-abcdef")
	os.WriteFile(ixTmp, []byte("base"), 0o644)
	if out, _, _ := run(t, env, "fsck"); !strings.Contains(out, "leftover temporary file (never read): "+ixTmp) {
		t.Fatalf("fsck does not report the index's tmp file:\n%s", out)
	}
	out, _, code = run(t, env, "fsck", "--remove-tmp")
	if code != 0 || !strings.Contains(out, "removed leftover temporary file") {
		t.Fatalf("fsck --remove-tmp: exit %d\n%s", code, out)
	}
	for _, p := range []string{tmp, ixTmp} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("tmp file %s not removed", p)
		}
	}
	// A corrupt body and a manifest naming a missing body are problems.
	os.WriteFile(filepath.Join(scenes, "ep_001_BATCH_002.json"), []byte("{not json"), 0o644)
	os.Remove(filepath.Join(scenes, "ep_001_BATCH_001.v002.json"))
	out, _, code = run(t, env, "fsck", "--json")
	if code != 1 {
		t.Fatalf("fsck of a damaged workspace: exit %d\n%s", code, out)
	}
	var rep FsckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, p := range rep.SceneProblems {
		codes[p.Code] = true
	}
	if !codes["CORRUPT"] || !codes["NOT_FOUND"] || rep.OK {
		t.Fatalf("problems = %+v", rep.SceneProblems)
	}
}

func TestGlobalFlagsBeforeSubcommand(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "--root", dir, "--json", "registry", "classify", "task-1")
	if code != 0 || !strings.Contains(out, `"classification":"UNKNOWN"`) {
		t.Fatalf("exit %d out %q stderr %q", code, out, stderr)
	}
	out, _, code = run(t, nil, "--json", "--root", dir, "scene", "list", "--project", "p", "--episode", "1")
	if code != 0 || !strings.Contains(out, `"scenes":[]`) {
		t.Fatalf("exit %d out %q", code, out)
	}
}

// TestSignalsArmed: a one-shot command arms its signal handling only when
// it may block (a wait for a lock: TestHardeningH_SignalsAndLockWaits
// shows that SIGTERM then ends it cleanly); the others arm it at start.
func TestSignalsArmed(t *testing.T) {
	defer durable.OnLockWait(nil)
	root := t.TempDir()
	env := map[string]string{"SETTLE_ROOT": root, "SETTLE_COLLECTOR_KEYS": "anu0000000000001"}
	runArmed := func(armed chan<- struct{}, args ...string) error {
		var out, errb bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
			Signals: func() {
				select {
				case armed <- struct{}{}:
				default:
				}
			}}
		err := m.Run(context.Background(), args)
		if err != nil {
			err = fmt.Errorf("%v: %w\n%s", args, err, errb.String())
		}
		return err
	}
	ledger := hdLedger(t, root)
	for _, c := range []struct {
		args []string
		arms bool
	}{{[]string{"records"}, false}, {[]string{"registry", "history", "t1"}, false}, {[]string{"fsck"}, true}} {
		armed := make(chan struct{}, 1)
		if err := runArmed(armed, c.args...); err != nil {
			t.Fatal(err)
		}
		if got := len(armed) > 0; got != c.arms {
			t.Errorf("%v armed the signals: %v, want %v", c.args, got, c.arms)
		}
	}

	// The ledger's lock is held by another open file description:
	// records waits for it, arming the signals first.
	release := testenv.HoldFlock(t, ledger)
	armed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- runArmed(armed, "records") }()
	testenv.Within(t, armed, 10*time.Second, "arming the signals before the lock wait")
	release()
	if err := testenv.Within(t, done, 10*time.Second, "records after the lock's release"); err != nil {
		t.Fatal(err)
	}
}
