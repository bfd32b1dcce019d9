package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

var followRef = scene.Ref{Project: "P", Episode: "1", Batch: "B1"}

func followScene(t *testing.T, batch, prompt string) *scene.Scene {
	t.Helper()
	sc, err := scene.DecodeInput([]byte(`{"scene_id": "` + batch + `", "beats": [{"beat_id": "S1", "beat_metadata": {"plan_shot": {"shot_id": "S1", "prompt": "` + prompt + `"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func approvePatch(v bool) []byte {
	return []byte(fmt.Sprintf(`[{"op": "replace", "path": "/beats/0/approved", "value": %v}]`, v))
}

// rowStamp reads a scene file's stamp from its row.
func rowStamp(t *testing.T, s *postgres.Store, name string) string {
	t.Helper()
	var st string
	if err := s.Pool().QueryRow(ctx, "SELECT stamp FROM scene_files WHERE project = 'P' AND name = $1", name).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPostgresSceneStamps: every write of a scene file returns the stamp
// it wrote, different for every write, also for two saves of the same
// bytes and for saves of one body gathered in one group transaction; a
// migration's copy has none.
func TestPostgresSceneStamps(t *testing.T) {
	s := openStore(t, "", storetest.Config())
	v, st1, err := s.WriteCandidateStamped(ctx, followRef, followScene(t, "B1", "a"), "first", false)
	if err != nil || v != 1 || st1 == "" {
		t.Fatalf("candidate: v%d stamp %q err %v", v, st1, err)
	}
	if got := rowStamp(t, s, "ep_001_B1.versions.json"); got != st1 {
		t.Fatalf("manifest row stamp %q, writer got %q", got, st1)
	}
	stamps := map[string]bool{st1: true}
	fresh := func(what, st string) {
		t.Helper()
		if st == "" || stamps[st] {
			t.Fatalf("%s: stamp %q is empty or not new (%v)", what, st, stamps)
		}
		stamps[st] = true
	}
	l1, err := s.PatchStatus(ctx, followRef, 1, approvePatch(true))
	if err != nil {
		t.Fatal(err)
	}
	fresh("save", l1.Stamp)
	if got := rowStamp(t, s, "ep_001_B1.v001.json"); got != l1.Stamp {
		t.Fatalf("body row stamp %q, writer got %q", got, l1.Stamp)
	}
	l2, err := s.PatchStatus(ctx, followRef, 1, approvePatch(true))
	if err != nil {
		t.Fatal(err)
	}
	if l2.Revision != l1.Revision {
		t.Fatalf("the same save changed the bytes: %s, %s", l1.Revision, l2.Revision)
	}
	fresh("save of the same bytes", l2.Stamp)
	l3, err := s.UpdateStatus(ctx, followRef, 1, func(sc *scene.Scene) error { sc.Beats[0].Approved = false; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh("update", l3.Stamp)
	l4, err := s.SaveRunner(ctx, followRef, 1, l3.Revision, l3.Scene)
	if err != nil {
		t.Fatal(err)
	}
	fresh("runner save", l4.Stamp)
	// A load returns the stamp of the body it read: a writer that loads
	// after its write (recover-stale) keys its event as the follower does.
	if ld, err := s.Load(ctx, followRef); err != nil || ld.Stamp != l4.Stamp {
		t.Fatalf("load: stamp %q err %v, want %q", ld.Stamp, err, l4.Stamp)
	}
	if ld, err := s.LoadVersion(ctx, followRef, 1); err != nil || ld.Stamp != l4.Stamp {
		t.Fatalf("load version: stamp %q err %v, want %q", ld.Stamp, err, l4.Stamp)
	}

	// Concurrent saves of one body, gathered into groups.
	const n = 16
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Go(func() {
			l, err := s.PatchStatus(ctx, followRef, 1, approvePatch(i%2 == 0))
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = l.Stamp
		})
	}
	wg.Wait()
	for i, st := range got {
		fresh(fmt.Sprintf("concurrent save %d", i), st)
	}
	if _, err := s.WriteCandidate(ctx, followRef, followScene(t, "B1", "b"), "second", false); err != nil {
		t.Fatal(err)
	}
	ast, err := s.ActivateStamped(ctx, followRef, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	fresh("activation", ast)
	if got := rowStamp(t, s, "ep_001_B1.versions.json"); got != ast {
		t.Fatalf("manifest row stamp %q, activation got %q", got, ast)
	}
	// A candidate equal to a registered version writes nothing: the
	// manifest's stamp is the one stored.
	if v, st, err := s.WriteCandidateStamped(ctx, followRef, followScene(t, "B1", "b"), "again", true); err != nil || v != 2 || st != ast {
		t.Fatalf("equal candidate: v%d stamp %q err %v, want v2 %q", v, st, err, ast)
	}
	if err := s.PutSceneFile(ctx, "P", "ep_001_B9.json", []byte(`{"scene_id": "B9", "beats": []}`)); err != nil {
		t.Fatal(err)
	}
	if got := rowStamp(t, s, "ep_001_B9.json"); got != "" {
		t.Fatalf("a migration's copy has stamp %q", got)
	}
}

// sceneEvents returns the log's scene events.
func sceneEvents(t *testing.T, s *postgres.Store) []event.Event {
	t.Helper()
	evs, err := s.Since(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for _, ev := range evs {
		switch ev.Type {
		case event.SceneVersionCreated, event.SceneStatusSaved, event.SceneActivated:
			out = append(out, ev)
		}
	}
	return out
}

// countEvents counts the scene events of a type by key.
func countEvents(t *testing.T, s *postgres.Store, typ string) (n int, keys map[string]int) {
	t.Helper()
	keys = map[string]int{}
	for _, ev := range sceneEvents(t, s) {
		if ev.Type == typ {
			n++
			keys[ev.Key]++
		}
	}
	return n, keys
}

// follower is a server's scene follower (derive.Deriver.FollowScenes over
// the store's SceneScanner).
type follower struct {
	d     *derive.Deriver
	scans chan struct{}
	stop  func()
}

// signalling reports every finished Scan of a SceneScanner.
type signalling struct {
	*postgres.SceneScanner
	scans chan struct{}
}

func (s signalling) Scan(ctx context.Context) ([]scene.BodyState, error) {
	out, err := s.SceneScanner.Scan(ctx)
	select {
	case s.scans <- struct{}{}:
	default:
	}
	return out, err
}

func startFollower(t *testing.T, s *postgres.Store) *follower {
	t.Helper()
	d, err := derive.New(derive.Options{Ledger: s, Events: s, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &follower{d: d, scans: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.FollowScenes(fctx, signalling{s.SceneScanner(), f.scans}, 5*time.Millisecond, nil)
	}()
	var once sync.Once
	f.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(f.stop)
	return f
}

// settled returns once every follower has derived what was committed
// before the call: a Scan that ended more than postgres.SceneGrace (and a
// margin) later, the step after it, which begins later still and derives
// what is due, and the Scan of the step after that, which begins when
// those derivations are done.
func settled(t *testing.T, fs ...*follower) {
	t.Helper()
	start := time.Now()
	deadline := time.After(30 * time.Second)
	for _, f := range fs {
		after := 0
		for after < 3 {
			select {
			case <-f.scans:
				if time.Since(start) > postgres.SceneGrace+200*time.Millisecond {
					after++
				}
			case <-deadline:
				t.Fatal("the followers did not scan within 30s")
			}
		}
	}
}

// writerEvent appends a save's event as a settle writer does after its
// commit (the server's handlers, the CLI).
func writerStatusSaved(t *testing.T, d *derive.Deriver, l scene.Loaded) {
	t.Helper()
	data := derive.SceneEvent(followRef, l.Version, "op")
	data.Fingerprint, data.Via, data.Revision, data.Stamp = l.Fingerprint, "patch", l.Revision, l.Stamp
	if err := d.StatusSaved(ctx, data, l.Created); err != nil {
		t.Fatal(err)
	}
}

func writerActivated(t *testing.T, d *derive.Deriver, version int, stamp string) {
	t.Helper()
	data := derive.SceneEvent(followRef, version, "op")
	data.Stamp = stamp
	if _, err := d.Scene(ctx, event.SceneActivated, data); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresSceneFollowDerivesLostEvents: a status save and an
// activation committed on PostgreSQL whose writer died before its event
// get their event from the followers of two servers on the database,
// once, keyed as the writer would have keyed it (so the writer's retry of
// the event appends nothing); a writer's own event and a follower's make
// one event in either order; a restarted follower appends nothing again.
func TestPostgresSceneFollowDerivesLostEvents(t *testing.T) {
	schema := newSchema(t)
	a := openStore(t, schema, storetest.Config())
	b := openStore(t, schema, storetest.Config())
	wd, err := derive.New(derive.Options{Ledger: a, Events: a, Logger: quiet(), Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Two versions, announced by their writer.
	for i, prompt := range []string{"a", "b"} {
		v, err := a.WriteCandidate(ctx, followRef, followScene(t, "B1", prompt), "r", false)
		if err != nil || v != i+1 {
			t.Fatalf("candidate %d: v%d %v", i, v, err)
		}
		d := derive.SceneEvent(followRef, v, "op")
		d.Fingerprint, d.Reason, d.Revision = scene.Fingerprint(followScene(t, "B1", prompt)), "r", derive.BodyRevision(followScene(t, "B1", prompt))
		if _, err := wd.Scene(ctx, event.SceneVersionCreated, d); err != nil {
			t.Fatal(err)
		}
	}
	// The writer of a save and of an activation dies after its commit,
	// before its event; no follower runs.
	lost, err := a.PatchStatus(ctx, followRef, 1, approvePatch(true))
	if err != nil {
		t.Fatal(err)
	}
	lostAct, err := a.ActivateStamped(ctx, followRef, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := countEvents(t, a, event.SceneStatusSaved); n != 0 {
		t.Fatalf("%d status_saved before any follower", n)
	}
	fa, fb := startFollower(t, a), startFollower(t, b)
	settled(t, fa, fb)
	saveData := derive.SceneEvent(followRef, 1, "")
	saveData.Revision, saveData.Stamp = lost.Revision, lost.Stamp
	actData := derive.SceneEvent(followRef, 2, "")
	actData.Stamp = lostAct
	check := func(when string, saves, acts int) {
		t.Helper()
		n, keys := countEvents(t, a, event.SceneStatusSaved)
		if n != saves || keys[derive.StatusSavedKey(saveData)] != 1 {
			t.Fatalf("%s: %d status_saved (want %d), by key %v; the lost save's key %s", when, n, saves, keys, derive.StatusSavedKey(saveData))
		}
		n, keys = countEvents(t, a, event.SceneActivated)
		if n != acts || keys[derive.ActivatedKey(actData)] != 1 {
			t.Fatalf("%s: %d activated (want %d), by key %v; the lost activation's key %s", when, n, acts, keys, derive.ActivatedKey(actData))
		}
		if n, _ := countEvents(t, a, event.SceneVersionCreated); n != 2 {
			t.Fatalf("%s: %d version_created, want 2", when, n)
		}
	}
	check("after two followers", 1, 1)
	for _, ev := range sceneEvents(t, a) {
		if ev.Type != event.SceneStatusSaved {
			continue
		}
		var d derive.SceneEventData
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Revision != lost.Revision || d.Version != 1 || d.Fingerprint != lost.Fingerprint {
			t.Fatalf("derived status_saved %s: %+v %v", ev.Data, d, err)
		}
	}
	// The writer's retry of its events appends nothing.
	writerStatusSaved(t, wd, lost)
	writerActivated(t, wd, 2, lostAct)
	check("after the writer's late events", 1, 1)

	// A live writer: its event first, then the followers'.
	l, err := a.PatchStatus(ctx, followRef, 2, approvePatch(true))
	if err != nil {
		t.Fatal(err)
	}
	writerStatusSaved(t, wd, l)
	st, err := a.ActivateStamped(ctx, followRef, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	writerActivated(t, wd, 1, st)
	settled(t, fa, fb)
	check("after a writer's own events", 2, 2)
	// A slow writer: the followers' first, then its own.
	l, err = b.PatchStatus(ctx, followRef, 1, approvePatch(false))
	if err != nil {
		t.Fatal(err)
	}
	st, err = b.ActivateStamped(ctx, followRef, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	settled(t, fa, fb)
	check("after the followers", 3, 3)
	writerStatusSaved(t, wd, l)
	writerActivated(t, wd, 2, st)
	check("after the slow writer", 3, 3)

	// A writer of another server slower than derive.SceneGrace but within
	// the scanner's grace: the event is its own, with its principal.
	l, err = b.PatchStatus(ctx, followRef, 2, approvePatch(false))
	if err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	for _, f := range []*follower{fa, fb} {
		for time.Since(committed) < 3*derive.SceneGrace {
			<-f.scans
		}
	}
	writerStatusSaved(t, wd, l)
	settled(t, fa, fb)
	check("after a writer slower than derive.SceneGrace", 4, 3)
	evs := sceneEvents(t, a)
	var last derive.SceneEventData
	if err := json.Unmarshal(evs[len(evs)-1].Data, &last); err != nil || last.Principal != "op" || last.Via != "patch" || last.Revision != l.Revision {
		t.Fatalf("the slow writer's save was announced as %s (%v)", evs[len(evs)-1].Data, err)
	}

	// Restarts: new followers on new stores find everything announced.
	fa.stop()
	fb.stop()
	c := openStore(t, schema, storetest.Config())
	fc, fd := startFollower(t, c), startFollower(t, openStore(t, schema, storetest.Config()))
	settled(t, fc, fd)
	check("after a restart", 4, 3)
}

// TestPostgresSceneScannerNeverSkips: a row whose transaction began
// before another's and commits after it, and after a Scan that saw the
// other's, is found by the next Scan; a row already reported is not
// reported again.
func TestPostgresSceneScannerNeverSkips(t *testing.T) {
	s := openStore(t, "", storetest.Config())
	r1 := scene.Ref{Project: "P", Episode: "1", Batch: "B1"}
	r2 := scene.Ref{Project: "P", Episode: "1", Batch: "B2"}
	for _, r := range []scene.Ref{r1, r2} {
		if _, err := s.WriteCandidate(ctx, r, followScene(t, r.Batch, "a"), "r", false); err != nil {
			t.Fatal(err)
		}
	}
	sc := s.SceneScanner()
	bodies, err := sc.Scan(ctx)
	if err != nil || len(bodies) != 2 {
		t.Fatalf("first scan: %v %v", bodies, err)
	}
	if ms := sc.Manifests(); len(ms) != 2 {
		t.Fatalf("first scan manifests: %v", ms)
	}
	in, release := make(chan struct{}), make(chan struct{})
	var slow scene.Loaded
	done := make(chan error, 1)
	go func() {
		var err error
		slow, err = s.UpdateStatus(ctx, r1, 1, func(sc *scene.Scene) error { sc.Beats[0].Approved = true; return nil },
			func(*scene.Scene) error { close(in); <-release; return nil })
		done <- err
	}()
	<-in // r1's body is written, not committed
	fast, err := s.PatchStatus(ctx, r2, 1, approvePatch(true))
	if err != nil {
		t.Fatal(err)
	}
	bodies, err = sc.Scan(ctx)
	if err != nil || len(bodies) != 1 || bodies[0].Ref.Batch != "B2" || bodies[0].Stamp != fast.Stamp || bodies[0].Revision != fast.Revision {
		t.Fatalf("scan with r1 in progress: %+v %v (want B2 %s)", bodies, err, fast.Stamp)
	}
	if ms := sc.Manifests(); len(ms) != 0 {
		t.Fatalf("no manifest changed, got %v", ms)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bodies, err = sc.Scan(ctx)
	if err != nil || len(bodies) != 1 || bodies[0].Ref.Batch != "B1" || bodies[0].Stamp != slow.Stamp || bodies[0].Version != 1 || !bodies[0].Active {
		t.Fatalf("scan after r1's commit: %+v %v (want B1 %s)", bodies, err, slow.Stamp)
	}
	if bodies, err := sc.Scan(ctx); err != nil || len(bodies) != 0 {
		t.Fatalf("scan with nothing new: %+v %v", bodies, err)
	}
	st, err := s.ActivateStamped(ctx, r2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bodies, err := sc.Scan(ctx); err != nil || len(bodies) != 0 {
		t.Fatalf("scan after an activation: %+v %v", bodies, err)
	}
	if ms := sc.Manifests(); len(ms) != 1 || ms[0].Ref.Batch != "B2" || ms[0].Stamp != st || ms[0].Active != 1 {
		t.Fatalf("manifests after an activation: %+v (want B2 %s)", ms, st)
	}
}

// TestPostgresSceneFollowLeavesUnstampedRows: rows without a stamp
// (written before stamps, whose writers announced their events unkeyed,
// or copied in by a migration) give a follower no save and no activation
// to announce, at any restart; a version without its
// scene.version_created still gets it, once.
func TestPostgresSceneFollowLeavesUnstampedRows(t *testing.T) {
	schema := newSchema(t)
	s := openStore(t, schema, storetest.Config())
	for _, prompt := range []string{"a", "b"} {
		if _, err := s.WriteCandidate(ctx, followRef, followScene(t, "B1", prompt), "r", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PatchStatus(ctx, followRef, 1, approvePatch(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivateStamped(ctx, followRef, 2, 1); err != nil {
		t.Fatal(err)
	}
	// The rows as migration 0004 leaves the rows of an older schema.
	if _, err := s.Pool().Exec(ctx, "UPDATE scene_files SET stamp = ''"); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		f := startFollower(t, openStore(t, schema, storetest.Config()))
		settled(t, f)
		f.stop()
		if n, keys := countEvents(t, s, event.SceneVersionCreated); n != 2 || len(keys) != 2 {
			t.Fatalf("round %d: %d version_created (%v), want one for each version", round, n, keys)
		}
		if n, _ := countEvents(t, s, event.SceneStatusSaved); n != 0 {
			t.Fatalf("round %d: %d status_saved derived from unstamped rows", round, n)
		}
		if n, _ := countEvents(t, s, event.SceneActivated); n != 0 {
			t.Fatalf("round %d: %d activated derived from an unstamped manifest", round, n)
		}
	}
}

// BenchmarkPostgresSceneScan: one follower Scan of 200 batches, with
// nothing changed since the last ("idle") and with one body saved since
// ("one save", the save outside the timer).
func BenchmarkPostgresSceneScan(b *testing.B) {
	s := openStore(b, "", storetest.Config())
	const batches = 200
	for i := range batches {
		batch := fmt.Sprintf("B%d", i)
		sc, err := scene.DecodeInput([]byte(`{"scene_id": "` + batch + `", "beats": [{"beat_id": "S1"}]}`))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.WriteCandidate(ctx, storetest.Ref(batch), sc, "r", false); err != nil {
			b.Fatal(err)
		}
	}
	sc := s.SceneScanner()
	if bodies, err := sc.Scan(ctx); err != nil || len(bodies) != batches {
		b.Fatalf("first scan: %d bodies, %v", len(bodies), err)
	}
	b.Run("idle", func(b *testing.B) {
		for b.Loop() {
			if bodies, err := sc.Scan(ctx); err != nil || len(bodies) != 0 {
				b.Fatalf("%d bodies, %v", len(bodies), err)
			}
		}
	})
	b.Run("one save", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			if _, err := s.PatchStatus(ctx, storetest.Ref(fmt.Sprintf("B%d", i%batches)), 1, approvePatch(i%2 == 0)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if bodies, err := sc.Scan(ctx); err != nil || len(bodies) != 1 {
				b.Fatalf("%d bodies, %v", len(bodies), err)
			}
		}
	})
}
