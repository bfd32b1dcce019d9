package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// eventStream follows a server's SSE stream into a channel.
func eventStream(t testing.TB, c *httpapi.Client, after int64) <-chan event.Event {
	t.Helper()
	return testenv.Feed(t, 64, func(ctx context.Context, emit func(event.Event)) {
		c.StreamEvents(ctx, after, nil, func(ev event.Event) error { emit(ev); return nil })
	})
}

// nextEvent waits up to limit for the next event of typ (others are
// passed over) and returns it with how long it took.
func nextEvent(t *testing.T, ch <-chan event.Event, typ string, limit time.Duration) (event.Event, time.Duration) {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			if ev.Type == typ {
				return ev, time.Since(start)
			}
		case <-timer.C:
			t.Fatalf("no %s event within %v", typ, limit)
		}
	}
}

// allEvents reads a file event log whole.
func allEvents(t *testing.T, root string) []event.Event {
	t.Helper()
	ev, err := file.OpenEvents(file.EventsOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	evs, err := ev.Since(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// startReady starts cmd with its stdin and stdout piped and waits for
// its first line, READY. At cleanup its stdin is closed and it is waited
// for.
func startReady(t testing.TB, cmd *exec.Cmd, what string) (io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "READY" {
		t.Fatalf("%s did not start: %q", what, lines.Text())
	}
	return stdin, lines
}

// eventTypes counts evs by type and fails the test unless each key was
// appended once.
func eventTypes(t *testing.T, evs []event.Event) map[string]int {
	t.Helper()
	keys := map[string]int{}
	types := map[string]int{}
	for _, ev := range evs {
		types[ev.Type]++
		if ev.Key != "" {
			keys[ev.Key]++
		}
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("event %s appended %d times", k, n)
		}
	}
	return types
}

// TestFollowSeedWriter: the seed's own Python code writes durable
// successes into the ledger of a running server (it knows nothing of
// events); the server's SSE stream shows each writeback.recorded and the
// batch's single batch.settled within 1 s, and after the server is killed
// with SIGKILL mid-stream and restarted, nothing is announced twice.
func TestFollowSeedWriter(t *testing.T) {
	ref := testenv.ReferenceDir(t, "anu_v3/batch_settle_writeback.py")
	py := testenv.Python(t)
	bin := settleBinary(t)
	root := t.TempDir()
	config := serverConfig(t, root)
	env := map[string]string{"SETTLE_CONFIG": config}
	if _, errOut, code := run(t, env, "batch", "declare", "--batch", "SEEDB", "--track", "T1=seed-1", "--track", "T2=seed-2", "--track", "T3=seed-3"); code != 0 {
		t.Fatalf("declare: %s", errOut)
	}

	cmd := exec.Command(py, filepath.Join("testdata", "seed_writeback.py"), ref, root, filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath)), crashKey)
	cmd.Env = append(os.Environ(), "REFERENCE_ANU_KEYS="+crashKey)
	stdin, lines := startReady(t, cmd, "seed writer")
	seedWrite := func(task, track string) {
		t.Helper()
		fmt.Fprintf(stdin, "%s %s SEEDB\n", task, track)
		if !lines.Scan() || lines.Text() != "ACK DURABLE_SUCCESS_WRITTEN True" {
			t.Fatalf("seed write-back of %s: %q", task, lines.Text())
		}
	}
	recorded := func(ch <-chan event.Event, task string) {
		t.Helper()
		ev, took := nextEvent(t, ch, event.WritebackRecorded, time.Second)
		var d httpapi.RecordedData
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.TaskID != task {
			t.Fatalf("writeback.recorded %s: %s %v", task, ev.Data, err)
		}
		t.Logf("seed append of %s reached the SSE stream in %v", task, took)
	}

	srv := startServe(t, bin, config)
	ch := eventStream(t, srv.client(t, "tok-operator"), 0)
	seedWrite("seed-1", "T1")
	recorded(ch, "seed-1")
	seedWrite("seed-2", "T2")
	recorded(ch, "seed-2")

	// Killed mid-stream, then restarted: the stream resumes where it
	// was, and the third track settles the batch.
	srv.stop(t, syscall.SIGKILL)
	srv = startServe(t, bin, config)
	last := allEvents(t, root)
	ch = eventStream(t, srv.client(t, "tok-operator"), last[len(last)-1].ID)
	seedWrite("seed-3", "T3")
	recorded(ch, "seed-3")
	ev, took := nextEvent(t, ch, event.BatchSettled, time.Second)
	t.Logf("batch.settled %s after the last seed append's event: %v", ev.Data, took)

	srv.stop(t, syscall.SIGTERM)
	types := eventTypes(t, allEvents(t, root))
	if types[event.WritebackRecorded] != 3 || types[event.BatchSettled] != 1 {
		t.Fatalf("events: %v", types)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(writeback.SummaryRelPath("SEEDB")))); err != nil {
		t.Fatalf("consolidated summary: %v", err)
	}
}

