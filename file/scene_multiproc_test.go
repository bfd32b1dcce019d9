package file_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/storetest"
)

// scMPCount is SETTLE_SCENE_MP_N, or 25 (8 in -short).
func scMPCount(t *testing.T) int {
	t.Helper()
	if testing.Short() {
		return testenv.Count(t, "SETTLE_SCENE_MP_N", 8)
	}
	return testenv.Count(t, "SETTLE_SCENE_MP_N", 25)
}

// scRunWorkers starts workers counter children on batch and returns their
// reports once all have exited.
func scRunWorkers(t *testing.T, root, batch string, workers, n int, shared bool, also ...*exec.Cmd) []scCounterReport {
	t.Helper()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for w := 0; w < workers; w++ {
		sh := "0"
		if shared {
			sh = "1"
		}
		cmd := scChild(t, "counter", "SETTLE_SCENE_ROOT="+root, "SETTLE_SCENE_BATCH="+batch,
			fmt.Sprintf("SETTLE_SCENE_WORKER=%d", w), fmt.Sprintf("SETTLE_SCENE_N=%d", n), "SETTLE_SCENE_SHARED="+sh)
		out := &bytes.Buffer{}
		cmd.Stdout = out
		cmd.Stderr = os.Stderr
		cmds = append(cmds, cmd)
		outs = append(outs, out)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	var reps []scCounterReport
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, outs[i])
		}
		var rep scCounterReport
		if err := json.Unmarshal(outs[i].Bytes(), &rep); err != nil {
			t.Fatalf("worker %d report %q: %v", i, outs[i], err)
		}
		if rep.BadRefuse != "" {
			t.Errorf("worker %d got a refusal other than VERSION_CONFLICT: %s", i, rep.BadRefuse)
		}
		if rep.Done != n {
			t.Errorf("worker %d finished %d of %d increments in %d attempts", i, rep.Done, n, rep.Attempts)
		}
		reps = append(reps, rep)
	}
	return reps
}

func scIntOf(t *testing.T, md interface{ Get(string) (any, bool) }, key string) int {
	t.Helper()
	v, ok := md.Get(key)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		t.Fatalf("%s = %v", key, v)
	}
	return n
}

// TestScenesMultiProcessNoLostUpdate: four processes Load + PatchStatus
// (with the loaded version) on one batch, each incrementing its own
// counter and test-and-setting a shared one; no activations. Every
// increment must survive: counter_i == N and shared == 4N.
func TestScenesMultiProcessNoLostUpdate(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	tree := scGenTree(rand.New(rand.NewSource(30)), "MP", 4)
	md, _ := tree.GetObject("scene_metadata")
	md.Set("shared", pyjson.Int("0"))
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("MP"), storetest.Hydrate(t, tree)))

	const workers = 4
	n := scMPCount(t)
	reps := scRunWorkers(t, root, "MP", workers, n, true)
	ld, err := s.Load(scCtx, storetest.Ref("MP"))
	storetest.OK(t, err)
	for w := 0; w < workers; w++ {
		if got := scIntOf(t, ld.Scene.SceneMetadata, fmt.Sprintf("counter_%d", w)); got != n {
			t.Errorf("counter_%d = %d, want %d (lost update)", w, got, n)
		}
	}
	if got := scIntOf(t, ld.Scene.SceneMetadata, "shared"); got != workers*n {
		t.Errorf("shared = %d, want %d (lost update)", got, workers*n)
	}
	retries := 0
	for _, r := range reps {
		retries += r.Attempts - r.Done
	}
	t.Logf("%d workers x %d increments, %d retried attempts", workers, n, retries)
}

// TestScenesMultiProcessActivations: four counter processes race an
// activator that creates and activates versions. Every refusal a worker
// sees must be VERSION_CONFLICT, and each worker's increments, summed over
// every registered version body, must equal N (a status write lands only
// in the version it was loaded from, and never twice).
func TestScenesMultiProcessActivations(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	seed := testenv.Seed(t)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("MA"), scGen(t, rand.New(rand.NewSource(seed)), "MA", 3)))
	stop := filepath.Join(t.TempDir(), "stop")
	act := scChild(t, "activator", "SETTLE_SCENE_ROOT="+root, "SETTLE_SCENE_BATCH=MA", "SETTLE_SCENE_STOP="+stop,
		fmt.Sprintf("SETTLE_SCENE_SEED=%d", seed+1))
	actOut := &bytes.Buffer{}
	act.Stdout, act.Stderr = actOut, os.Stderr
	if err := act.Start(); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	n := scMPCount(t)
	reps := scRunWorkers(t, root, "MA", workers, n, false)
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := act.Wait(); err != nil {
		t.Fatalf("activator: %v", err)
	}

	vs, err := s.Versions(scCtx, storetest.Ref("MA"))
	storetest.OK(t, err)
	sums := make([]int, workers)
	for _, v := range vs {
		ld, err := s.LoadVersion(scCtx, storetest.Ref("MA"), v.Version)
		storetest.OK(t, err)
		for w := range sums {
			sums[w] += scIntOf(t, ld.Scene.SceneMetadata, fmt.Sprintf("counter_%d", w))
		}
	}
	conflicts := 0
	for w, r := range reps {
		if sums[w] != n {
			t.Errorf("worker %d: %d increments over all versions, want %d", w, sums[w], n)
		}
		for code, k := range r.Refusals {
			if code != "VERSION_CONFLICT" {
				t.Errorf("worker %d refused with %s x%d", w, code, k)
			}
			conflicts += k
		}
	}
	t.Logf("activator %s; %d versions; %d version conflicts retried", bytes.TrimSpace(actOut.Bytes()), len(vs), conflicts)
	if len(vs) < 2 {
		t.Errorf("the activator created no version")
	}
}
