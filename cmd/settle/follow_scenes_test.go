package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
)

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
