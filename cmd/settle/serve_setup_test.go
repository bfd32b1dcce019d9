package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
)

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
