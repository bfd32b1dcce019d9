package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// A running server announces, once each, the events of writes made
// elsewhere: by the seed's Python code, by the CLI, by another server on
// the same PostgreSQL database. The CLI alone writes the events a server
// would.

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

// seedScenes runs the seed's persistence.py and SceneVersionStore (through
// file/testdata/scene_ref.py) as a long-lived writer of a workspace's
// scene files, which knows nothing of settle's events.
type seedScenes struct {
	t     *testing.T
	enc   *json.Encoder
	lines *bufio.Scanner
}

func startSeedScenes(t *testing.T, root string) *seedScenes {
	t.Helper()
	ref := testenv.ReferenceDir(t, "recoil/pipeline/core/persistence.py")
	script, err := filepath.Abs(filepath.Join("..", "..", "file", "testdata", "scene_ref.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Python(t), script, "-")
	cmd.Dir = ref
	cmd.Env = append(os.Environ(), "REFERENCE_ROOT="+root, "PYTHONDONTWRITEBYTECODE=1")
	stdin, lines := startReady(t, cmd, "seed scene writer")
	s := &seedScenes{t: t, enc: json.NewEncoder(stdin), lines: lines}
	return s
}

// do runs one operation and returns once the seed's write returned.
func (s *seedScenes) do(op map[string]any) {
	s.t.Helper()
	op["project"], op["episode"], op["batch"] = "P", "1", "B1"
	if err := s.enc.Encode(op); err != nil {
		s.t.Fatal(err)
	}
	if !s.lines.Scan() {
		s.t.Fatalf("seed %v: no answer", op["op"])
	}
	var res map[string]any
	if err := json.Unmarshal(s.lines.Bytes(), &res); err != nil || res["ok"] != true {
		s.t.Fatalf("seed %v: %s %v", op["op"], s.lines.Text(), err)
	}
}

func seedScene(prompt string) map[string]any {
	return map[string]any{"scene_id": "B1", "beats": []any{map[string]any{"beat_id": "S1",
		"beat_metadata": map[string]any{"plan_shot": map[string]any{"shot_id": "S1", "prompt": prompt}}}}}
}

func approvePatch(v bool) []any {
	return []any{map[string]any{"op": "replace", "path": "/beats/0/approved", "value": v}}
}

// activeBody is the revision and version of B1's active body now.
func activeBody(t *testing.T, root string) scene.Loaded {
	t.Helper()
	s, err := file.OpenScenes(file.SceneOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Load(context.Background(), scene.Ref{Project: "P", Episode: "1", Batch: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sceneEvent waits up to limit for the next event of typ and checks that
// it is about version v of B1.
func sceneEvent(t *testing.T, ch <-chan event.Event, typ string, v int, limit time.Duration) (event.Event, derive.SceneEventData, time.Duration) {
	t.Helper()
	ev, took := nextEvent(t, ch, typ, limit)
	var d derive.SceneEventData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Project != "P" || d.Episode != "ep_001" || d.Batch != "B1" || d.Version != v {
		t.Fatalf("%s: %s, want version %d of B1", typ, ev.Data, v)
	}
	return ev, d, took
}

// sceneAnnounced waits up to limit for the next event of typ and checks
// that it announces version v at revision rev.
func sceneAnnounced(t *testing.T, ch <-chan event.Event, typ string, v int, rev string, limit time.Duration) derive.SceneEventData {
	t.Helper()
	ev, d, took := sceneEvent(t, ch, typ, v, limit)
	if d.Revision != rev {
		t.Fatalf("%s: %s, want revision %s", typ, ev.Data, rev)
	}
	t.Logf("%s v%d reached the SSE stream in %v", typ, v, took)
	return d
}

// sceneFollow is a server on a new root, the seed's scene writer in the
// same workspace and the server's event stream.
type sceneFollow struct {
	bin, root, config string
	seed              *seedScenes
	srv               *serverProc
	ch                <-chan event.Event
}

func startSceneFollow(t *testing.T) *sceneFollow {
	t.Helper()
	f := &sceneFollow{bin: settleBinary(t), root: t.TempDir()}
	f.config = serverConfig(t, f.root)
	f.seed = startSeedScenes(t, f.root)
	f.srv = startServe(t, f.bin, f.config)
	f.ch = eventStream(t, f.srv.client(t, "tok-operator"), 0)
	return f
}

// TestFollowSeedScenes: the seed's persistence.py (Python) writes a new
// batch, a status save and a new active version into the workspace of a
// running server: its SSE stream shows each scene.version_created and
// scene.status_saved within 1 s. The server is killed with SIGKILL, the
// seed saves a status meanwhile, and the restarted server announces that
// save; a CLI status save and another seed save follow. At the end every
// save was announced exactly once.
func TestFollowSeedScenes(t *testing.T) {
	f := startSceneFollow(t)
	f.seed.do(map[string]any{"op": "candidate", "scene": seedScene("dusk"), "reason": "re-derive"})
	sceneAnnounced(t, f.ch, event.SceneVersionCreated, 1, activeBody(t, f.root).Revision, time.Second)
	f.seed.do(map[string]any{"op": "status", "expected_version": 1, "patch": approvePatch(true)})
	sceneAnnounced(t, f.ch, event.SceneStatusSaved, 1, activeBody(t, f.root).Revision, time.Second)
	f.seed.do(map[string]any{"op": "candidate", "scene": seedScene("storm"), "reason": "re-derive", "activate": true})
	d := sceneAnnounced(t, f.ch, event.SceneVersionCreated, 2, activeBody(t, f.root).Revision, time.Second)
	if !d.Activated || d.Reason != "re-derive" {
		t.Fatalf("version_created of an activated candidate: %+v", d)
	}

	// Killed; a save while no server runs; restarted.
	f.srv.stop(t, syscall.SIGKILL)
	f.seed.do(map[string]any{"op": "status", "expected_version": 2, "patch": approvePatch(true)})
	missed := activeBody(t, f.root).Revision
	last := allEvents(t, f.root)
	f.srv = startServe(t, f.bin, f.config)
	f.ch = eventStream(t, f.srv.client(t, "tok-operator"), last[len(last)-1].ID)
	sceneAnnounced(t, f.ch, event.SceneStatusSaved, 2, missed, 10*time.Second)

	// A CLI status save reaches the running server's stream once.
	rev := cliPatch(t, f.config, 2, `[{"op": "replace", "path": "/beats/0/approved", "value": false}]`)
	d = sceneAnnounced(t, f.ch, event.SceneStatusSaved, 2, rev, time.Second)
	t.Logf("the CLI save was announced by %q (via %q)", d.Principal, d.Via)

	// The seed approves again: the bytes of the save made while the
	// server was down, a save of its own.
	f.seed.do(map[string]any{"op": "status", "expected_version": 2, "patch": approvePatch(true)})
	sceneAnnounced(t, f.ch, event.SceneStatusSaved, 2, missed, time.Second)

	f.srv.stop(t, syscall.SIGTERM)
	types := eventTypes(t, allEvents(t, f.root))
	if types[event.SceneVersionCreated] != 2 || types[event.SceneStatusSaved] != 4 {
		t.Fatalf("events: %v", types)
	}
}

// cliPatch saves a status patch of P/1/B1 at version with "settle scene
// patch" and returns the revision it wrote.
func cliPatch(t *testing.T, config string, version int, patch string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "patch.json")
	if err := os.WriteFile(file, []byte(patch), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, map[string]string{"SETTLE_CONFIG": config}, "scene", "patch", "--json",
		"--project", "P", "--episode", "1", "--batch", "B1", "--expected-version", strconv.Itoa(version), "--patch", file)
	if code != 0 {
		t.Fatalf("settle scene patch: %s %s", out, errOut)
	}
	var res struct{ Revision string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	return res.Revision
}

// activationAnnounced waits up to limit for the next scene.activated
// event and checks that it announces version v of B1, keyed.
func activationAnnounced(t *testing.T, ch <-chan event.Event, v int, limit time.Duration) derive.SceneEventData {
	t.Helper()
	ev, d, took := sceneEvent(t, ch, event.SceneActivated, v, limit)
	if ev.Key == "" {
		t.Fatalf("scene.activated %s has no key", ev.Data)
	}
	t.Logf("activation of v%d reached the SSE stream in %v (principal %q)", v, took, d.Principal)
	return d
}

// TestFollowSeedActivations: the seed's SceneVersionStore (Python)
// activates versions and saves a status in the workspace of a running
// server: its SSE stream shows each scene.activated and scene.status_saved
// within 1 s. The server is killed with SIGKILL, the seed activates a
// version meanwhile, and the restarted server announces it; a CLI
// activation and the server's own follow. At the end every activation
// was announced exactly once, in order.
func TestFollowSeedActivations(t *testing.T) {
	f := startSceneFollow(t)
	f.seed.do(map[string]any{"op": "candidate", "scene": seedScene("dusk"), "reason": "re-derive"})
	f.seed.do(map[string]any{"op": "candidate", "scene": seedScene("storm"), "reason": "re-derive"})
	nextEvent(t, f.ch, event.SceneVersionCreated, time.Second)
	nextEvent(t, f.ch, event.SceneVersionCreated, time.Second)
	f.seed.do(map[string]any{"op": "activate", "version": 2})
	activationAnnounced(t, f.ch, 2, time.Second)
	f.seed.do(map[string]any{"op": "status", "expected_version": 2, "patch": approvePatch(true)})
	sceneAnnounced(t, f.ch, event.SceneStatusSaved, 2, activeBody(t, f.root).Revision, time.Second)

	// Killed mid-stream; an activation while no server runs; restarted.
	f.srv.stop(t, syscall.SIGKILL)
	f.seed.do(map[string]any{"op": "activate", "version": 1})
	last := allEvents(t, f.root)
	f.srv = startServe(t, f.bin, f.config)
	f.ch = eventStream(t, f.srv.client(t, "tok-operator"), last[len(last)-1].ID)
	activationAnnounced(t, f.ch, 1, 10*time.Second)
	f.seed.do(map[string]any{"op": "activate", "version": 2})
	activationAnnounced(t, f.ch, 2, time.Second)

	// The CLI's activation and the server's own: each once, by its writer.
	out, errOut, code := run(t, map[string]string{"SETTLE_CONFIG": f.config}, "scene", "activate",
		"--project", "P", "--episode", "1", "--batch", "B1", "--version", "1")
	if code != 0 {
		t.Fatalf("settle scene activate: %s %s", out, errOut)
	}
	if d := activationAnnounced(t, f.ch, 1, time.Second); d.Principal != cliPrincipal {
		t.Fatalf("the CLI's activation announced by %q", d.Principal)
	}
	if err := f.srv.client(t, "tok-operator").Activate(context.Background(), scene.Ref{Project: "P", Episode: "1", Batch: "B1"}, 2); err != nil {
		t.Fatal(err)
	}
	if d := activationAnnounced(t, f.ch, 2, time.Second); d.Principal != "operator" {
		t.Fatalf("the server's activation announced by %q", d.Principal)
	}
	// The seed's activation after them is still its own.
	f.seed.do(map[string]any{"op": "activate", "version": 1})
	activationAnnounced(t, f.ch, 1, time.Second)

	f.srv.stop(t, syscall.SIGTERM)
	evs := allEvents(t, f.root)
	eventTypes(t, evs)
	var versions []int
	for _, ev := range evs {
		if ev.Type == event.SceneActivated {
			var d derive.SceneEventData
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, d.Version)
		}
	}
	if fmt.Sprint(versions) != "[2 1 2 1 2 1]" {
		t.Fatalf("activations announced: %v, want [2 1 2 1 2 1]", versions)
	}
}

// TestCLIColdStartAnnouncesVersion: a CLI status save that creates its
// batch announces the version's creation, then the save, as the server
// does; a save to the existing body announces the save alone.
func TestCLIColdStartAnnouncesVersion(t *testing.T) {
	root := t.TempDir()
	config := serverConfig(t, root)
	check := func(evs []event.Event, want ...string) {
		t.Helper()
		if len(evs) != len(want)/2 {
			t.Fatalf("%d events, want %d: %v", len(evs), len(want)/2, evs)
		}
		for i, ev := range evs {
			var d derive.SceneEventData
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			if ev.Type != want[2*i] || d.Revision != want[2*i+1] || d.Version != 1 || d.Principal != cliPrincipal || ev.Key == "" {
				t.Fatalf("event %d: %s %s (key %q), want %s revision %s", i, ev.Type, ev.Data, ev.Key, want[2*i], want[2*i+1])
			}
		}
	}
	rev := cliPatch(t, config, 1, `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "S1"}}]`)
	evs := allEvents(t, root)
	check(evs, event.SceneVersionCreated, rev, event.SceneStatusSaved, rev)
	rev2 := cliPatch(t, config, 1, `[{"op": "add", "path": "/beats/0/approved", "value": true}]`)
	check(allEvents(t, root)[len(evs):], event.SceneStatusSaved, rev2)
}

// TestPostgresServeFollowsScenes: two settle serve processes on one
// PostgreSQL database. A status save and an activation are committed by
// a writer that dies before their events (the store called without the
// event step); the servers' scene followers announce each once, keyed as
// the writer would have keyed it. The CLI's scene patch and activate key
// theirs by the rows' stamps too.
func TestPostgresServeFollowsScenes(t *testing.T) {
	store, config := pgServeConfig(t, map[string]any{"server": operatorOnly()})
	bin := settleBinary(t)
	s1 := startServe(t, bin, config)
	startServe(t, bin, config)
	c := s1.client(t, "tok-operator")
	ctx := context.Background()
	ref := scene.Ref{Project: "P", Episode: "1", Batch: "B1"}
	for _, prompt := range []string{"a", "b"} {
		sc, err := scene.DecodeInput([]byte(`{"scene_id": "B1", "beats": [{"beat_id": "S1", "beat_metadata": {"plan_shot": {"shot_id": "S1", "prompt": "` + prompt + `"}}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteCandidate(ctx, ref, sc, "r", false); err != nil {
			t.Fatal(err)
		}
	}

	// The dying writer: the store alone, no event.
	pg, err := postgres.Open(ctx, postgres.Options{URL: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	l, err := pg.PatchStatus(ctx, ref, 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pg.ActivateStamped(ctx, ref, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	save := derive.SceneEvent(ref, 1, "")
	save.Revision, save.Stamp = l.Revision, l.Stamp
	act := derive.SceneEvent(ref, 2, "")
	act.Stamp = st
	want := map[string]string{derive.StatusSavedKey(save): event.SceneStatusSaved, derive.ActivatedKey(act): event.SceneActivated}

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	seen := map[string]int{}
	err = c.FollowEvents(fctx, 0, nil, func(ev event.Event) error {
		if ev.Type == event.SceneStatusSaved || ev.Type == event.SceneActivated {
			seen[ev.Key]++
			if want[ev.Key] != ev.Type {
				t.Errorf("unexpected %s event key %q", ev.Type, ev.Key)
			}
		}
		if len(seen) == len(want) {
			cancel()
		}
		return nil
	})
	if len(seen) != len(want) {
		t.Fatalf("the servers announced %v, want once each of %v (%v)", seen, want, err)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s announced %d times", k, n)
		}
	}

	// The CLI's scene commands on PostgreSQL key their events by the
	// rows' stamps, as the followers do.
	patch := filepath.Join(t.TempDir(), "patch.json")
	if err := os.WriteFile(patch, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SETTLE_CONFIG": config}
	out, errOut, code := run(t, env, "scene", "patch", "--json", "--project", "P", "--episode", "1", "--batch", "B1", "--expected-version", "2", "--patch", patch)
	if code != 0 {
		t.Fatalf("settle scene patch: %s %s", out, errOut)
	}
	var cli struct{ Revision string }
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, env, "scene", "activate", "--project", "P", "--episode", "1", "--batch", "B1", "--version", "1"); code != 0 {
		t.Fatalf("settle scene activate: %s %s", out, errOut)
	}
	stamp := func(name string) string {
		var st string
		if err := pg.Pool().QueryRow(ctx, "SELECT stamp FROM scene_files WHERE project = 'P' AND name = $1", name).Scan(&st); err != nil || st == "" {
			t.Fatalf("stamp of %s: %q %v", name, st, err)
		}
		return st
	}
	save = derive.SceneEvent(ref, 2, "")
	save.Revision, save.Stamp = cli.Revision, stamp("ep_001_B1.v002.json")
	act = derive.SceneEvent(ref, 1, "")
	act.Stamp = stamp("ep_001_B1.versions.json")
	evs, err := pg.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range evs {
		got[ev.Key]++
	}
	for _, k := range []string{derive.StatusSavedKey(save), derive.ActivatedKey(act)} {
		if got[k] != 1 {
			t.Fatalf("the CLI's event %s: %d in the log (%v)", k, got[k], got)
		}
	}
}
