package file_test

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
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

// scRestructure returns a copy of sc with another structure (a changed
// prompt directive on the first beat).
func scRestructure(t *testing.T, sc *scene.Scene, directive string) *scene.Scene {
	t.Helper()
	c := sc.Clone()
	c.Beats[0].BeatMetadata.Set("prompt_directive", directive)
	return c
}

// TestScenesActiveBodyPath: the active body of a flat scene is the seed's
// file name (the conformance suite checks the load ladder itself).
func TestScenesActiveBodyPath(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rand.New(rand.NewSource(1)), "B", 4)))
	p, err := s.ActiveBodyPath(scCtx, storetest.Ref("B"))
	scOK(t, err)
	if p != scPath(root, storetest.Token+"_B.json") {
		t.Errorf("ActiveBodyPath = %s", p)
	}
}

var scISORe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

func TestScenesWriteCandidateNewBatch(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	sc := scGen(t, rng, "B", 3)

	v, err := s.WriteCandidate(scCtx, storetest.Ref("B"), sc, "first", false)
	scOK(t, err)
	if v != 1 || !scExists(root, storetest.Token+"_B.v001.json") || scExists(root, storetest.Token+"_B.json") {
		t.Fatalf("first candidate: v%d; files %v", v, scSnapshot(t, root))
	}
	m := scManifest(t, root, "B")
	if m.ActiveVersion != 1 || len(m.Versions) != 1 || m.Versions[0].Artifact != storetest.Token+"_B.v001.json" ||
		m.Versions[0].Reason != "first" || m.Versions[0].CreatedAt == nil || !scISORe.MatchString(*m.Versions[0].CreatedAt) ||
		m.Versions[0].StructureFingerprint != scene.Fingerprint(sc) {
		t.Fatalf("manifest after first candidate: %+v", m)
	}
	if got, want := scReadRaw(t, root, storetest.Token+"_B.v001.json"), scBodyText(t, sc.ToTree()); got != want {
		t.Errorf("body bytes differ from EncodeBody")
	}
	want, err := scene.EncodeManifest(m)
	scOK(t, err)
	if got := scReadRaw(t, root, storetest.Token+"_B.versions.json"); got != string(want) {
		t.Errorf("manifest bytes are not EncodeManifest's:\n%s\n%s", got, want)
	}

	// Another structure, not activated.
	sc2 := scRestructure(t, sc, "second")
	v, err = s.WriteCandidate(scCtx, storetest.Ref("B"), sc2, "second", false)
	scOK(t, err)
	if m := scManifest(t, root, "B"); v != 2 || m.ActiveVersion != 1 || len(m.Versions) != 2 {
		t.Fatalf("second candidate: v%d %+v", v, m)
	}

	// Same structure as v2 (other takes): dedupe, nothing written.
	sc2b := sc2.Clone()
	sc2b.Beats[0].Approved = !sc2b.Beats[0].Approved
	sc2b.Beats[1].Takes = nil
	before := scSnapshot(t, root)
	v, err = s.WriteCandidate(scCtx, storetest.Ref("B"), sc2b, "again", false)
	scOK(t, err)
	if v != 2 {
		t.Fatalf("dedupe returned v%d, want 2", v)
	}
	scSameSnapshot(t, before, scSnapshot(t, root))

	// Dedupe with activate moves the pointer only.
	v, err = s.WriteCandidate(scCtx, storetest.Ref("B"), sc2b, "again", true)
	scOK(t, err)
	m = scManifest(t, root, "B")
	if v != 2 || m.ActiveVersion != 2 || len(m.Versions) != 2 || scExists(root, storetest.Token+"_B.v003.json") {
		t.Fatalf("dedupe+activate: v%d %+v", v, m)
	}
	ld, err := s.Load(scCtx, storetest.Ref("B"))
	scOK(t, err)
	if ld.Version != 2 || ld.Scene.Beats[0].Approved != sc2.Beats[0].Approved {
		t.Errorf("dedupe must keep the stored body, not the candidate's")
	}

	// A third structure with activate becomes v3, active.
	v, err = s.WriteCandidate(scCtx, storetest.Ref("B"), scRestructure(t, sc, "third"), "third", true)
	scOK(t, err)
	if m := scManifest(t, root, "B"); v != 3 || m.ActiveVersion != 3 {
		t.Fatalf("third: v%d %+v", v, m)
	}
}

