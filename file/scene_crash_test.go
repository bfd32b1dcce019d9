package file_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scCheckCrashInvariants checks the scenes directory after a writer died:
// every body and manifest is whole, valid JSON with schema_version 1 (the
// decoders check both), every registered version's body exists and carries
// the batch's identity, the active pointer names a registered version, the
// store opens and loads, and List never shows a temporary file. It returns
// the number of leftover temporary files.
func scCheckCrashInvariants(t *testing.T, root, batch string) int {
	t.Helper()
	entries, err := os.ReadDir(scDir(root))
	storetest.OK(t, err)
	tmps := 0
	var manifest *scene.Manifest
	for _, e := range entries {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(scDir(root), name))
		storetest.OK(t, err)
		switch {
		case strings.Contains(name, durable.TmpMarker):
			tmps++
		case strings.HasSuffix(name, ".versions.lock"):
			if len(data) != 0 {
				t.Errorf("lock file has content")
			}
		case strings.HasSuffix(name, ".versions.json"):
			if manifest, err = scene.DecodeManifest(data, batch); err != nil {
				t.Fatalf("manifest %s after a crash: %v\n%s", name, err, data)
			}
		case strings.HasSuffix(name, ".json"):
			sc, err := scene.DecodeBody(data)
			if err != nil {
				t.Fatalf("body %s after a crash: %v\n%s", name, err, data)
			}
			if sc.SceneID != batch {
				t.Fatalf("body %s carries scene_id %q", name, sc.SceneID)
			}
		default:
			t.Errorf("unexpected file %s", name)
		}
	}
	if manifest != nil {
		if _, err := manifest.Entry(manifest.ActiveVersion); err != nil {
			t.Fatalf("active pointer: %v", err)
		}
		for _, e := range manifest.Versions {
			if _, err := os.Stat(filepath.Join(scDir(root), e.Artifact)); err != nil {
				t.Fatalf("registered v%d body %s missing: %v", e.Version, e.Artifact, err)
			}
		}
	}
	s := scOpen(t, root)
	if _, err := s.Load(scCtx, storetest.Ref(batch)); err != nil {
		t.Fatalf("load after a crash: %v", err)
	}
	if _, err := s.Versions(scCtx, storetest.Ref(batch)); err != nil {
		t.Fatalf("versions after a crash: %v", err)
	}
	names, err := s.List(scCtx, storetest.Project, storetest.Episode)
	storetest.OK(t, err)
	for _, n := range names {
		if strings.Contains(n, ".tmp") || n != storetest.Token+"_"+batch+".json" {
			t.Fatalf("List shows %s", n)
		}
	}
	return tmps
}

// scCrashRounds is SETTLE_CRASH_ROUNDS, or 200 (40 in -short).
func scCrashRounds(t *testing.T) int {
	t.Helper()
	if testing.Short() {
		return testenv.Count(t, "SETTLE_CRASH_ROUNDS", 40)
	}
	return testenv.Count(t, "SETTLE_CRASH_ROUNDS", 200)
}

// scCrashStart checks the seed reference up front (the rounds take a
// while), and saves a generated scene of batch, from the test's seed, on a
// new root; it returns the root, its store and the seed.
func scCrashStart(t *testing.T, batch string) (string, *file.Scenes, int64) {
	t.Helper()
	scReferenceUpFront(t)
	root := t.TempDir()
	s := scOpen(t, root)
	seed := testenv.Seed(t)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref(batch), scGen(t, rand.New(rand.NewSource(seed)), batch, 3)))
	return root, s, seed
}

// TestScenesCrashRandomKill SIGKILLs a child doing candidate writes,
// activations and status saves at random moments, and checks the
// invariants after each kill. SETTLE_CRASH_ROUNDS raises the round count.
func TestScenesCrashRandomKill(t *testing.T) {
	root, s, seed := scCrashStart(t, "CR")
	rng := rand.New(rand.NewSource(seed + 1))
	rounds := scCrashRounds(t)
	tmps := 0
	for r := 0; r < rounds; r++ {
		cmd := scChild(t, "crash", "SETTLE_SCENE_ROOT="+root, "SETTLE_SCENE_BATCH=CR", fmt.Sprintf("SETTLE_SCENE_SEED=%d", seed+2+int64(r)))
		stdout, err := cmd.StdoutPipe()
		storetest.OK(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		storetest.OK(t, cmd.Start())
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child not ready (%q, %v): %s", r, line, err, stderr.String())
		}
		time.Sleep(time.Duration(rng.Intn(25000)) * time.Microsecond)
		storetest.OK(t, cmd.Process.Signal(syscall.SIGKILL))
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended on its own (%v): %s", r, err, stderr.String())
		}
		tmps = scCheckCrashInvariants(t, root, "CR")
		if t.Failed() {
			t.Fatalf("round %d broke an invariant", r)
		}
	}
	vs, err := s.Versions(scCtx, storetest.Ref("CR"))
	storetest.OK(t, err)
	t.Logf("%d kills, %d versions, %d leftover tmp files", rounds, len(vs), tmps)
	scSeedReadsAfterCrash(t, root, "CR")
}

// TestScenesCrashAtFailpoints kills a child at each durable failpoint
// (SETTLE_FAILPOINT makes durable exit 137 there) during its first write,
// for each kind of write, and checks the invariants after each.
func TestScenesCrashAtFailpoints(t *testing.T) {
	root, _, seed := scCrashStart(t, "FP")
	for _, step := range []string{"tmp-created", "before-fsync", "before-rename", "before-dir-fsync"} {
		for _, op := range []string{"candidate", "activate", "patch", "runner", "update"} {
			seed++
			cmd := scChild(t, "crash", "SETTLE_SCENE_ROOT="+root, "SETTLE_SCENE_BATCH=FP",
				fmt.Sprintf("SETTLE_SCENE_SEED=%d", seed), "SETTLE_SCENE_FIRST_OP="+op, "SETTLE_FAILPOINT="+step)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 137 {
				t.Fatalf("%s at %s: child did not stop at the failpoint (%v): %s", op, step, err, out)
			}
			scCheckCrashInvariants(t, root, "FP")
			if t.Failed() {
				t.Fatalf("%s at %s broke an invariant", op, step)
			}
		}
	}
	scSeedReadsAfterCrash(t, root, "FP")
}

// scReferenceUpFront fails a crash test at once when its final read-back
// needs a required reference that is missing.
func scReferenceUpFront(t *testing.T) {
	t.Helper()
	testenv.Reference(t, scReferenceMarker)
}

// scSeedReadsAfterCrash: the seed loads and lists what the crashes left.
func scSeedReadsAfterCrash(t *testing.T, root, batch string) {
	t.Helper()
	if _, ok := testenv.Reference(t, scReferenceMarker); !ok {
		t.Run("seed reads what the crashes left", func(t *testing.T) { scReferenceDir(t) })
		return
	}
	s := scOpen(t, root)
	ld, err := s.Load(scCtx, storetest.Ref(batch))
	storetest.OK(t, err)
	res := scRunSeed(t, root, []map[string]any{scOp("load", batch), {"op": "list", "project": storetest.Project, "episode": storetest.Episode}})
	scCheckSeedLoad(t, res[0], ld, "seed load after crashes")
	if got := string(res[1]["names"]); got != `["`+storetest.Token+`_`+batch+`.json"]` {
		t.Errorf("seed lists %s", got)
	}
}
