package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// hdEnv is the environment of the hardening tests' commands on root.
func hdEnv(root string) map[string]string {
	return map[string]string{"SETTLE_ROOT": root, "SETTLE_COLLECTOR_KEYS": crashKey, "SETTLE_DEFAULT_CHAT_ID": "chat-0001"}
}

// hdLedger creates root's ledger file (empty) and returns its path.
func hdLedger(t *testing.T, root string) string {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hdVerdict writes a verdict file of task under dir.
func hdVerdict(t *testing.T, dir, task string) string {
	t.Helper()
	path := filepath.Join(dir, task+".json")
	if err := os.WriteFile(path, crashVerdict(task), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hdStderr copies a child's stderr into a buffer and signals waiting once
// a line says a lock is held by another process: the child's readiness
// signal that it is inside the lock wait.
type hdStderr struct {
	mu      sync.Mutex
	text    strings.Builder
	waiting chan struct{}
	done    chan struct{}
}

func hdWatch(r io.Reader) *hdStderr {
	s := &hdStderr{waiting: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.mu.Lock()
			s.text.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), "locked by another process") {
				select {
				case s.waiting <- struct{}{}:
				default:
				}
			}
		}
	}()
	return s
}

func (s *hdStderr) String() string {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// TestHardeningH_SignalsAndLockWaits: no blocking wait is unbounded. A CLI
// write-back waiting for another process's ledger lock ends promptly on
// SIGTERM; --lock-timeout bounds the wait; a FIFO verdict file is refused
// without being opened for a blocking read; a server whose store waits for
// the lock exits within its --shutdown-timeout.
func TestHardeningH_SignalsAndLockWaits(t *testing.T) {
	bin := settleBinary(t)

	t.Run("CLISigterm", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		v := hdVerdict(t, t.TempDir(), "task-1")
		testenv.HoldFlock(t, ledger)
		cmd := exec.Command(bin, "writeback", "--batch", "B1", v)
		cmd.Env = append(os.Environ(), "SETTLE_CONFIG=", "SETTLE_STORE=", "SETTLE_LOCK_TIMEOUT=", "SETTLE_ROOT="+root,
			"SETTLE_COLLECTOR_KEYS="+crashKey, "SETTLE_DEFAULT_CHAT_ID=chat-0001", "SETTLE_LOG_LEVEL=info")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		errs := hdWatch(stderr)
		exited := make(chan error, 1)
		go func() { <-errs.done; exited <- cmd.Wait() }()
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
			}
		})
		testenv.Within(t, errs.waiting, 30*time.Second, "reaching the lock wait")
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err = testenv.Within(t, exited, 10*time.Second, "settle writeback after SIGTERM")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, errs)
		}
		if out := errs.String(); !strings.Contains(out, "UNAVAILABLE") || !strings.Contains(out, "context canceled") {
			t.Fatalf("stderr after SIGTERM:\n%s", out)
		}
		if fi, err := os.Stat(ledger); err != nil || fi.Size() != 0 {
			t.Fatalf("ledger after an interrupted write-back: %v %v", fi.Size(), err)
		}
	})

	t.Run("LockTimeout", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		v := hdVerdict(t, t.TempDir(), "task-1")
		testenv.HoldFlock(t, ledger)
		done := make(chan [2]any, 1)
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--lock-timeout", "100ms", "--batch", "B1", v)
			done <- [2]any{stderr, code}
		}()
		r := testenv.Within(t, done, 10*time.Second, "writeback --lock-timeout 100ms")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "UNAVAILABLE") || !strings.Contains(stderr, "still held") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
		env := hdEnv(root)
		env["SETTLE_LOCK_TIMEOUT"] = "soon"
		if _, stderr, code := run(t, env, "records"); code != 1 || !strings.Contains(stderr, "INVALID_INPUT") {
			t.Fatalf("bad SETTLE_LOCK_TIMEOUT: exit %d %q", code, stderr)
		}
	})

	t.Run("FIFOVerdict", func(t *testing.T) {
		root := t.TempDir()
		fifo := filepath.Join(t.TempDir(), "verdict.json")
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan [2]any, 1)
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--batch", "B1", fifo)
			done <- [2]any{stderr, code}
		}()
		r := testenv.Within(t, done, 10*time.Second, "writeback of a FIFO")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "INVALID_INPUT") || !strings.Contains(stderr, "not a regular file") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
		go func() {
			_, stderr, code := run(t, hdEnv(root), "writeback", "--batch", "B1", "--expect", "@"+fifo, hdVerdict(t, root, "task-1"))
			done <- [2]any{stderr, code}
		}()
		r = testenv.Within(t, done, 10*time.Second, "--expect @FIFO")
		if stderr := r[0].(string); r[1].(int) != 1 || !strings.Contains(stderr, "not a regular file") {
			t.Fatalf("exit %v, stderr %q", r[1], stderr)
		}
	})

	t.Run("ServerShutdown", func(t *testing.T) {
		root := t.TempDir()
		ledger := hdLedger(t, root)
		config := serverConfig(t, root)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		errs := hdWatch(r)
		p := startServeWith(t, bin, config, w, "--log-level", "info", "--shutdown-timeout", "1s")
		w.Close() // the server holds its own copy
		c := p.client(t, "tok-collector")
		testenv.HoldFlock(t, ledger)
		go c.Writeback(context.Background(), writeback.WritebackRequest{Binding: storetest.Binding("task-1", "T1", "B1")})
		testenv.Within(t, errs.waiting, 30*time.Second, "the server's store reaching the lock wait")
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The lock stays held and the lock timeout is the default 30s: the
		// server must still be gone soon after its 1s shutdown timeout.
		testenv.Within(t, p.done, 15*time.Second, "settle serve after SIGTERM")
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("server exited %s after SIGTERM with --shutdown-timeout 1s", d)
		}
		if fi, err := os.Stat(ledger); err != nil || fi.Size() != 0 {
			t.Fatalf("ledger after an interrupted write-back: %v %v", fi.Size(), err)
		}
	})
}