func TestScenesMaterializeLegacy(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	flat := scGen(t, rng, "B", 3)

	t.Run("new structure", func(t *testing.T) {
		root := t.TempDir()
		s := scOpen(t, root)
		scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), flat))
		v, err := s.WriteCandidate(scCtx, storetest.Ref("B"), scRestructure(t, flat, "x"), "rederive", false)
		scOK(t, err)
		m := scManifest(t, root, "B")
		if v != 2 || m.ActiveVersion != 1 || len(m.Versions) != 2 {
			t.Fatalf("v%d %+v", v, m)
		}
		e := m.Versions[0]
		if e.Version != 1 || e.Artifact != storetest.Token+"_B.json" || e.CreatedAt != nil || e.Reason != "materialized-legacy" ||
			e.StructureFingerprint != scene.Fingerprint(flat) {
			t.Errorf("materialized entry %+v", e)
		}
		if m.Versions[1].Artifact != storetest.Token+"_B.v002.json" || !scExists(root, storetest.Token+"_B.v002.json") {
			t.Errorf("v2 entry %+v", m.Versions[1])
		}
		if got := scReadRaw(t, root, storetest.Token+"_B.json"); got != scBodyText(t, flat.ToTree()) {
			t.Errorf("the flat body changed")
		}
	})
	for _, activate := range []bool{false, true} {
		t.Run("same structure as the flat", func(t *testing.T) {
			root := t.TempDir()
			s := scOpen(t, root)
			scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), flat))
			before := scSnapshot(t, root)
			v, err := s.WriteCandidate(scCtx, storetest.Ref("B"), flat.Clone(), "", activate)
			scOK(t, err)
			if v != 1 {
				t.Fatalf("v%d, want 1", v)
			}
			// The seed writes no manifest: v1 is already the implicit active.
			scSameSnapshot(t, before, scSnapshot(t, root))
		})
	}
	t.Run("activate writes the materialized manifest", func(t *testing.T) {
		root := t.TempDir()
		s := scOpen(t, root)
		scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), flat))
		scOK(t, s.Activate(scCtx, storetest.Ref("B"), 1))
		m := scManifest(t, root, "B")
		if m.ActiveVersion != 1 || len(m.Versions) != 1 || m.Versions[0].Reason != "materialized-legacy" {
			t.Fatalf("%+v", m)
		}
	})
}

func TestScenesPatchStatus(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	flat := scGen(t, rng, "B", 3)
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), flat))

	ld, err := s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[{"op": "replace", "path": "/beats/1/approved", "value": true},
		{"op": "add", "path": "/scene_metadata/reviewed_by", "value": "ops"}]`))
	scOK(t, err)
	want := flat.ToTree()
	b1 := want.Clone()
	beats, _ := b1.Get("beats")
	beats.([]any)[1].(*pyjson.Object).Set("approved", true)
	md, _ := b1.GetObject("scene_metadata")
	md.Set("reviewed_by", "ops")
	if got := scReadRaw(t, root, storetest.Token+"_B.json"); got != scBodyText(t, b1) {
		t.Errorf("patched body:\n%s\nwant\n%s", got, scBodyText(t, b1))
	}
	if ld.Version != 1 || ld.Fingerprint != scene.Fingerprint(flat) {
		t.Errorf("loaded = v%d %s", ld.Version, ld.Fingerprint)
	}

	// A versioned batch: the patch goes to the active body only.
	v2 := scRestructure(t, flat, "v2")
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), v2, "", true)
	scOK(t, err)
	flatBytes := scReadRaw(t, root, storetest.Token+"_B.json")
	_, err = s.PatchStatus(scCtx, storetest.Ref("B"), 2, []byte(`[{"op": "replace", "path": "/locked", "value": true}, {"op": "replace", "path": "/lock_reason", "value": "cut"}]`))
	scOK(t, err)
	if scReadRaw(t, root, storetest.Token+"_B.json") != flatBytes {
		t.Errorf("a v2 status write touched v1")
	}
	l2, err := s.Load(scCtx, storetest.Ref("B"))
	scOK(t, err)
	if !l2.Scene.Locked || *l2.Scene.LockReason != "cut" {
		t.Errorf("v2 not patched")
	}

	// Cold start.
	ld, err = s.PatchStatus(scCtx, storetest.Ref("NEW"), 1, []byte(`[{"op": "add", "path": "/scene_metadata/k", "value": 1}]`))
	scOK(t, err)
	cold := scTree(t, `{"scene_id": "NEW", "beats": [], "scene_metadata": {"k": 1}, "locked": false, "lock_reason": null}`)
	if got := scReadRaw(t, root, storetest.Token+"_NEW.json"); got != scBodyText(t, cold) {
		t.Errorf("cold start body:\n%s", got)
	}
	if ld.Version != 1 || ld.Scene.SceneID != "NEW" {
		t.Errorf("cold start loaded %+v", ld)
	}
	// A cold start may add beats (no structure guard).
	_, err = s.PatchStatus(scCtx, storetest.Ref("NEW2"), 1, []byte(`[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_000"}}]`))
	scOK(t, err)
}