// TestCLISettlesLikeServer: the CLI alone (no server) settles a declared
// batch; its ledger, summary and events are the ones a server writes for
// the same write-backs (but for times and the writer's name).
func TestCLISettlesLikeServer(t *testing.T) {
	bin := settleBinary(t)
	verdict := func(root, task, track string) string {
		t.Helper()
		dir := filepath.Join(root, "verdicts")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, task+".json")
		if err := os.WriteFile(path, crashVerdictTrack(task, track), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tracks := []writeback.TrackTask{{TrackID: "T1", TaskID: "cli-1"}, {TrackID: "T2", TaskID: "cli-2"}}

	// The CLI alone.
	cliRoot := t.TempDir()
	env := map[string]string{"SETTLE_CONFIG": serverConfig(t, cliRoot)}
	if _, errOut, code := run(t, env, "batch", "declare", "--batch", "CB", "--track", "T1=cli-1", "--track", "T2=cli-2"); code != 0 {
		t.Fatalf("declare: %s", errOut)
	}
	for _, tt := range tracks {
		out, errOut, code := run(t, env, "writeback", "--batch", "CB", verdict(cliRoot, tt.TaskID, tt.TrackID))
		if code != 0 {
			t.Fatalf("writeback %s: %s %s", tt.TaskID, out, errOut)
		}
	}

	// A server.
	srvRoot := t.TempDir()
	srv := startServe(t, bin, serverConfig(t, srvRoot))
	op := srv.client(t, "tok-operator")
	if err := op.DeclareBatch(context.Background(), writeback.Batch{BatchID: "CB", Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	col := srv.client(t, "tok-collector")
	for _, tt := range tracks {
		path := verdict(srvRoot, tt.TaskID, tt.TrackID)
		data, _ := os.ReadFile(path)
		r, err := col.PostWriteback(context.Background(), httpapi.WritebackBody{Verdict: data, BatchID: "CB", SourcePath: path})
		if err != nil || r.Status != 201 {
			t.Fatalf("server write-back %s: %+v %v", tt.TaskID, r, err)
		}
	}
	srv.stop(t, syscall.SIGTERM)

	read := func(root, rel string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := read(cliRoot, writeback.DefaultLedgerRelPath), read(srvRoot, writeback.DefaultLedgerRelPath); string(a) != string(b) {
		t.Fatalf("ledgers differ:\ncli:\n%s\nserver:\n%s", a, b)
	}
	var sa, sb map[string]any
	if err := errors.Join(json.Unmarshal(read(cliRoot, writeback.SummaryRelPath("CB")), &sa), json.Unmarshal(read(srvRoot, writeback.SummaryRelPath("CB")), &sb)); err != nil {
		t.Fatal(err)
	}
	delete(sa, "written_at")
	delete(sb, "written_at")
	if ja, jb := mustJSON(t, sa), mustJSON(t, sb); ja != jb {
		t.Fatalf("summaries differ:\ncli:    %s\nserver: %s", ja, jb)
	}
	norm := func(root string) string {
		var out []string
		for _, ev := range allEvents(t, root) {
			var d map[string]any
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			delete(d, "principal")
			out = append(out, fmt.Sprintf("%d %s %s %s", ev.ID, ev.Type, ev.Key, mustJSON(t, d)))
		}
		return strings.Join(out, "\n")
	}
	ea, eb := norm(cliRoot), norm(srvRoot)
	if ea != eb || !strings.Contains(ea, event.BatchSettled) {
		t.Fatalf("events differ:\ncli:\n%s\nserver:\n%s", ea, eb)
	}
}

func crashVerdictTrack(task, track string) []byte {
	var m map[string]any
	json.Unmarshal(crashVerdict(task), &m)
	m["track"] = track
	b, _ := json.Marshal(m)
	return b
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkSeedAppendToSSE measures, per durable success the seed's Python
// code appends to the ledger of a running server (settle serve as a child
// process), the time from the seed's append returning to its
// writeback.recorded event arriving on the server's SSE stream.
func BenchmarkSeedAppendToSSE(b *testing.B) {
	ref := testenv.ReferenceDir(b, "anu_v3/batch_settle_writeback.py")
	py := testenv.Python(b)
	bin := filepath.Join(b.TempDir(), "settle")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the README builds it
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	root := b.TempDir()
	config := serverConfigWith(b, map[string]any{"root": root, "server": operatorOnly()})
	srv := startServe(b, bin, config)
	ch := eventStream(b, srv.client(b, "tok-operator"), 0)

	cmd := exec.Command(py, filepath.Join("testdata", "seed_writeback.py"), ref, root, filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath)), crashKey)
	cmd.Env = append(os.Environ(), "REFERENCE_ANU_KEYS="+crashKey)
	stdin, lines := startReady(b, cmd, "seed writer")
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		fmt.Fprintf(stdin, "bench-%d T1 BENCH%d\n", i, i)
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ACK DURABLE_SUCCESS_WRITTEN") {
			b.Fatalf("seed write-back: %q", lines.Text())
		}
		start := time.Now()
		timer := time.NewTimer(10 * time.Second)
		for got := false; !got; {
			select {
			case ev := <-ch:
				got = ev.Type == event.WritebackRecorded && strings.Contains(string(ev.Data), fmt.Sprintf(`"bench-%d"`, i))
			case <-timer.C:
				b.Fatalf("no event for bench-%d", i)
			}
		}
		timer.Stop()
		total += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-to-sse/op")
}
