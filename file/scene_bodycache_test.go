package file_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// TestScenesStatusWritesShareOneStore runs status writes of several
// goroutines through one store (whose body cache they share) on the same
// batch, each adding its own scene_metadata keys by patch or closure, with
// a save by another store between: no update may be lost, and the body on
// disk must be the one a fresh store writes for the same scene.
func TestScenesStatusWritesShareOneStore(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
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