func TestScenesUpdateStatusRollback(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)))
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

	// Cold start: the body is removed.
	_, err = s.UpdateStatus(scCtx, storetest.Ref("COLD"), 1, func(sc *scene.Scene) error { return nil },
		func(sc *scene.Scene) error { return hookErr })
	if !errors.Is(err, hookErr) {
		t.Fatalf("err = %v", err)
	}
	if scExists(root, storetest.Token+"_COLD.json") {
		t.Errorf("cold-start body not removed by the rollback")
	}
	// The hook's success keeps the write.
	ld, err := s.UpdateStatus(scCtx, storetest.Ref("B"), 1, func(sc *scene.Scene) error {
		sc.SceneMetadata.Set("hooked", true)
		return nil
	}, func(sc *scene.Scene) error { return nil })
	scOK(t, err)
	if v, _ := ld.Scene.SceneMetadata.Get("hooked"); v != true {
		t.Errorf("write lost")
	}
}

func TestScenesSaveRunner(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	t.Run("cold start writes the runner scene", func(t *testing.T) {
		root := t.TempDir()
		s := scOpen(t, root)
		runner := scGen(t, rng, "B", 3)
		_, err := s.SaveRunner(scCtx, storetest.Ref("B"), 1, "", runner)
		scOK(t, err)
		if got := scReadRaw(t, root, storetest.Token+"_B.json"); got != scBodyText(t, runner.ToTree()) {
			t.Errorf("cold start body is not the runner's")
		}
	})
	for _, versioned := range []bool{false, true} {
		name := map[bool]string{false: "flat enriches", true: "versioned does not enrich"}[versioned]
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			s := scOpen(t, root)
			disk := scGen(t, rng, "B", 3)
			disk.Beats[0].BeatMetadata.Delete("modality")
			disk.Beats[1].Board = scObj("status", "approved")
			expected := 1
			if versioned {
				v, err := s.WriteCandidate(scCtx, storetest.Ref("B"), disk, "", true)
				scOK(t, err)
				expected = v
			} else {
				scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), disk))
			}
			runner := disk.Clone()
			runner.Beats[0].BeatMetadata.Set("modality", "i2v")
			runner.Beats[0].BeatMetadata.Set("inputs_fingerprint", "fresh")
			runner.Beats[1].Board = nil
			runner.Beats[2].Takes = append(runner.Beats[2].Takes, &scene.Take{TakeID: "new", Status: scene.TakeRunning})
			runner.SceneMetadata.Set("runner_only", true)
			base, err := s.Load(scCtx, storetest.Ref("B"))
			scOK(t, err)
			_, err = s.SaveRunner(scCtx, storetest.Ref("B"), expected, base.Revision, runner)
			scOK(t, err)
			ld, err := s.Load(scCtx, storetest.Ref("B"))
			scOK(t, err)
			b := ld.Scene.Beats
			if fp, _ := b[0].BeatMetadata.Get("inputs_fingerprint"); fp != "fresh" {
				t.Errorf("inputs_fingerprint not overlaid")
			}
			if len(b[2].Takes) != len(runner.Beats[2].Takes) || b[2].Takes[len(b[2].Takes)-1].TakeID != "new" {
				t.Errorf("takes not overlaid")
			}
			if b[1].Board == nil {
				t.Errorf("the disk board was clobbered")
			}
			if _, ok := ld.Scene.SceneMetadata.Get("runner_only"); ok {
				t.Errorf("scene_metadata is disk-owned")
			}
			_, enriched := b[0].BeatMetadata.Get("modality")
			if enriched == versioned {
				t.Errorf("modality enriched = %v with versioned = %v", enriched, versioned)
			}
		})
	}
}

