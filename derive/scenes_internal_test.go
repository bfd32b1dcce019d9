package derive

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
)

// sceneWorld is a workspace with a scene store written by a tool that
// announces nothing (another process, for the follower), a settle writer
// that announces its writes, and the file event log.
type sceneWorld struct {
	t      *testing.T
	root   string
	other  *file.Scenes
	events *file.Events
	d      *Deriver
}

func newSceneWorld(t *testing.T) *sceneWorld {
	t.Helper()
	root := t.TempDir()
	other, err := file.OpenScenes(file.SceneOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := file.OpenEvents(file.EventsOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close(); other.Close() })
	d, err := New(Options{Events: ev, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	return &sceneWorld{t: t, root: root, other: other, events: ev, d: d}
}

// follower is a new follower (a server start) with no grace.
func (w *sceneWorld) follower() *sceneFollower {
	sc, err := file.OpenScenes(file.SceneOptions{Root: w.root})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { sc.Close() })
	return w.d.sceneFollower(sc.Scanner(), 0)
}

func (w *sceneWorld) step(f *sceneFollower) {
	w.t.Helper()
	if _, err := f.step(context.Background(), time.Now()); err != nil {
		w.t.Fatal(err)
	}
}

// sceneEvents returns the scene events of the log, in order.
func (w *sceneWorld) sceneEvents() []event.Event {
	w.t.Helper()
	evs, err := w.events.Since(context.Background(), 0, 10000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []event.Event
	for _, e := range evs {
		if e.Type == event.SceneVersionCreated || e.Type == event.SceneStatusSaved {
			out = append(out, e)
		}
	}
	return out
}

// want checks the scene events appended since the first `from` ones:
// their types and the revisions they announce.
func (w *sceneWorld) want(from int, want ...[2]string) int {
	w.t.Helper()
	evs := w.sceneEvents()[from:]
	if len(evs) != len(want) {
		w.t.Fatalf("%d new scene events, want %d: %v", len(evs), len(want), evs)
	}
	for i, e := range evs {
		var d SceneEventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			w.t.Fatal(err)
		}
		if e.Type != want[i][0] || d.Revision != want[i][1] {
			w.t.Fatalf("event %d: %s revision %s, want %s revision %s", i, e.Type, d.Revision, want[i][0], want[i][1])
		}
	}
	return from + len(evs)
}

var ref = scene.Ref{Project: "P", Episode: "1", Batch: "B1"}

func testScene(t *testing.T, prompt string) *scene.Scene {
	t.Helper()
	sc, err := scene.DecodeInput([]byte(`{"scene_id": "B1", "beats": [{"beat_id": "S1", "beat_metadata": {"plan_shot": {"shot_id": "S1", "prompt": "` + prompt + `"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (w *sceneWorld) approve(s *file.Scenes, version int, approved bool) scene.Loaded {
	w.t.Helper()
	v := "false"
	if approved {
		v = "true"
	}
	l, err := s.PatchStatus(context.Background(), ref, version, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": `+v+`}]`))
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// tick waits, bounded, until the file system's clock has moved past the
// modification time of path, so that a new file of the same bytes in a
// reused inode still has another stamp.
func tick(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "probe")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pi, err := os.Stat(probe)
		if err != nil {
			t.Fatal(err)
		}
		if pi.ModTime().After(fi.ModTime()) {
			return
		}
	}
	t.Fatal("the file system clock did not move in 5s")
}