// roMount mounts a tmpfs at a new directory and returns it with a function
// remounting it read-only; both unmounted at cleanup. It skips loudly
// (fails under CI=true) where mounting is impossible.
func roMount(t *testing.T) (dir string, readOnly func()) {
	t.Helper()
	dir = t.TempDir()
	if err := unix.Mount("settle-test", dir, "tmpfs", 0, "size=16m"); err != nil {
		testenv.Unavailable(t, "cannot mount a tmpfs for a read-only filesystem ("+err.Error()+"); run as root")
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir, func() {
		t.Helper()
		if err := unix.Mount("settle-test", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount read-only: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("the remounted tmpfs is writable: %v", err)
		}
	}
}

// TestHardeningG_ReadOnlyWorkspace: on a read-only filesystem the read-only
// commands work (records, fsck, registry history and classify, batch
// summary and status of a consolidated batch, writeback --dry-run, scene
// reads) and a write fails with a clear code instead of INTERNAL.
func TestHardeningG_ReadOnlyWorkspace(t *testing.T) {
	root, readOnly := roMount(t)
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: writeback.Config{CollectorKeys: []string{crashKey}, DefaultChatID: "chat-0001"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := storetest.Binding("task-1", "T1", "B1")
	if out, err := l.Writeback(ctx, writeback.WritebackRequest{Binding: b}); err != nil || out.Decision.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("write-back: %+v %v", out.Decision, err)
	}
	tracks := []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}
	if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "B1", Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Settle(ctx, "B1", tracks, "T1"); err != nil || !out.FirstConsolidation {
		t.Fatalf("settle: %+v %v", out, err)
	}
	l.Close()
	verdict := hdVerdict(t, root, "task-2")
	readOnly()

	env := hdEnv(root)
	env["SETTLE_COLLECTOR_KEYS"] = storetest.Keys[0]
	for _, args := range [][]string{
		{"records"},
		{"records", "--kind", "durable", "--task", "task-1"},
		{"fsck"},
		{"registry", "history", "task-1"},
		{"registry", "classify", "task-1"},
		{"batch", "summary", "--batch", "B1"},
		{"batch", "status", "--batch", "B1"},
		{"writeback", "--batch", "B1", "--dry-run", verdict},
		{"scene", "list", "--project", "p", "--episode", "1"},
	} {
		if out, stderr, code := run(t, env, args...); code != 0 {
			t.Errorf("settle %s on a read-only filesystem: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
	}
	// A write is refused with a code that says why, not INTERNAL.
	_, stderr, code := run(t, env, "writeback", "--batch", "B1", verdict)
	if code != 1 || strings.Contains(stderr, string(settle.Internal)+":") {
		t.Fatalf("write-back on a read-only filesystem: exit %d %q", code, stderr)
	}
	var rep FsckReport
	out, _, code := run(t, env, "--json", "fsck")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Ledger == nil {
		t.Fatalf("fsck --json: exit %d %v %s", code, err, out)
	}
}

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
