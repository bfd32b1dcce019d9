package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

const crashKey = "anu0000000000001"

// settleBinary builds the settle binary into the test's directory.
func settleBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "settle")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // the binary as the README builds it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverConfig writes a config file for root with a collector and an
// operator token.
func serverConfig(t *testing.T, root string) string {
	t.Helper()
	return serverConfigWith(t, map[string]any{"root": root})
}

// serverConfigWith writes serverConfig's file with set's members (root,
// store) added.
func serverConfigWith(t testing.TB, set map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"collector_keys":  []string{crashKey},
		"default_chat_id": "chat-0001",
		"server": map[string]any{"tokens": []map[string]string{
			{"token_sha256": httpapi.HashToken("tok-collector"), "principal": "collector-1", "role": "collector", "collector_key": crashKey},
			{"token_sha256": httpapi.HashToken("tok-operator"), "principal": "operator", "role": "operator"},
		}},
	}
	for k, v := range set {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "settle.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// operatorOnly is a server section with the operator's token alone.
func operatorOnly() map[string]any {
	return map[string]any{"tokens": []map[string]string{
		{"token_sha256": httpapi.HashToken("tok-operator"), "principal": "operator", "role": "operator"},
	}}
}

// serverProc is a "settle serve" child process.
type serverProc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startServe(t testing.TB, bin, config string) *serverProc {
	t.Helper()
	return startServeWith(t, bin, config, os.Stderr, "--log-level", "warn")
}

// startServeWith is startServe with the server's log going to stderr and
// its flags after --config and --listen. None of the test's SETTLE_
// variables that name a workspace or a lock wait reach the server.
func startServeWith(t testing.TB, bin, config string, stderr *os.File, flags ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--config", config, "--listen", "127.0.0.1:0"}, flags...)...)
	cmd.Env = append(os.Environ(), "SETTLE_ROOT=", "SETTLE_CONFIG=", "SETTLE_LOCK_TIMEOUT=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v", err)
	}
	go func() {
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	addr, _, ok := strings.Cut(strings.TrimPrefix(line, "listening on "), " ")
	if !ok {
		t.Fatalf("unexpected first line %q", line)
	}
	p.url = "http://" + addr
	c := p.client(t, "tok-operator")
	if err := waitReady(context.Background(), c, 30*time.Second); err != nil {
		t.Fatalf("server not ready: %v", err)
	}
	return p
}

// stop sends sig to the server and waits for it to exit.
func (p *serverProc) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *serverProc) client(t testing.TB, token string) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(p.url, token, httpapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func crashVerdict(task string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"task_id": task, "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU",
		"collector_key": crashKey, "executor_key": "exec000000000001", "dispatch_id": "dispatch-" + task,
		"normal_collector_cron_id": "ncc", "ts_kst": "2026-01-01T00:00:00+09:00",
	})
	return b
}

// kindsByTask counts the records of a kind per task.
func kindsByTask(t *testing.T, c *httpapi.Client, kind writeback.RecordKind) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range storetest.AllRecords(t, c, writeback.RecordQuery{Kind: kind, Limit: 1000}) {
		switch {
		case r.Durable != nil:
			out[r.Durable.TaskID]++
		case r.Registry != nil:
			out[r.Registry.TaskID]++
		}
	}
	return out
}

// crashServe starts a server of the built binary on config for a crash
// test (skipped in -short) and returns the binary, the server and a
// collector's client.
func crashServe(t *testing.T, config string) (string, *serverProc, *httpapi.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the settle binary")
	}
	bin := settleBinary(t)
	srv := startServe(t, bin, config)
	return bin, srv, srv.client(t, "tok-collector")
}

// crashLoad runs writers goroutines, each calling post(ctx, g, i) for its
// number g and i = 0, 1, 2, ... until stopped; post returns the tasks a
// request got acknowledged. Once enough tasks are acknowledged (within a
// minute) srv is killed with SIGKILL and the writers are stopped. It
// returns the acknowledged tasks.
func crashLoad(t *testing.T, srv *serverProc, writers, enough int, post func(ctx context.Context, g, i int) ([]string, error)) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]bool{}
	reached := make(chan struct{})
	closeReached := sync.OnceFunc(func() { close(reached) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				tasks, err := post(ctx, g, i)
				if err != nil {
					// The server is gone, or the request failed: try
					// again after a pause, until stopped.
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				for _, task := range tasks {
					acked[task] = true
				}
				if len(acked) >= enough {
					closeReached()
				}
				mu.Unlock()
			}
		})
	}
	testenv.Within(t, reached, 60*time.Second, fmt.Sprintf("%d acknowledged write-backs", enough))
	srv.stop(t, syscall.SIGKILL)
	// Requests in flight fail or are cancelled: none is acknowledged now.
	cancel()
	wg.Wait()
	return acked
}

// postCrashVerdict posts the write-back of task through c, returning it
// as acknowledged on a 201.
func postCrashVerdict(ctx context.Context, c *httpapi.Client, task string) ([]string, error) {
	r, err := c.PostWriteback(ctx, httpapi.WritebackBody{Verdict: crashVerdict(task), BatchID: "CRASH", TrackID: "T1"})
	if err != nil || r.Status != 201 {
		return nil, err
	}
	return []string{task}, nil
}

