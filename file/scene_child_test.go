package file_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// Child processes of the multi-process and crash tests are this test
// binary re-executed with -test.run=^TestSceneChild$ and the role in
// SETTLE_SCENE_CHILD. Without it the test does nothing.
const scChildEnv = "SETTLE_SCENE_CHILD"

// scChild starts the test binary as a child with the role and environment.
func scChild(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSceneChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), scChildEnv+"="+role)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func TestSceneChild(t *testing.T) {
	role := os.Getenv(scChildEnv)
	if role == "" {
		t.Skip("child process entry point (runs only when re-executed by another test)")
	}
	var err error
	switch role {
	case "counter":
		err = scChildCounter()
	case "activator":
		err = scChildActivator()
	case "crash":
		err = scChildCrash()
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child error:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func scChildStore() (*file.Scenes, error) {
	return file.OpenScenes(file.SceneOptions{Root: os.Getenv("SETTLE_SCENE_ROOT"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func scEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// scCounterReport is what a counter child prints on stdout.
type scCounterReport struct {
	Worker    int            `json:"worker"`
	Done      int            `json:"done"`
	Attempts  int            `json:"attempts"`
	Refusals  map[string]int `json:"refusals"`
	BadRefuse string         `json:"bad_refusal,omitempty"`
}

// scChildCounter increments scene_metadata.counter_<worker> N times by
// Load + PatchStatus(expected = the loaded version), retrying refusals.
// With SETTLE_SCENE_SHARED=1 each patch also test-and-sets the shared
// counter (a failed test is INVALID_INPUT and retried). Any other refusal
// than VERSION_CONFLICT (or, with the shared counter, a failed test) ends
// the child with a report naming it.
func scChildCounter() error {
	s, err := scChildStore()
	if err != nil {
		return err
	}
	ref := scene.Ref{Project: storetest.Project, Episode: storetest.Episode, Batch: os.Getenv("SETTLE_SCENE_BATCH")}
	w, n := scEnvInt("SETTLE_SCENE_WORKER", 0), scEnvInt("SETTLE_SCENE_N", 10)
	shared := os.Getenv("SETTLE_SCENE_SHARED") == "1"
	key := fmt.Sprintf("counter_%d", w)
	rep := scCounterReport{Worker: w, Refusals: map[string]int{}}
	for rep.Done < n && rep.Attempts < 100*n {
		rep.Attempts++
		ld, err := s.Load(scCtx, ref)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		own := 0
		if v, ok := ld.Scene.SceneMetadata.Get(key); ok {
			own, _ = strconv.Atoi(fmt.Sprint(v))
		}
		patch := fmt.Sprintf(`[{"op": "add", "path": "/scene_metadata/%s", "value": %d}]`, key, own+1)
		if shared {
			sv, _ := ld.Scene.SceneMetadata.Get("shared")
			c, _ := strconv.Atoi(fmt.Sprint(sv))
			patch = fmt.Sprintf(`[{"op": "test", "path": "/scene_metadata/shared", "value": %d},
				{"op": "replace", "path": "/scene_metadata/shared", "value": %d},
				{"op": "add", "path": "/scene_metadata/%s", "value": %d}]`, c, c+1, key, own+1)
		}
		_, err = s.PatchStatus(scCtx, ref, ld.Version, []byte(patch))
		code := settle.ErrorCode(err)
		switch {
		case err == nil:
			rep.Done++
		case code == settle.VersionConflict, shared && code == settle.InvalidInput:
			rep.Refusals[string(code)]++
		default:
			rep.Refusals[string(code)]++
			rep.BadRefuse = err.Error()
			return json.NewEncoder(os.Stdout).Encode(rep)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// scStripCounters removes the workers' counters from a scene.
func scStripCounters(sc *scene.Scene) {
	for _, k := range append([]string(nil), sc.SceneMetadata.Keys()...) {
		if len(k) > 8 && k[:8] == "counter_" {
			sc.SceneMetadata.Delete(k)
		}
	}
}

// scChildActivator moves the active version until SETTLE_SCENE_STOP
// exists: new candidates (activated) and activations of registered
// versions. It prints how many of each it made.
func scChildActivator() error {
	s, err := scChildStore()
	if err != nil {
		return err
	}
	ref := scene.Ref{Project: storetest.Project, Episode: storetest.Episode, Batch: os.Getenv("SETTLE_SCENE_BATCH")}
	stop := os.Getenv("SETTLE_SCENE_STOP")
	seed, _ := strconv.ParseInt(os.Getenv("SETTLE_SCENE_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	created, activated := 0, 0
	for k := 0; ; k++ {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		if k%3 == 0 {
			ld, err := s.Load(scCtx, ref)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			c := ld.Scene.Clone()
			scStripCounters(c)
			c.Beats[0].BeatMetadata.Set("prompt_directive", fmt.Sprintf("activator %d", k))
			if _, err := s.WriteCandidate(scCtx, ref, c, "activator", true); err != nil {
				return fmt.Errorf("candidate: %w", err)
			}
			created++
		} else {
			vs, err := s.Versions(scCtx, ref)
			if err != nil {
				return fmt.Errorf("versions: %w", err)
			}
			if err := s.Activate(scCtx, ref, vs[rng.Intn(len(vs))].Version); err != nil {
				return fmt.Errorf("activate: %w", err)
			}
			activated++
		}
		time.Sleep(time.Duration(2+rng.Intn(6)) * time.Millisecond)
	}
	fmt.Printf(`{"created": %d, "activated": %d}`+"\n", created, activated)
	return nil
}

// scChildCrash performs candidate writes, activations, status patches,
// runner saves and closure status writes on one batch in a loop until it
// is killed. SETTLE_SCENE_FIRST_OP picks the first operation (for the
// failpoint rounds). It prints "ready" once the store is open.
func scChildCrash() error {
	s, err := scChildStore()
	if err != nil {
		return err
	}
	ref := scene.Ref{Project: storetest.Project, Episode: storetest.Episode, Batch: os.Getenv("SETTLE_SCENE_BATCH")}
	seed, _ := strconv.ParseInt(os.Getenv("SETTLE_SCENE_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	fmt.Println("ready")
	ops := []string{"candidate", "activate", "patch", "runner", "update"}
	first := os.Getenv("SETTLE_SCENE_FIRST_OP")
	for k := 0; ; k++ {
		op := ops[rng.Intn(len(ops))]
		if k == 0 && first != "" {
			op = first
		}
		ld, err := s.Load(scCtx, ref)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		switch op {
		case "candidate":
			c := ld.Scene.Clone()
			c.Beats[0].BeatMetadata.Set("prompt_directive", fmt.Sprintf("crash %d", rng.Intn(20)))
			_, err = s.WriteCandidate(scCtx, ref, c, fmt.Sprintf("crash-%d", k), rng.Intn(2) == 0)
		case "activate":
			var vs []scene.VersionInfo
			if vs, err = s.Versions(scCtx, ref); err == nil {
				err = s.Activate(scCtx, ref, vs[rng.Intn(len(vs))].Version)
			}
		case "patch":
			patch := fmt.Sprintf(`[{"op": "replace", "path": "/beats/%d/approved", "value": %v},
				{"op": "add", "path": "/scene_metadata/k", "value": %d}]`, rng.Intn(len(ld.Scene.Beats)), rng.Intn(2) == 0, k)
			_, err = s.PatchStatus(scCtx, ref, ld.Version, []byte(patch))
		case "runner":
			r := ld.Scene.Clone()
			b := r.Beats[rng.Intn(len(r.Beats))]
			b.Takes = append(b.Takes, &scene.Take{TakeID: fmt.Sprintf("t%d", k), Status: scene.TakeRunning})
			_, err = s.SaveRunner(scCtx, ref, ld.Version, ld.Revision, r)
		case "update":
			_, err = s.UpdateStatus(scCtx, ref, ld.Version, func(sc *scene.Scene) error {
				sc.SceneMetadata.Set("updates", pyjson.Int(fmt.Sprint(k)))
				return nil
			}, func(*scene.Scene) error {
				if k%4 == 0 {
					return fmt.Errorf("hook refuses") // exercises the rollback
				}
				return nil
			})
			if err != nil && err.Error() == "hook refuses" {
				err = nil
			}
		}
		if code := settle.ErrorCode(err); err != nil && code != settle.VersionConflict {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}