// TestFollowScenesDerivesOtherWriters: versions and status saves written
// by a tool that announces nothing get their events once; a settle
// writer's own save is announced once whether it or the follower comes
// first; a save back to earlier bytes is a save of its own; a restarted
// follower appends nothing for what was announced and announces what was
// saved while none ran.
func TestFollowScenesDerivesOtherWriters(t *testing.T) {
	w := newSceneWorld(t)
	ctx := context.Background()
	f := w.follower()
	w.step(f)
	n := w.want(0)

	// Another tool's new batch and status save.
	if _, err := w.other.WriteCandidate(ctx, ref, testScene(t, "dusk"), "re-derive", false); err != nil {
		t.Fatal(err)
	}
	l1, err := w.other.Load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	w.step(f)
	n = w.want(n, [2]string{event.SceneVersionCreated, l1.Revision})
	a := w.approve(w.other, 1, true)
	w.step(f)
	n = w.want(n, [2]string{event.SceneStatusSaved, a.Revision})
	w.step(f)
	n = w.want(n)

	// A settle writer announcing its own save, before and after the
	// follower sees it.
	settleSave := func(approved bool, followerFirst bool) scene.Loaded {
		l := w.approve(w.other, 1, approved)
		if followerFirst {
			w.step(f)
		}
		d := SceneEvent(ref, l.Version, "settle-cli")
		d.Fingerprint, d.Via, d.Revision, d.Stamp = l.Fingerprint, "patch", l.Revision, l.Stamp
		if l.Stamp == "" {
			t.Fatal("a file store status write has no stamp")
		}
		appended, err := w.d.Scene(ctx, event.SceneStatusSaved, d)
		if err != nil {
			t.Fatal(err)
		}
		if appended == followerFirst {
			t.Fatalf("writer appended=%v with the follower first=%v", appended, followerFirst)
		}
		w.step(f)
		return l
	}
	tick(t, filepath.Join(w.root, "projects/P/orchestration/scenes/ep_001_B1.v001.json"))
	b := settleSave(false, false)
	n = w.want(n, [2]string{event.SceneStatusSaved, b.Revision})
	tick(t, filepath.Join(w.root, "projects/P/orchestration/scenes/ep_001_B1.v001.json"))
	c := settleSave(true, true)
	if c.Revision != a.Revision {
		t.Fatalf("approving again wrote other bytes: %s, %s", c.Revision, a.Revision)
	}
	n = w.want(n, [2]string{event.SceneStatusSaved, a.Revision})
	evs := w.sceneEvents()
	var last SceneEventData
	if err := json.Unmarshal(evs[len(evs)-1].Data, &last); err != nil || last.Principal != "" || last.Via != "" {
		t.Fatalf("the follower's event: %s %v", evs[len(evs)-1].Data, err)
	}

	// A restart: nothing again. Then saves while no follower runs: the
	// last is announced, once.
	f = w.follower()
	w.step(f)
	n = w.want(n)
	tick(t, filepath.Join(w.root, "projects/P/orchestration/scenes/ep_001_B1.v001.json"))
	d := w.approve(w.other, 1, false)
	if _, err := w.other.WriteCandidate(ctx, ref, testScene(t, "storm"), "re-derive", true); err != nil {
		t.Fatal(err)
	}
	l2, err := w.other.Load(ctx, ref)
	if err != nil || l2.Version != 2 {
		t.Fatalf("%+v %v", l2, err)
	}
	f = w.follower()
	w.step(f)
	got := w.sceneEvents()[n:]
	if len(got) != 2 {
		t.Fatalf("after a restart: %v", got)
	}
	var types = map[string]SceneEventData{}
	for _, e := range got {
		var sd SceneEventData
		if err := json.Unmarshal(e.Data, &sd); err != nil {
			t.Fatal(err)
		}
		types[e.Type] = sd
	}
	if vc := types[event.SceneVersionCreated]; vc.Version != 2 || vc.Revision != l2.Revision || !vc.Activated || vc.Reason != "re-derive" {
		t.Fatalf("version_created: %+v", vc)
	}
	if ss := types[event.SceneStatusSaved]; ss.Version != 1 || ss.Revision != d.Revision {
		t.Fatalf("status_saved: %+v", ss)
	}
	n += 2
	f = w.follower()
	w.step(f)
	w.step(f)
	w.want(n)
}

