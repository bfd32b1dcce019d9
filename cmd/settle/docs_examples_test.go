package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/internal/testenv"
)

// The documentation's examples are marked with an HTML comment on the line
// before their fence:
//
//	<!-- doc-run -->            a sh block the test runs
//	<!-- doc-skip: why -->      a sh block it does not run, and why
//	<!-- doc-serve -->          the sh block that starts the server
//	<!-- doc-file: PATH -->     a block written to PATH before the run
//	<!-- doc-config -->         a JSON block that must be a valid config file
//
// Every sh block of README.md and docs/server.md carries one of the first
// three, so no example is left unchecked without a stated reason.

// docBlock is one fenced block of a markdown file.
type docBlock struct {
	file   string
	line   int    // of the opening fence
	lang   string // the fence's info string
	marker string // run, skip, serve, file, config or ""
	arg    string // the marker's argument
	body   string
}

var markerRE = regexp.MustCompile(`^<!-- doc-(run|skip|serve|file|config)(?::\s*(.*?))?\s*-->$`)

// parseDoc returns the fenced blocks of a markdown file.
func parseDoc(t *testing.T, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			continue
		}
		b := docBlock{file: path, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		if i > 0 {
			if m := markerRE.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.marker, b.arg = m[1], m[2]
			}
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		b.body = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks
}

