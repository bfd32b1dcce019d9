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
