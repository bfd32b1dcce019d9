package storetest

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// RaceSeedEnv names the environment variable that replays RunnerSaveRace
// with a logged seed.
const RaceSeedEnv = "SETTLE_RUNNER_RACE_SEED"

// RunnerSaveRace saves takes from one base body concurrently, rounds
// times, and checks that no acknowledged take is lost. Each round creates
// a batch, loads it once, and starts two to four runners and sometimes a
// JSON Patch writer at one barrier. Every runner adds its own take to the
// base's scene and saves it with the base's version and revision; on
// VERSION_CONFLICT it loads the latest body and tries again. The patch
// writer adds a take by an "add" patch at the version alone (it merges).
// Afterwards every acknowledged take is in the body exactly once, and at
// most one runner succeeded with the shared base (a second would have
// replaced the first's takes). The stores (one or more on one backend)
// are picked at random per writer; the seed is logged and RaceSeedEnv
// replays it.
func RunnerSaveRace(t *testing.T, stores []scene.Store, rounds int) {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv(RaceSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", RaceSeedEnv, v, err)
		}
	}
	t.Logf("seed %d (replay: %s=%d)", seed, RaceSeedEnv, seed)
	rng := rand.New(rand.NewSource(seed))
	for round := 0; round < rounds; round++ {
		raceRound(t, stores, rng, round)
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}
}

// raceWriter is one writer of a round, chosen before the barrier (the
// rng is not shared with the goroutines).
type raceWriter struct {
	store  scene.Store
	beat   int
	takeID string
	patch  bool
}

func raceRound(t *testing.T, stores []scene.Store, rng *rand.Rand, round int) {
	batch := fmt.Sprintf("RACE_%03d", round)
	ref := Ref(batch)
	_, err := stores[0].SaveRunner(bg, ref, 1, "", Hydrate(t, GenTree(rng, batch, 1+rng.Intn(3))))
	OK(t, err)
	base, err := stores[rng.Intn(len(stores))].Load(bg, ref)
	OK(t, err)

	var writers []raceWriter
	for i, n := 0, 2+rng.Intn(3); i < n; i++ {
		writers = append(writers, raceWriter{store: stores[rng.Intn(len(stores))], beat: rng.Intn(len(base.Scene.Beats)), takeID: fmt.Sprintf("runner_%d", i)})
	}
	if rng.Intn(2) == 0 {
		writers = append(writers, raceWriter{store: stores[rng.Intn(len(stores))], beat: rng.Intn(len(base.Scene.Beats)), takeID: "patched", patch: true})
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	var fromBase atomic.Int32
	errs := make(chan error, len(writers))
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := w.run(ref, base, &fromBase); err != nil {
				errs <- fmt.Errorf("round %d %s: %w", round, w.takeID, err)
				return
			}
			mu.Lock()
			acked = append(acked, w.takeID)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := fromBase.Load(); n > 1 {
		t.Errorf("round %d: %d runner saves succeeded from one base body", round, n)
	}
	final, err := stores[0].Load(bg, ref)
	OK(t, err)
	seen := map[string]int{}
	for _, b := range final.Scene.Beats {
		for _, tk := range b.Takes {
			seen[tk.TakeID]++
		}
	}
	for _, id := range acked {
		if seen[id] != 1 {
			t.Errorf("round %d: acknowledged take %s is in the body %d times", round, id, seen[id])
		}
	}
}

// run saves the writer's take and returns once it is acknowledged.
func (w raceWriter) run(ref scene.Ref, base scene.Loaded, fromBase *atomic.Int32) error {
	if w.patch {
		p := fmt.Sprintf(`[{"op": "add", "path": "/beats/%d/takes/-", "value": {"take_id": %q, "status": "succeeded"}}]`, w.beat, w.takeID)
		_, err := w.store.PatchStatus(bg, ref, base.Version, []byte(p))
		return err
	}
	ld := base
	for attempt := 0; attempt < 1000; attempt++ {
		sc := ld.Scene.Clone()
		b := sc.Beats[w.beat]
		b.Takes = append(b.Takes, &scene.Take{TakeID: w.takeID, Status: scene.TakeRunning})
		_, err := w.store.SaveRunner(bg, ref, ld.Version, ld.Revision, sc)
		if err == nil {
			if attempt == 0 {
				fromBase.Add(1)
			}
			return nil
		}
		if settle.ErrorCode(err) != settle.VersionConflict {
			return err
		}
		if ld, err = w.store.Load(bg, ref); err != nil {
			return err
		}
	}
	return fmt.Errorf("no save in 1000 attempts")
}

// scRunnerRace is RunnerSaveRace on the suite's store.
func scRunnerRace(f *fixture) {
	RunnerSaveRace(f.t, []scene.Store{f.s}, 200)
}

// scNoCreate: a status write or runner save under Cond.NoCreate refuses a
// batch without a scene with NOT_FOUND and writes nothing, whatever it
// carries; it writes an existing batch as usual.
func scNoCreate(f *fixture) {
	t, s := f.t, f.s
	cw, isCond := s.(scene.CondWriter)
	if !isCond {
		t.Skip("the store has no CondWriter")
	}
	f.flat("B")
	before := snapshot(t, s, "B", "NEW")
	anyStructure := `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_000"}}]`
	for _, v := range []int{1, 2} {
		_, err := cw.PatchStatusIf(bg, Ref("NEW"), scene.Cond{Version: v, AnyRevision: true, NoCreate: true}, []byte(anyStructure))
		if settle.ErrorCode(err) != settle.NotFound {
			t.Fatalf("patch of a missing batch at v%d: %v", v, err)
		}
		_, err = cw.PatchStatusIf(bg, Ref("NEW"), scene.Cond{Version: v, AnyRevision: true, NoCreate: true},
			[]byte(`[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "running"}]`))
		if settle.ErrorCode(err) != settle.NotFound {
			t.Fatalf("failing patch of a missing batch at v%d: %v", v, err)
		}
		_, err = cw.SaveRunnerIf(bg, Ref("NEW"), scene.Cond{Version: v, NoCreate: true}, f.scene("NEW"))
		if settle.ErrorCode(err) != settle.NotFound {
			t.Fatalf("runner save of a missing batch at v%d: %v", v, err)
		}
	}
	SameSnapshot(t, before, snapshot(t, s, "B", "NEW"))
	if _, err := s.Load(bg, Ref("NEW")); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("load NEW: %v", err)
	}

	ld, err := cw.PatchStatusIf(bg, Ref("B"), scene.Cond{Version: 1, AnyRevision: true, NoCreate: true}, []byte(`[{"op": "add", "path": "/scene_metadata/k", "value": 1}]`))
	OK(t, err)
	runner := ld.Scene.Clone()
	runner.Beats[0].Takes = append(runner.Beats[0].Takes, &scene.Take{TakeID: "mine", Status: scene.TakeRunning})
	saved, err := cw.SaveRunnerIf(bg, Ref("B"), scene.Cond{Version: 1, Revision: ld.Revision, NoCreate: true}, runner)
	OK(t, err)
	if saved.Revision == ld.Revision || saved.Revision != f.revision("B") {
		t.Fatalf("runner save returned revision %s (before %s, stored %s)", saved.Revision, ld.Revision, f.revision("B"))
	}
	// A patch held to a body that moved is refused.
	_, err = cw.PatchStatusIf(bg, Ref("B"), scene.Cond{Version: 1, Revision: ld.Revision}, []byte(`[]`))
	if settle.ErrorCode(err) != settle.VersionConflict {
		t.Fatalf("patch at a stale revision: %v", err)
	}
}
