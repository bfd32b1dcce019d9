package file_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

func scManifest(t *testing.T, root, batch string) *scene.Manifest {
	t.Helper()
	m, err := scene.DecodeManifest([]byte(scReadRaw(t, root, storetest.Token+"_"+batch+".versions.json")), batch)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func scExists(root, name string) bool {
	_, err := os.Stat(scPath(root, name))
	return err == nil
}

// TestScenesActiveBodyPath: the active body of a flat scene is the seed's
// file name (the conformance suite checks the load ladder itself).
func TestScenesActiveBodyPath(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rand.New(rand.NewSource(1)), "B", 4)))
	p, err := s.ActiveBodyPath(scCtx, storetest.Ref("B"))
	storetest.OK(t, err)
	if p != scPath(root, storetest.Token+"_B.json") {
		t.Errorf("ActiveBodyPath = %s", p)
	}
}

// TestScenesCandidateFiles: a candidate is stored as the seed's files, a
// versioned body and a manifest in EncodeManifest's bytes, and leaves no
// flat body. What Versions and Load show of it is storetest's
// WriteCandidateNewBatch and BytesRoundTrip.
func TestScenesCandidateFiles(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	sc := scGen(t, testenv.Rand(t), "B", 3)
	v, err := s.WriteCandidate(scCtx, storetest.Ref("B"), sc, "first", false)
	storetest.OK(t, err)
	if v != 1 || !scExists(root, storetest.Token+"_B.v001.json") || scExists(root, storetest.Token+"_B.json") {
		t.Fatalf("first candidate: v%d; files %v", v, scSnapshot(t, root))
	}
	m := scManifest(t, root, "B")
	if m.ActiveVersion != 1 || len(m.Versions) != 1 || m.Versions[0].Artifact != storetest.Token+"_B.v001.json" {
		t.Fatalf("manifest after first candidate: %+v", m)
	}
	want, err := scene.EncodeManifest(m)
	storetest.OK(t, err)
	if got := scReadRaw(t, root, storetest.Token+"_B.versions.json"); got != string(want) {
		t.Errorf("manifest bytes are not EncodeManifest's:\n%s\n%s", got, want)
	}
}

// TestScenesPostWriteSeesTheBody: UpdateStatus runs its post-write hook
// once the new body is on disk, and a failing hook restores the old bytes.
// The rollback as seen through the store, cold start included, is
// storetest's UpdateStatusRollback.
func TestScenesPostWriteSeesTheBody(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := testenv.Rand(t)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)))
	before := scReadRaw(t, root, storetest.Token+"_B.json")
	hookErr := errors.New("ledger mirror failed")
	_, err := s.UpdateStatus(scCtx, storetest.Ref("B"), 1, func(sc *scene.Scene) error {
		sc.Beats[0].Approved = !sc.Beats[0].Approved
		return nil
	}, func(sc *scene.Scene) error {
		if scReadRaw(t, root, storetest.Token+"_B.json") == before {
			t.Errorf("post-write hook ran before the body was written")
		}
		return hookErr
	})
	if !errors.Is(err, hookErr) {
		t.Fatalf("err = %v, want the hook's", err)
	}
	if got := scReadRaw(t, root, storetest.Token+"_B.json"); got != before {
		t.Errorf("rollback did not restore the previous bytes")
	}
}

// TestScenesInitDryRunCreatesNoDirectory: a dry run of InitFromPlan on an
// empty root creates not even the scenes directory (the rest of
// InitFromPlan is storetest's InitFromPlan).
func TestScenesInitDryRunCreatesNoDirectory(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	plan := scene.Plan{Root: storetest.Tree(`{"sequences": {"BATCH_001": {"shots": [{"shot_id": "S1"}]}}}`)}
	res, err := s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 3, true)
	storetest.OK(t, err)
	if len(res) != 1 || !res[0].Created {
		t.Fatalf("dry run result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(root, "projects")); !os.IsNotExist(err) {
		t.Fatalf("dry run wrote: %v", scSnapshot(t, root))
	}
}

