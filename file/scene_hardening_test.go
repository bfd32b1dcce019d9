package file_test

import (
	"math/rand"
	"path/filepath"
	"slices"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// scDirNames lists the scenes directory (nil when it does not exist).
func scDirNames(t *testing.T, root string) []string { return testenv.DirNames(t, scDir(root)) }

// TestHardeningD_RunnerSavesFromOneBase races runner saves from one base
// body through two stores on one root (two processes' worth of flocks):
// every acknowledged take is kept, and a save based on a body that moved
// is refused (storetest.RunnerSaveRace, 200 rounds, seed logged).
func TestHardeningD_RunnerSavesFromOneBase(t *testing.T) {
	root := t.TempDir()
	storetest.RunnerSaveRace(t, []scene.Store{scOpen(t, root), scOpen(t, root)}, 200)
}

// TestHardeningD_SaveRunnerNamesItsBase: a runner save based on no body or
// on a body that a status patch has since changed is VERSION_CONFLICT and
// writes nothing; the seed's version check alone let it replace the
// patched takes.
func TestHardeningD_SaveRunnerNamesItsBase(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	_, err := s.SaveRunner(scCtx, storetest.Ref("B"), 1, "", scGen(t, rand.New(rand.NewSource(1)), "B", 2))
	storetest.OK(t, err)
	base, err := s.Load(scCtx, storetest.Ref("B"))
	storetest.OK(t, err)
	patched, err := s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "add", "path": "/beats/0/takes/-", "value": {"take_id": "acked", "status": "succeeded"}}]`))
	storetest.OK(t, err)
	if patched.Revision == base.Revision {
		t.Fatalf("a status patch kept the revision")
	}
	flat := filepath.Join(scDir(root), storetest.Token+"_B.json")
	before := scReadRaw(t, root, storetest.Token+"_B.json")
	for _, rev := range []string{base.Revision, ""} {
		_, err := s.SaveRunner(scCtx, storetest.Ref("B"), 1, rev, base.Scene.Clone())
		if settle.ErrorCode(err) != settle.VersionConflict {
			t.Fatalf("runner save at revision %q: %v", rev, err)
		}
	}
	if got := scReadRaw(t, root, storetest.Token+"_B.json"); got != before {
		t.Fatalf("a refused runner save changed %s", flat)
	}
	runner := patched.Scene.Clone()
	runner.Beats[1].Takes = append(runner.Beats[1].Takes, &scene.Take{TakeID: "mine", Status: scene.TakeRunning})
	saved, err := s.SaveRunner(scCtx, storetest.Ref("B"), 1, patched.Revision, runner)
	storetest.OK(t, err)
	ld, err := s.Load(scCtx, storetest.Ref("B"))
	storetest.OK(t, err)
	if saved.Revision != ld.Revision || saved.Revision != scene.Revision([]byte(scReadRaw(t, root, storetest.Token+"_B.json"))) {
		t.Fatalf("revision returned %s, loaded %s", saved.Revision, ld.Revision)
	}
	var ids []string
	for _, b := range ld.Scene.Beats {
		for _, tk := range b.Takes {
			ids = append(ids, tk.TakeID)
		}
	}
	if !slices.Contains(ids, "acked") || !slices.Contains(ids, "mine") {
		t.Fatalf("takes after the saves: %v", ids)
	}
}

// TestHardeningM_RefusalsLeaveNoFiles: a refused write to a batch that has
// no scene creates nothing, not its lock file nor the scenes directory;
// a refused write to an existing batch keeps the lock file it had.
func TestHardeningM_RefusalsLeaveNoFiles(t *testing.T) {
	outOfRange := []byte(`[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "running"}]`)
	refusals := []struct {
		name string
		op   func(s *file.Scenes) error
		code settle.Code
	}{
		{"activate", func(s *file.Scenes) error {
			return s.Activate(scCtx, storetest.Ref("NEW"), 1)
		}, settle.NotFound},
		{"failing patch (cold start)", func(s *file.Scenes) error {
			_, err := s.PatchStatus(scCtx, storetest.Ref("NEW"), 1, outOfRange)
			return err
		}, settle.InvalidInput},
		{"patch expecting v2", func(s *file.Scenes) error {
			_, err := s.PatchStatus(scCtx, storetest.Ref("NEW"), 2, []byte(`[]`))
			return err
		}, settle.VersionConflict},
		{"patch without create", func(s *file.Scenes) error {
			_, err := s.PatchStatusIf(scCtx, storetest.Ref("NEW"), scene.Cond{Version: 1, AnyRevision: true, NoCreate: true}, outOfRange)
			return err
		}, settle.NotFound},
		{"runner save of a body it never saw", func(s *file.Scenes) error {
			_, err := s.SaveRunner(scCtx, storetest.Ref("NEW"), 1, scene.Revision([]byte("x")), scGen(t, rand.New(rand.NewSource(2)), "NEW", 1))
			return err
		}, settle.VersionConflict},
		{"runner save without create", func(s *file.Scenes) error {
			_, err := s.SaveRunnerIf(scCtx, storetest.Ref("NEW"), scene.Cond{Version: 1, NoCreate: true}, scGen(t, rand.New(rand.NewSource(2)), "NEW", 1))
			return err
		}, settle.NotFound},
		{"update status expecting v3", func(s *file.Scenes) error {
			_, err := s.UpdateStatus(scCtx, storetest.Ref("NEW"), 3, func(*scene.Scene) error { return nil }, nil)
			return err
		}, settle.VersionConflict},
	}
	for _, withDir := range []bool{false, true} {
		for _, tc := range refusals {
			t.Run(map[bool]string{false: "no scenes dir/", true: "other batches/"}[withDir]+tc.name, func(t *testing.T) {
				root := t.TempDir()
				s := scOpen(t, root)
				if withDir {
					_, err := s.SaveRunner(scCtx, storetest.Ref("OTHER"), 1, "", scGen(t, rand.New(rand.NewSource(3)), "OTHER", 1))
					storetest.OK(t, err)
				}
				before := scDirNames(t, root)
				if err := tc.op(s); settle.ErrorCode(err) != tc.code {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				if after := scDirNames(t, root); !slices.Equal(before, after) {
					t.Fatalf("scenes directory %v, was %v", after, before)
				}
			})
		}
	}
}