// docFiles collects the doc-file blocks of every document; a path defined
// twice with different contents is an error.
func docFiles(t *testing.T, docs map[string][]docBlock) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, blocks := range docs {
		for _, b := range blocks {
			if b.marker != "file" {
				continue
			}
			if prev, ok := files[b.arg]; ok && prev != b.body {
				t.Fatalf("%s:%d: %s is defined twice with different contents", b.file, b.line, b.arg)
			}
			files[b.arg] = b.body
		}
	}
	return files
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// docEnv is the environment the examples run in: the test's, without
// settle's own variables, with the built binary first on PATH.
func docEnv(binDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SETTLE_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// curlPrelude makes an HTTP error answer fail the script: the examples show
// successful calls, so a 4xx or 5xx is a broken example.
const curlPrelude = "set -e -o pipefail\ncurl() { command curl --fail-with-body --show-error \"$@\"; }\n"

// runBlocks runs the doc-run blocks of one document as one bash script (so
// variables carry from block to block), each announced by its location.
func runBlocks(t *testing.T, ctx context.Context, dir string, env []string, blocks []docBlock, replace *strings.Replacer) string {
	t.Helper()
	var script strings.Builder
	script.WriteString(curlPrelude)
	n := 0
	for _, b := range blocks {
		if b.marker != "run" || b.lang != "sh" {
			continue
		}
		n++
		script.WriteString("echo '>>> " + filepath.Base(b.file) + ":" + strconv.Itoa(b.line) + "'\n")
		script.WriteString(replace.Replace(b.body))
	}
	if n == 0 {
		t.Fatalf("no doc-run block in %s", blocks[0].file)
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the examples of %s failed (%v); the last >>> line names the block:\n%s", blocks[0].file, err, out)
	}
	return string(out)
}

// TestDocExamples runs the command examples of README.md and
// docs/server.md: README's against the CLI in a fresh workspace, the
// server page's with curl against a real "settle serve" built from this
// tree, started from the page's own config file.
func TestDocExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the documentation's examples")
	}
	for _, tool := range []string{"bash", "curl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" is needed by the documentation's examples: "+err.Error())
		}
	}
	repo := filepath.Join("..", "..")
	docs := map[string][]docBlock{}
	paths, _ := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	paths = append(paths, filepath.Join(repo, "README.md"))
	for _, p := range paths {
		docs[p] = parseDoc(t, p)
	}
	readme, server := docs[filepath.Join(repo, "README.md")], docs[filepath.Join(repo, "docs", "server.md")]

	// Every sh block is run, or says why not.
	for _, blocks := range [][]docBlock{readme, server} {
		for _, b := range blocks {
			if b.lang != "sh" {
				continue
			}
			switch b.marker {
			case "run", "serve":
			case "skip":
				if b.arg == "" {
					t.Errorf("%s:%d: doc-skip without a reason", b.file, b.line)
				}
				t.Logf("not run: %s:%d (%s)", b.file, b.line, b.arg)
			default:
				t.Errorf("%s:%d: a sh block without doc-run, doc-serve or doc-skip", b.file, b.line)
			}
		}
	}
	// Config examples are valid config files.
	files := docFiles(t, docs)
	for _, blocks := range docs {
		for _, b := range blocks {
			if b.marker == "config" || (b.marker == "file" && b.arg == "settle.json") {
				dec := json.NewDecoder(strings.NewReader(b.body))
				dec.DisallowUnknownFields()
				var c Config
				if err := dec.Decode(&c); err != nil {
					t.Errorf("%s:%d: not a valid config file: %v", b.file, b.line, err)
				} else if err := c.Validate(); err != nil && c.Store != "" {
					t.Errorf("%s:%d: %v", b.file, b.line, err)
				}
			}
		}
	}
	checkTokenHashes(t, server, files["settle.json"])
	if t.Failed() {
		return
	}

	bin := settleBinary(t)
	env := docEnv(filepath.Dir(bin))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("README", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		out := runBlocks(t, ctx, dir, env, readme, strings.NewReplacer())
		for _, want := range []string{"DURABLE_SUCCESS_WRITTEN", "ALL_SETTLED_CONSOLIDATE", "NORMAL_CALLBACK_COMPLETED", "candidate is version 2", `"version":2`} {
			if !strings.Contains(out, want) {
				t.Errorf("README examples: output lacks %q:\n%s", want, out)
			}
		}
		for _, rel := range []string{
			"pipeline/memory/events/batch_summaries/B1.json",
			"pipeline/projects/film/orchestration/scenes/ep_001_BATCH_001.v002.json",
		} {
			if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
				t.Errorf("README examples did not write %s: %v", rel, err)
			}
		}
	})

	t.Run("server.md", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, files)
		var serve docBlock
		for _, b := range server {
			if b.marker == "serve" {
				serve = b
			}
		}
		args := strings.Fields(strings.SplitN(serve.body, "\n", 2)[0])
		if len(args) < 2 || args[0] != "settle" {
			t.Fatalf("%s:%d: the doc-serve block does not start with a settle command", serve.file, serve.line)
		}
		// The page's address may be taken on a shared machine: listen on
		// a free port and run the examples against it.
		cmd := exec.Command(bin, append(args[1:], "--listen", "127.0.0.1:0")...)
		cmd.Dir = dir
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		go func() {
			io.Copy(io.Discard, stdout)
			done <- cmd.Wait()
		}()
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := <-done; err != nil {
				t.Errorf("settle serve: %v\n%s", err, stderr.String())
			}
		}()
		if err != nil {
			t.Fatalf("settle serve printed no address: %v\n%s", err, stderr.String())
		}
		addr, _, _ := strings.Cut(strings.TrimPrefix(line, "listening on "), " ")
		out := runBlocks(t, ctx, dir, env, server, strings.NewReplacer("127.0.0.1:8787", addr))
		for _, want := range []string{
			"Settle-Batch-Decision: ALL_SETTLED_CONSOLIDATE",
			`"classification":"DURABLE_SUCCESS_WRITTEN"`,
			`"classification":"REGISTERED"`,
			`"version":2`,
			`{"status":"ready"}`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("server.md examples: output lacks %q:\n%s", want, out)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "ws", "memory", "events", "batch_summaries", "batch-7.json")); err != nil {
			t.Errorf("batch-7 has no summary: %v", err)
		}
	})
}

// checkTokenHashes: the hash the page shows for collector-secret is its
// sha256, and every token of the page's config is the sha256 of one of the
// secrets its examples use.
func checkTokenHashes(t *testing.T, server []docBlock, config string) {
	t.Helper()
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	shown := false
	for _, b := range server {
		if b.marker == "run" && strings.Contains(b.body, `printf %s "collector-secret" | sha256sum`) {
			shown = strings.Contains(b.body, "# "+hash("collector-secret")+"  -")
		}
	}
	if !shown {
		t.Errorf("docs/server.md does not show the sha256 of collector-secret (%s)", hash("collector-secret"))
	}
	var c Config
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		t.Fatalf("docs/server.md settle.json: %v", err)
	}
	for _, tok := range c.Server.Tokens {
		secret := map[string]string{"collector": "collector-secret", "dispatcher": "dispatcher-secret", "runner": "runner-secret", "operator": "operator-secret", "reader": "reader-secret"}[tok.Role]
		if tok.TokenSHA256 != hash(secret) {
			t.Errorf("docs/server.md settle.json: the %s token is not the sha256 of %s", tok.Role, secret)
		}
	}
}