// TestScenesList: List passes over what only a directory holds: lock
// and tmp files, other extensions and directories named like bodies. The
// names a body or a manifest can have are storetest's List and
// ListPlanted.
func TestScenesList(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	for _, n := range []string{
		storetest.Token + "_B.json", storetest.Token + "_B.versions.lock", storetest.Token + "_B.json.tmp",
		storetest.Token + "_B.json.tmp-123-abcdef", storetest.Token + "_C.v001.json.tmp-9-00", storetest.Token + "_B.txt",
	} {
		scWriteRaw(t, root, n, "{}")
	}
	if err := os.Mkdir(scPath(root, storetest.Token+"_DIR.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := s.List(scCtx, storetest.Project, storetest.Episode)
	storetest.OK(t, err)
	if want := []string{storetest.Token + "_B.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

// TestScenesWriteFailurePoisons: a failed write returns UNAVAILABLE, leaves
// the old file and no tmp behind, and the store refuses writes (not reads)
// until reopened.
func TestScenesWriteFailurePoisons(t *testing.T) {
	for _, step := range []string{"tmp-created", "before-fsync", "before-rename", "before-dir-fsync"} {
		t.Run(step, func(t *testing.T) {
			root := t.TempDir()
			s := scOpen(t, root)
			rng := testenv.Rand(t)
			storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)))
			before := scReadRaw(t, root, storetest.Token+"_B.json")
			durable.SetFailpoint(step, func() error { return errors.New("injected I/O error") })
			_, err := s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "replace", "path": "/locked", "value": true}]`))
			durable.SetFailpoint(step, nil)
			storetest.WantCode(t, err, settle.Unavailable)
			after := scReadRaw(t, root, storetest.Token+"_B.json")
			if step != "before-dir-fsync" && after != before {
				t.Errorf("failed write replaced the body")
			}
			entries, _ := os.ReadDir(scDir(root))
			for _, e := range entries {
				if strings.Contains(e.Name(), durable.TmpMarker) {
					t.Errorf("tmp left behind: %s", e.Name())
				}
			}
			_, err = s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[]`))
			storetest.WantCode(t, err, settle.Unavailable)
			_, err = s.WriteCandidate(scCtx, storetest.Ref("C"), scGen(t, rng, "C", 1), "", true)
			storetest.WantCode(t, err, settle.Unavailable)
			if _, err := s.Load(scCtx, storetest.Ref("B")); err != nil {
				t.Errorf("reads refused after a write failure: %v", err)
			}
			s2 := scOpen(t, root)
			_, err = s2.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "replace", "path": "/locked", "value": true}]`))
			storetest.OK(t, err)
		})
	}
}

func TestScenesLockWaitHonoursContext(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := testenv.Rand(t)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 1)))
	l, err := durable.LockFile(context.Background(), scPath(root, storetest.Token+"_B.versions.lock"), 0)
	storetest.OK(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.PatchStatus(ctx, storetest.Ref("B"), 1, []byte(`[]`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("lock wait ignored the context")
	}
	storetest.OK(t, l.Unlock())
	_, err = s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[]`))
	storetest.OK(t, err)
}

func TestScenesClosed(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	storetest.OK(t, s.Close())
	_, err := s.Load(scCtx, storetest.Ref("B"))
	storetest.WantCode(t, err, settle.Unavailable)
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), scGen(t, rand.New(rand.NewSource(1)), "B", 1), "", true)
	storetest.WantCode(t, err, settle.Unavailable)
	if _, err := file.OpenScenes(file.SceneOptions{Root: filepath.Join(root, "missing")}); settle.ErrorCode(err) != settle.InvalidInput {
		t.Errorf("OpenScenes on a missing root: %v", err)
	}
}