// TestCrashUnderLoad: the server is killed with SIGKILL while 64 clients
// write back; after a restart every write-back that got a 201 is in the
// ledger, and none twice.
func TestCrashUnderLoad(t *testing.T) {
	config := serverConfig(t, t.TempDir())
	bin, srv, c := crashServe(t, config)

	acked := crashLoad(t, srv, 64, 300, func(ctx context.Context, g, i int) ([]string, error) {
		return postCrashVerdict(ctx, c, fmt.Sprintf("crash-%02d-%05d", g, i))
	})

	again := startServe(t, bin, config)
	have := kindsByTask(t, again.client(t, "tok-operator"), writeback.KindDurable)
	for task := range acked {
		if have[task] != 1 {
			t.Errorf("acknowledged write-back %s is in the ledger %d times", task, have[task])
		}
	}
	for task, n := range have {
		if n != 1 {
			t.Errorf("write-back %s is in the ledger %d times", task, n)
		}
	}
	t.Logf("%d write-backs acknowledged before SIGKILL, %d in the ledger after restart", len(acked), len(have))

	// SIGTERM: a graceful shutdown, exit status 0.
	if err := again.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-again.done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

func TestBenchEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load")
	}
	for _, wl := range []string{"writeback", "settle", "status", "ping"} {
		t.Run(wl, func(t *testing.T) {
			out, errOut, code := run(t, nil, "bench", "--embedded", "--dir", t.TempDir(), "--clients", "4", "--requests", "40",
				"--workload", wl, "--fsync-probe", "100ms", "--progress", "0", "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			var r benchResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if r.Ops != 40 || r.Errors != 0 || r.OpsPerSec <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.P999ms < r.P99ms || r.FsyncPerSec <= 0 {
				t.Fatalf("result %+v", r)
			}
			// The same-run references are measured by default.
			if r.OpsPerFsync <= 0 || r.PingOpsPerSec <= 0 || r.OpsPerPingCeiling <= 0 {
				t.Fatalf("no same-run ratios: %+v", r)
			}
			if wl == "settle" && (r.BatchesSettled != 40 || r.Requests != 40*3) {
				t.Fatalf("settle result %+v", r)
			}
			if wl == "writeback" && (r.LedgerFsyncs == 0 || r.EventFsyncs == 0) {
				t.Fatalf("no commit counters: %+v", r)
			}
			if wl == "ping" && (r.LedgerFsyncs != 0 || r.Requests != 40) {
				t.Fatalf("ping touched the store: %+v", r)
			}
		})
	}
	t.Run("writeback-batch", func(t *testing.T) {
		out, errOut, code := run(t, nil, "bench", "--embedded", "--dir", t.TempDir(), "--clients", "4", "--requests", "10",
			"--batch", "8", "--fsync-probe", "100ms", "--progress", "0", "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.Ops != 10 || r.Errors != 0 || r.Batch != 8 || r.Writebacks != 80 || r.WritebacksPerSec <= r.OpsPerSec || r.WritebacksPerFsync <= 0 {
			t.Fatalf("result %+v", r)
		}
	})
}

// TestBenchEmbeddedReferences: the text output prints both same-run
// ratios by default, and --no-reference measures neither.
func TestBenchEmbeddedReferences(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load")
	}
	out, errOut, code := run(t, nil, "bench", "--embedded", "--dir", t.TempDir(), "--clients", "2", "--requests", "20",
		"--fsync-probe", "100ms", "--progress", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"operations/s over the fsync rate: ", "operations/s over the same-run ping ceiling ("} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, code = run(t, nil, "bench", "--embedded", "--dir", t.TempDir(), "--clients", "2", "--requests", "20",
		"--progress", "0", "--no-reference", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Ops != 20 || r.FsyncPerSec != 0 || r.OpsPerFsync != 0 || r.PingOpsPerSec != 0 || r.OpsPerPingCeiling != 0 {
		t.Fatalf("--no-reference measured a reference: %+v", r)
	}
	if strings.Contains(errOut, "ping ceiling") || strings.Contains(errOut, "fsync rate") {
		t.Fatalf("--no-reference ran a reference:\n%s", errOut)
	}
}

// TestBenchEmbeddedPostgres: the embedded bench on a PostgreSQL store
// reports the group sizes and the same-run ratios.
func TestBenchEmbeddedPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load")
	}
	store := testenv.PostgresURL(t, "t_")
	for _, wl := range []string{"writeback", "status"} {
		t.Run(wl, func(t *testing.T) {
			out, errOut, code := run(t, nil, "bench", "--embedded", "--store", store, "--dir", t.TempDir(), "--clients", "4", "--requests", "40",
				"--workload", wl, "--fsync-probe", "100ms", "--progress", "0", "--single-client", "--ceiling", "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			var r benchResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains(r.Target, "PostgreSQL") || r.Ops != 40 || r.Errors != 0 || r.OpsPerFsync <= 0 ||
				r.PingOpsPerSec <= 0 || r.OpsPerPingCeiling <= 0 || r.SingleClientOpsPerSec <= 0 || r.OpsPerSingleClient <= 0 {
				t.Fatalf("result %+v", r)
			}
			if wl == "writeback" && (r.LedgerFsyncs == 0 || r.LedgerAvgGroup < 1 || r.EventAvgGroup < 1) {
				t.Fatalf("no ledger group counters: %+v", r)
			}
			if wl == "status" && (r.SceneCommits == 0 || r.SceneAvgGroup < 1 || r.SceneMaxGroup < 1) {
				t.Fatalf("no scene group counters: %+v", r)
			}
		})
	}
}

func TestServeAndBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "extra"},
		{"serve", "--tls-cert", "x"},
		{"serve", "--log-level", "loud"},
		{"bench"},
		{"bench", "--embedded", "--url", "http://x"},
		{"bench", "--embedded", "--workload", "nope"},
		{"bench", "--embedded", "--clients", "0"},
		{"bench", "--embedded", "--batch", "257"},
		{"bench", "--embedded", "--batch", "4", "--workload", "settle"},
	} {
		if _, _, code := run(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