func TestScenesInitFromPlan(t *testing.T) {
	plan := scene.Plan{Root: scTree(t, `{"sequences": {
		"BATCH_001": {"shots": [{"shot_id": "S1", "prompt": "a"}, {"id": "S2"}, {"prompt": "no id"}]},
		"BATCH_002": {"shots": []}}}`)}
	root := t.TempDir()
	s := scOpen(t, root)

	res, err := s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 3, true)
	scOK(t, err)
	if len(res) != 2 || !res[0].Created || len(res[0].Scene.Beats) != 3 {
		t.Fatalf("dry run result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(root, "projects")); !os.IsNotExist(err) {
		t.Fatalf("dry run wrote: %v", scSnapshot(t, root))
	}

	res, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 3, false)
	scOK(t, err)
	if len(res) != 2 || !res[0].Created || !res[1].Created {
		t.Fatalf("init result %+v", res)
	}
	ids := []string{}
	for _, b := range res[0].Scene.Beats {
		ids = append(ids, b.BeatID)
	}
	if !reflect.DeepEqual(ids, []string{"S1", "S2", "BEAT_02"}) {
		t.Errorf("beat ids %v", ids)
	}
	names, err := s.List(scCtx, storetest.Project, storetest.Episode)
	scOK(t, err)
	if !reflect.DeepEqual(names, []string{storetest.Token + "_BATCH_001.json", storetest.Token + "_BATCH_002.json"}) {
		t.Errorf("List = %v", names)
	}

	// Idempotent: a re-run re-stamps max_takes, structure unchanged.
	fp := scene.Fingerprint(res[0].Scene)
	res, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 5, false)
	scOK(t, err)
	if res[0].Created || res[1].Created {
		t.Fatalf("second init created: %+v", res)
	}
	ld, err := s.Load(scCtx, storetest.Ref("BATCH_001"))
	scOK(t, err)
	if ld.Fingerprint != fp || !pyjson.Equal(ld.Scene.Beats[0].MaxTakes, pyjson.Int("5")) {
		t.Errorf("re-stamp: fp %s max_takes %v", ld.Fingerprint, ld.Scene.Beats[0].MaxTakes)
	}

	// A versioned batch: the active body is re-stamped, v1 untouched.
	v2 := scRestructure(t, ld.Scene, "rederived")
	_, err = s.WriteCandidate(scCtx, storetest.Ref("BATCH_001"), v2, "", true)
	scOK(t, err)
	flatBytes := scReadRaw(t, root, storetest.Token+"_BATCH_001.json")
	_, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 7, false)
	scOK(t, err)
	if scReadRaw(t, root, storetest.Token+"_BATCH_001.json") != flatBytes {
		t.Errorf("re-stamp clobbered v1")
	}
	ld, err = s.Load(scCtx, storetest.Ref("BATCH_001"))
	scOK(t, err)
	if ld.Version != 2 || !pyjson.Equal(ld.Scene.Beats[1].MaxTakes, pyjson.Int("7")) {
		t.Errorf("active v2 not re-stamped: v%d %v", ld.Version, ld.Scene.Beats[1].MaxTakes)
	}
	// Dry run of an existing scene writes nothing either.
	before := scSnapshot(t, root)
	_, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 9, true)
	scOK(t, err)
	scSameSnapshot(t, before, scSnapshot(t, root))
}

func TestScenesRecoverStale(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	tree := scTree(t, `{"scene_id": "B", "beats": [{"beat_id": "S1", "takes": [
		{"take_id": "old", "status": "running", "started_at": "2026-06-03T10:01:00+00:00"},
		{"take_id": "young", "status": "running", "started_at": "2026-06-03T10:08:00+00:00"},
		{"take_id": "done", "status": "succeeded", "started_at": "2026-06-03T09:00:00+00:00"}]}],
		"scene_metadata": {}}`)
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scScene(t, tree)))
	now := time.Date(2026, 6, 3, 10, 10, 0, 0, time.UTC)
	n, err := s.RecoverStale(scCtx, storetest.Ref("B"), 0, now)
	scOK(t, err)
	if n != 1 {
		t.Fatalf("recovered %d, want 1", n)
	}
	ld, err := s.Load(scCtx, storetest.Ref("B"))
	scOK(t, err)
	got := []string{}
	for _, tk := range ld.Scene.Beats[0].Takes {
		got = append(got, tk.Status)
	}
	if !reflect.DeepEqual(got, []string{"stale", "running", "succeeded"}) {
		t.Errorf("statuses %v", got)
	}
	before := scSnapshot(t, root)
	n, err = s.RecoverStale(scCtx, storetest.Ref("B"), 0, now)
	scOK(t, err)
	if n != 0 {
		t.Errorf("second recovery changed %d", n)
	}
	scSameSnapshot(t, before, scSnapshot(t, root))
	n, err = s.RecoverStale(scCtx, storetest.Ref("B"), time.Minute, now)
	scOK(t, err)
	if n != 1 {
		t.Errorf("recovery with a 1m age changed %d, want 1", n)
	}
}