// TestScenesSeedPrimitives covers the seed's path and load primitives and
// the unguarded save_scene.
func TestScenesSeedPrimitives(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := testenv.Rand(t)
	m, err := s.LoadManifest(scCtx, storetest.Ref("B"))
	if err != nil || m != nil {
		t.Fatalf("LoadManifest of nothing = %v, %v", m, err)
	}
	_, err = s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 1)
	storetest.WantCode(t, err, settle.NotFound)

	locked := scGen(t, rng, "B", 2)
	locked.Locked = true
	storetest.OK(t, s.Save(scCtx, storetest.Ref("B"), locked))
	storetest.WantCode(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)), settle.SceneLocked)
	replacement := scGen(t, rng, "B", 1)
	storetest.OK(t, s.Save(scCtx, storetest.Ref("B"), replacement)) // save_scene has no guard
	p, err := s.ScenePath(storetest.Ref("B"))
	storetest.OK(t, err)
	got, err := file.LoadSceneFile(p)
	storetest.OK(t, err)
	if scene.Fingerprint(got) != scene.Fingerprint(replacement) {
		t.Errorf("Save did not replace the flat body")
	}
	_, err = file.LoadSceneFile(p + ".missing")
	storetest.WantCode(t, err, settle.NotFound)

	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), storetest.Restructure(replacement, "v2"), "", false)
	storetest.OK(t, err)
	m, err = s.LoadManifest(scCtx, storetest.Ref("B"))
	storetest.OK(t, err)
	if m == nil || len(m.Versions) != 2 || m.ActiveVersion != 1 {
		t.Fatalf("manifest %+v", m)
	}
	ap, err := s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 2)
	storetest.OK(t, err)
	vp, err := s.VersionPath(storetest.Ref("B"), 2)
	storetest.OK(t, err)
	mp, err := s.ManifestPath(storetest.Ref("B"))
	storetest.OK(t, err)
	if ap != vp || ap != scPath(root, storetest.Token+"_B.v002.json") || mp != scPath(root, storetest.Token+"_B.versions.json") {
		t.Errorf("paths: artifact %s version %s manifest %s", ap, vp, mp)
	}
	_, err = s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 3)
	storetest.WantCode(t, err, settle.NotFound)
}

// TestScenesStatusWritesShareOneStore runs status writes of several
// goroutines through one store (whose body cache they share) on the same
// batch, each adding its own scene_metadata keys by patch or closure, with
// a save by another store between: no update may be lost, and the body on
// disk must be the one a fresh store writes for the same scene.
func TestScenesStatusWritesShareOneStore(t *testing.T) {
	rng := testenv.Rand(t)
	root := t.TempDir()
	s, other := scOpen(t, root), scOpen(t, root)
	ref := storetest.Ref("CACHE")
	storetest.OK(t, s.SaveGuarded(scCtx, ref, scGen(t, rng, "CACHE", 20)))
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+1)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("w%d_%d", w, i)
				var err error
				if i%2 == 0 {
					_, err = s.PatchStatus(scCtx, ref, 1, []byte(`[{"op": "add", "path": "/scene_metadata/`+key+`", "value": true}]`))
				} else {
					_, err = s.UpdateStatus(scCtx, ref, 1, func(sc *scene.Scene) error {
						sc.SceneMetadata.Set(key, true)
						return nil
					}, nil)
				}
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := other.PatchStatus(scCtx, ref, 1, []byte(`[{"op": "add", "path": "/scene_metadata/other", "value": 1}]`))
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		storetest.OK(t, err)
	}
	// s has the body it wrote cached; the other store replaces it, and
	// s's next write must start from the other's body.
	_, err := other.PatchStatus(scCtx, ref, 1, []byte(`[{"op": "add", "path": "/scene_metadata/other2", "value": 2}]`))
	storetest.OK(t, err)
	_, err = s.PatchStatus(scCtx, ref, 1, []byte(`[{"op": "add", "path": "/scene_metadata/last", "value": 3}]`))
	storetest.OK(t, err)
	ld, err := scOpen(t, root).Load(scCtx, ref)
	storetest.OK(t, err)
	want := writers*each + 3
	for w := range writers {
		for i := range each {
			if !ld.Scene.SceneMetadata.Has(fmt.Sprintf("w%d_%d", w, i)) {
				t.Errorf("update w%d_%d lost", w, i)
			}
		}
	}
	for _, k := range []string{"other", "other2", "last"} {
		if !ld.Scene.SceneMetadata.Has(k) {
			t.Errorf("update %s lost", k)
		}
	}
	if n := ld.Scene.SceneMetadata.Len(); n < want {
		t.Errorf("%d scene_metadata keys, want at least %d", n, want)
	}
	dir, err := s.Dir(storetest.Project)
	storetest.OK(t, err)
	matches, err := filepath.Glob(filepath.Join(dir, "*CACHE*.json"))
	storetest.OK(t, err)
	if len(matches) != 1 {
		t.Fatalf("bodies %v", matches)
	}
	disk, err := os.ReadFile(matches[0])
	storetest.OK(t, err)
	fresh, err := scene.EncodeBody(ld.Scene)
	storetest.OK(t, err)
	if string(disk) != string(fresh) {
		t.Error("the body on disk is not the encoding of the scene it holds")
	}
}