// TestFollowScenesLeavesWritesInProgress: a body of a batch that a settle
// writer of the same process is writing (SceneWriting) is left to that
// writer, whose event is the one appended, however late.
func TestFollowScenesLeavesWritesInProgress(t *testing.T) {
	w := newSceneWorld(t)
	ctx := context.Background()
	f := w.follower()
	done := w.d.SceneWriting(ref)
	v, err := w.other.WriteCandidate(ctx, ref, testScene(t, "dusk"), "re-derive", false)
	if err != nil {
		t.Fatal(err)
	}
	w.step(f)
	w.step(f)
	w.want(0)
	d := SceneEvent(ref, v, "alice")
	d.Revision = BodyRevision(testScene(t, "dusk"))
	if l, err := w.other.Load(ctx, ref); err != nil || l.Revision != d.Revision {
		t.Fatalf("BodyRevision %s, the stored body's %s (%v)", d.Revision, l.Revision, err)
	}
	created, err := w.d.Scene(ctx, event.SceneVersionCreated, d)
	if err != nil || !created {
		t.Fatalf("the writer's version_created: %v %v", created, err)
	}
	done()
	w.step(f)
	n := w.want(0, [2]string{event.SceneVersionCreated, d.Revision})
	var got SceneEventData
	if err := json.Unmarshal(w.sceneEvents()[0].Data, &got); err != nil || got.Principal != "alice" {
		t.Fatalf("version_created: %+v %v", got, err)
	}
	w.step(f)
	w.want(n)
}

// activations returns the versions of the log's scene.activated events,
// in order, and checks that no key is there twice.
func (w *sceneWorld) activations() []int {
	w.t.Helper()
	evs, err := w.events.Since(context.Background(), 0, 10000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []int
	keys := map[string]bool{}
	for _, e := range evs {
		if e.Key != "" && keys[e.Key] {
			w.t.Fatalf("event %s appended twice", e.Key)
		}
		keys[e.Key] = true
		if e.Type != event.SceneActivated {
			continue
		}
		var d SceneEventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			w.t.Fatal(err)
		}
		if d.Project != "P" || d.Episode != "ep_001" || d.Batch != "B1" {
			w.t.Fatalf("scene.activated of %+v", d)
		}
		out = append(out, d.Version)
	}
	return out
}

func (w *sceneWorld) wantActivations(want ...int) {
	w.t.Helper()
	got := w.activations()
	if len(got) != len(want) {
		w.t.Fatalf("scene.activated versions %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			w.t.Fatalf("scene.activated versions %v, want %v", got, want)
		}
	}
}

// tickManifest lets the clock move past B1's manifest, so that the next
// manifest of the same bytes in a reused inode has another stamp.
func (w *sceneWorld) tickManifest() {
	w.t.Helper()
	tick(w.t, filepath.Join(w.root, "projects", "P", "orchestration", "scenes", "ep_001_B1.versions.json"))
}

