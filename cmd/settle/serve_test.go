package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
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

// pgServeConfig skips in -short mode (the test builds and runs the
// binary) and returns a store URL on a fresh schema of the test database
// and a server config on it (a new root), set over the defaults.
func pgServeConfig(t *testing.T, set map[string]any) (store, config string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the settle binary")
	}
	store = testenv.PostgresURL(t, "cli_")
	cfg := map[string]any{"store": store, "root": t.TempDir()}
	for k, v := range set {
		cfg[k] = v
	}
	return store, serverConfigWith(t, cfg)
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

// serveInProcess runs "settle serve" in-process on config, waits until it
// is ready and returns its URL, its stderr and a stop function that waits
// for it to end.
func serveInProcess(t *testing.T, config string) (url string, stderr *testenv.Buffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &testenv.Buffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: pw, Stderr: stderr, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		err := m.Run(ctx, []string{"serve", "--config", config, "--listen", "127.0.0.1:0"})
		pw.Close()
		done <- ExitCode(err)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve printed no address (exit %d): %s", <-done, stderr)
	}
	go io.Copy(io.Discard, pr)
	addr, _, _ := strings.Cut(strings.TrimPrefix(line, "listening on "), " ")
	stop = func() int { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	url = "http://" + addr
	c, err := httpapi.NewClient(url, "", httpapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := waitReady(context.Background(), c, 30*time.Second); err != nil {
		t.Fatalf("not ready: %v\n%s", err, stderr)
	}
	return url, stderr, stop
}

// TestServeCreatesMissingRoot: a config whose root does not exist yet
// starts a server on a new root, as the CLI's commands do.
func TestServeCreatesMissingRoot(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "settle.json")
	os.WriteFile(config, []byte(`{"root": "ws", "collector_keys": ["anu0000000000001"]}`), 0o600)
	_, stderr, stop := serveInProcess(t, config)
	if fi, err := os.Stat(filepath.Join(dir, "ws")); err != nil || !fi.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d: %s", code, stderr)
	}
	// A CLI command on a missing root creates it the same way.
	root := filepath.Join(dir, "other")
	if _, errs, code := run(t, nil, "--root", root, "scene", "list", "--project", "p", "--episode", "1"); code != 0 {
		t.Fatalf("scene list on a missing root: exit %d %s", code, errs)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("CLI did not create the root: %v", err)
	}
	// A root that is a file is refused.
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	if _, errs, code := run(t, nil, "--root", filepath.Join(dir, "file"), "scene", "list", "--project", "p", "--episode", "1"); code != 1 || !strings.Contains(errs, "not a directory") {
		t.Fatalf("root that is a file: exit %d %s", code, errs)
	}
}

// TestServeWithoutCollectorKeysWarns: a server with no collector keys
// starts, logs a warning, and /readyz says why write-backs will be refused.
func TestServeWithoutCollectorKeysWarns(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "settle.json")
	os.WriteFile(config, []byte(`{"root": "."}`), 0o600)
	url, stderr, stop := serveInProcess(t, config)
	res, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var h httpapi.Health
	err = json.NewDecoder(res.Body).Decode(&h)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "no collector keys") {
		t.Fatalf("/readyz: %d %+v %v", res.StatusCode, h, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	if !strings.Contains(stderr.String(), "level=WARN") || !strings.Contains(stderr.String(), "no collector keys are configured") {
		t.Fatalf("no warning logged:\n%s", stderr)
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

// TestServerProcs: a server runs one Go processor more than it has CPUs,
// unless GOMAXPROCS is set in the environment.
func TestServerProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	serverProcs()
	if got := runtime.GOMAXPROCS(0); got != cpus+1 {
		t.Errorf("GOMAXPROCS unset: %d processors, want %d", got, cpus+1)
	}
	runtime.GOMAXPROCS(cpus + 2)
	t.Setenv("GOMAXPROCS", strconv.Itoa(cpus+2))
	serverProcs()
	if got := runtime.GOMAXPROCS(0); got != cpus+2 {
		t.Errorf("GOMAXPROCS=%d set: %d processors", cpus+2, got)
	}
}