func TestScenesList(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	names, err := s.List(scCtx, storetest.Project, storetest.Episode)
	scOK(t, err)
	if names == nil || len(names) != 0 {
		t.Fatalf("missing directory lists %v", names)
	}
	for _, n := range []string{
		storetest.Token + "_B.json", storetest.Token + "_A.json", storetest.Token + "_B.v001.json", storetest.Token + "_B.v1234.json",
		storetest.Token + "_B.versions.json", storetest.Token + "_B.versions.lock", storetest.Token + "_B.json.tmp",
		storetest.Token + "_B.json.tmp-123-abcdef", storetest.Token + "_C.v001.json.tmp-9-00", "ep_002_B.json", "ep_0011_B.json",
		"notes.json", storetest.Token + "_B.txt",
	} {
		scWriteRaw(t, root, n, "{}")
	}
	if err := os.Mkdir(scPath(root, storetest.Token+"_DIR.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err = s.List(scCtx, storetest.Project, storetest.Episode)
	scOK(t, err)
	if want := []string{storetest.Token + "_A.json", storetest.Token + "_B.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

func TestScenesVersions(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	flat := scGen(t, rng, "B", 2)
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), flat))
	vs, err := s.Versions(scCtx, storetest.Ref("B"))
	scOK(t, err)
	if len(vs) != 1 || !vs[0].Active || vs[0].Version != 1 || vs[0].Artifact != storetest.Token+"_B.json" || vs[0].StructureFingerprint != scene.Fingerprint(flat) {
		t.Fatalf("flat versions %+v", vs)
	}
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), scRestructure(t, flat, "2"), "r2", false)
	scOK(t, err)
	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), scRestructure(t, flat, "3"), "r3", true)
	scOK(t, err)
	vs, err = s.Versions(scCtx, storetest.Ref("B"))
	scOK(t, err)
	act := []bool{}
	for _, v := range vs {
		act = append(act, v.Active)
	}
	if len(vs) != 3 || !reflect.DeepEqual(act, []bool{false, false, true}) || vs[2].Reason != "r3" {
		t.Errorf("versions %+v", vs)
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
			rng := rand.New(rand.NewSource(testenv.Seed(t)))
			scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)))
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
			scOK(t, err)
		})
	}
}

func TestScenesLockWaitHonoursContext(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	scOK(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 1)))
	l, err := durable.LockFile(context.Background(), scPath(root, storetest.Token+"_B.versions.lock"), 0)
	scOK(t, err)
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
	scOK(t, l.Unlock())
	_, err = s.PatchStatus(scCtx, storetest.Ref("B"), 1, []byte(`[]`))
	scOK(t, err)
}

func TestScenesClosed(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	scOK(t, s.Close())
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
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	m, err := s.LoadManifest(scCtx, storetest.Ref("B"))
	if err != nil || m != nil {
		t.Fatalf("LoadManifest of nothing = %v, %v", m, err)
	}
	_, err = s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 1)
	storetest.WantCode(t, err, settle.NotFound)

	locked := scGen(t, rng, "B", 2)
	locked.Locked = true
	scOK(t, s.Save(scCtx, storetest.Ref("B"), locked))
	storetest.WantCode(t, s.SaveGuarded(scCtx, storetest.Ref("B"), scGen(t, rng, "B", 2)), settle.SceneLocked)
	replacement := scGen(t, rng, "B", 1)
	scOK(t, s.Save(scCtx, storetest.Ref("B"), replacement)) // save_scene has no guard
	p, err := s.ScenePath(storetest.Ref("B"))
	scOK(t, err)
	got, err := file.LoadSceneFile(p)
	scOK(t, err)
	if scene.Fingerprint(got) != scene.Fingerprint(replacement) {
		t.Errorf("Save did not replace the flat body")
	}
	_, err = file.LoadSceneFile(p + ".missing")
	storetest.WantCode(t, err, settle.NotFound)

	_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), scRestructure(t, replacement, "v2"), "", false)
	scOK(t, err)
	m, err = s.LoadManifest(scCtx, storetest.Ref("B"))
	scOK(t, err)
	if m == nil || len(m.Versions) != 2 || m.ActiveVersion != 1 {
		t.Fatalf("manifest %+v", m)
	}
	ap, err := s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 2)
	scOK(t, err)
	vp, err := s.VersionPath(storetest.Ref("B"), 2)
	scOK(t, err)
	mp, err := s.ManifestPath(storetest.Ref("B"))
	scOK(t, err)
	if ap != vp || ap != scPath(root, storetest.Token+"_B.v002.json") || mp != scPath(root, storetest.Token+"_B.versions.json") {
		t.Errorf("paths: artifact %s version %s manifest %s", ap, vp, mp)
	}
	_, err = s.ManifestArtifactPath(scCtx, storetest.Ref("B"), 3)
	storetest.WantCode(t, err, settle.NotFound)
}