// settleActivate activates a version as a settle writer does: the
// manifest's stamp keys its event.
func (w *sceneWorld) settleActivate(version int) (appended bool) {
	w.t.Helper()
	stamp, err := w.other.ActivateStamped(context.Background(), ref, version, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	if stamp == "" {
		w.t.Fatal("no manifest stamp")
	}
	data := SceneEvent(ref, version, "op")
	data.Stamp = stamp
	appended, err = w.d.Scene(context.Background(), event.SceneActivated, data)
	if err != nil {
		w.t.Fatal(err)
	}
	return appended
}

// TestFollowScenesAnnouncesActivations: an activation written by a tool
// that announces nothing gets one scene.activated; a settle writer's own
// activation is announced once whether it or the follower comes first; a
// manifest write that moves no pointer (a new inactive version) is no
// activation; a restarted follower announces what was activated while
// none ran and nothing twice; a new version activated with its creation
// is announced after its scene.version_created.
func TestFollowScenesAnnouncesActivations(t *testing.T) {
	w := newSceneWorld(t)
	ctx := context.Background()
	f := w.follower()
	for i, p := range []string{"dusk", "storm"} {
		if _, err := w.other.WriteCandidate(ctx, ref, testScene(t, p), "re-derive", false); err != nil {
			t.Fatal(err, i)
		}
	}
	w.step(f)
	w.wantActivations() // v1 is active as created

	w.tickManifest()
	if err := w.other.Activate(ctx, ref, 2); err != nil {
		t.Fatal(err)
	}
	w.step(f)
	w.step(f)
	w.wantActivations(2)

	// A settle writer first, then the follower; the follower first, then
	// the writer.
	w.tickManifest()
	if !w.settleActivate(1) {
		t.Fatal("the writer's activation was not appended by it")
	}
	w.step(f)
	w.wantActivations(2, 1)
	w.tickManifest()
	stamp, err := w.other.ActivateStamped(ctx, ref, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.step(f)
	data := SceneEvent(ref, 2, "op")
	data.Stamp = stamp
	if appended, err := w.d.Scene(ctx, event.SceneActivated, data); err != nil || appended {
		t.Fatalf("the writer appended the activation the follower announced: %v %v", appended, err)
	}
	w.wantActivations(2, 1, 2)

	// A settle activation and another tool's, both before the follower
	// reads the manifest: the other's is announced too.
	w.tickManifest()
	w.settleActivate(1)
	w.tickManifest()
	if err := w.other.Activate(ctx, ref, 2); err != nil {
		t.Fatal(err)
	}
	w.step(f)
	w.wantActivations(2, 1, 2, 1, 2)

	// A new inactive version rewrites the manifest: no activation.
	if _, err := w.other.WriteCandidate(ctx, ref, testScene(t, "rain"), "re-derive", false); err != nil {
		t.Fatal(err)
	}
	w.step(f)
	w.wantActivations(2, 1, 2, 1, 2)

	// Restarted: nothing again; then what was activated while none ran.
	f = w.follower()
	w.step(f)
	w.wantActivations(2, 1, 2, 1, 2)
	w.tickManifest()
	if err := w.other.Activate(ctx, ref, 3); err != nil {
		t.Fatal(err)
	}
	f = w.follower()
	w.step(f)
	w.step(f)
	w.wantActivations(2, 1, 2, 1, 2, 3)

	// A candidate activated with its creation: created, then activated.
	if _, err := w.other.WriteCandidate(ctx, ref, testScene(t, "snow"), "re-derive", true); err != nil {
		t.Fatal(err)
	}
	w.step(f)
	w.wantActivations(2, 1, 2, 1, 2, 3, 4)
	evs, err := w.events.Since(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	last, prev := evs[len(evs)-1], evs[len(evs)-2]
	if last.Type != event.SceneActivated || prev.Type != event.SceneVersionCreated {
		t.Fatalf("a candidate activated with its creation: %s then %s", prev.Type, last.Type)
	}
}

// TestStatusSavedColdStart: a status save that creates its batch (the
// seed's cold start) announces its version's creation, then the save;
// the follower adds nothing. A save to an existing body announces the
// save alone.
func TestStatusSavedColdStart(t *testing.T) {
	w := newSceneWorld(t)
	ctx := context.Background()
	l, err := w.other.PatchStatus(ctx, ref, 1, []byte(`[{"op": "add", "path": "/beats/-", "value": {"beat_id": "S1"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Created {
		t.Fatal("a cold start is not reported as created")
	}
	save := func(l scene.Loaded) {
		t.Helper()
		data := SceneEvent(ref, l.Version, "op")
		data.Fingerprint, data.Via, data.Revision, data.Stamp = l.Fingerprint, "patch", l.Revision, l.Stamp
		if err := w.d.StatusSaved(ctx, data, l.Created); err != nil {
			t.Fatal(err)
		}
	}
	save(l)
	n := w.want(0, [2]string{event.SceneVersionCreated, l.Revision}, [2]string{event.SceneStatusSaved, l.Revision})
	w.step(w.follower())
	n = w.want(n)
	l2 := w.approve(w.other, 1, true)
	if l2.Created {
		t.Fatal("a save to an existing body is reported as created")
	}
	save(l2)
	w.want(n, [2]string{event.SceneStatusSaved, l2.Revision})
}
