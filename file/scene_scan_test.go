package file_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// TestSceneScannerFindsChanges: a scan reports every body once, then only
// the bodies written since (a status save, a new version with its
// manifest entry), passing over temporary files, unregistered version
// bodies and a project reached through a symbolic link; a manifest is
// reported when written (its active version and stamp); a directory left
// unchanged is not read again.
func TestSceneScannerFindsChanges(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B1"), scGen(t, rand.New(rand.NewSource(1)), "B1", 3)))
	storetest.OK(t, s.SaveGuarded(scCtx, storetest.Ref("B2"), scGen(t, rand.New(rand.NewSource(2)), "B2", 3)))
	dir, err := s.Dir(storetest.Project)
	storetest.OK(t, err)
	other := t.TempDir()
	storetest.OK(t, os.Symlink(other, filepath.Join(root, "projects", "linked")))
	scan := s.Scanner()
	want := func(what string, n int) []scene.BodyState {
		t.Helper()
		got, err := scan.Scan(scCtx)
		if err != nil || len(got) != n {
			t.Fatalf("%s: %+v %v, want %d bodies", what, got, err, n)
		}
		return got
	}
	want("first scan", 2)
	want("nothing changed", 0)

	// A status save, a temporary file and an unregistered version body.
	l, err := s.PatchStatus(scCtx, storetest.Ref("B1"), 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`))
	storetest.OK(t, err)
	storetest.OK(t, os.WriteFile(filepath.Join(dir, "ep_001_B2.json.tmp"), []byte("{"), 0o644))
	storetest.OK(t, os.WriteFile(filepath.Join(dir, "ep_001_B2.v009.json"), []byte("{"), 0o644))
	got := want("a status save", 1)
	if b := got[0]; b.Ref.Batch != "B1" || b.Version != 1 || b.Revision != l.Revision || b.Stamp != l.Stamp || !b.Active {
		t.Fatalf("status save: %+v, the store wrote %+v", b, l)
	}

	// A new version: its body only (the flat v1 is unchanged).
	v, err := s.WriteCandidate(scCtx, storetest.Ref("B2"), scGen(t, rand.New(rand.NewSource(3)), "B2", 5), "re-derive", true)
	storetest.OK(t, err)
	got = want("a new version", 1)
	if b := got[0]; b.Ref.Batch != "B2" || b.Version != v || b.Reason != "re-derive" || !b.Active {
		t.Fatalf("new version: %+v", b)
	}
	// Its manifest is reported with the version it made active; an
	// activation rewrites the manifest alone, reported with the stamp
	// the writer saw.
	if ms := scan.Manifests(); len(ms) != 1 || ms[0].Ref.Batch != "B2" || ms[0].Active != v || ms[0].Stamp == "" {
		t.Fatalf("manifests after a new version: %+v", ms)
	}
	stamp, err := s.ActivateStamped(scCtx, storetest.Ref("B2"), 1, 0)
	storetest.OK(t, err)
	want("an activation", 0)
	if ms := scan.Manifests(); len(ms) != 1 || ms[0].Active != 1 || ms[0].Stamp != stamp {
		t.Fatalf("manifests after an activation: %+v, the store wrote stamp %s", ms, stamp)
	}
	want("nothing changed", 0)
	if ms := scan.Manifests(); len(ms) != 0 {
		t.Fatalf("manifests unchanged: %+v", ms)
	}

	// A directory quiet for a minute is not read, but its change is seen.
	old := time.Now().Add(-time.Minute)
	storetest.OK(t, os.Chtimes(dir, old, old))
	want("a quiet directory, read once more", 0)
	body := filepath.Join(dir, "ep_001_B1.json")
	data, err := os.ReadFile(body)
	storetest.OK(t, err)
	storetest.OK(t, os.WriteFile(body, append(data, ' '), 0o644)) // in place: no rename
	storetest.OK(t, os.Chtimes(dir, old, old))
	want("an in-place write in a quiet directory", 0)
	_, err = s.PatchStatus(scCtx, storetest.Ref("B1"), 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": false}]`))
	storetest.OK(t, err)
	want("a save in it", 1)
}
