package scene_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// memFiles is scene.Files in memory; writes records every written name in
// order.
type memFiles struct {
	files  map[string][]byte
	writes []string
}

func newMemFiles() *memFiles { return &memFiles{files: map[string][]byte{}} }

func (m *memFiles) ReadFile(name string) ([]byte, bool, error) {
	data, ok := m.files[name]
	return data, ok, nil
}

func (m *memFiles) Exists(name string) (bool, error) {
	_, ok := m.files[name]
	return ok, nil
}

func (m *memFiles) WriteFile(name string, data []byte) error {
	m.files[name] = append([]byte(nil), data...)
	m.writes = append(m.writes, name)
	return nil
}

var testBatch = scene.Batch{Ref: scene.Ref{Project: "p", Episode: "1", Batch: "B1"}, Token: "ep_001"}

// batchScene is a scene of batch id with one beat per beat id.
func batchScene(t testing.TB, id string, beats ...string) *scene.Scene {
	t.Helper()
	parts := make([]string, len(beats))
	for i, b := range beats {
		parts[i] = `{"beat_id": "` + b + `", "takes": []}`
	}
	sc, err := scene.FromTree(obj(t, `{"scene_id": "`+id+`", "beats": [`+strings.Join(parts, ",")+`], "scene_metadata": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func candidate(t testing.TB, sc *scene.Scene) ([]byte, string) {
	t.Helper()
	body, fp, err := scene.EncodeCandidate(sc)
	if err != nil {
		t.Fatal(err)
	}
	return body, fp
}

// manifestJSON is a manifest of testBatch registering artifacts as
// versions 1.., active active, without structure fingerprints (so any body
// passes CheckRegisteredBody's structure check).
func manifestJSON(t testing.TB, active int, artifacts ...string) []byte {
	t.Helper()
	m := &scene.Manifest{SchemaVersion: scene.ManifestSchemaVersion, BatchID: "B1", ActiveVersion: active}
	for i, a := range artifacts {
		m.Versions = append(m.Versions, scene.ManifestEntry{Version: i + 1, Artifact: a})
	}
	data, err := scene.EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestResolveBatch(t *testing.T) {
	b, err := scene.ResolveBatch(scene.Ref{Project: "p", Episode: "7", Batch: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Token != "ep_007" || b.Flat() != "ep_007_B1.json" || b.Manifest() != "ep_007_B1.versions.json" ||
		b.Lock() != "ep_007_B1.versions.lock" || b.Version(2) != "ep_007_B1.v002.json" {
		t.Fatalf("names: %+v %s %s %s %s", b, b.Flat(), b.Manifest(), b.Lock(), b.Version(2))
	}
	for _, tc := range []struct {
		name string
		ref  scene.Ref
		code settle.Code
	}{
		{"bad project", scene.Ref{Project: "../x", Episode: "ep_nope", Batch: "B1"}, settle.InvalidInput},
		{"bad episode", scene.Ref{Project: "p", Episode: "ep_nope", Batch: "../B"}, settle.InvalidEpisode},
		{"bad batch", scene.Ref{Project: "p", Episode: "1", Batch: "../B"}, settle.InvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scene.ResolveBatch(tc.ref)
			wantCode(t, err, tc.code)
		})
	}
}

func TestBatchFilesLoadLadder(t *testing.T) {
	b := testBatch
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		version int // active version LoadActive returns
		code    settle.Code
	}{
		{"nothing", nil, 0, settle.NotFound},
		{"flat only", map[string][]byte{b.Flat(): mustEncode(t, batchScene(t, "B1", "s1"))}, 1, ""},
		{"manifest and body", map[string][]byte{
			b.Manifest():     manifestJSON(t, 2, b.Version(1), b.Version(2)),
			b.Version(2):     mustEncode(t, batchScene(t, "B1", "s1")),
			b.Flat():         []byte("not read"),
			b.Version(1):     []byte("not read"),
			"ep_001_B2.json": []byte("not read")}, 2, ""},
		{"registered body missing", map[string][]byte{b.Manifest(): manifestJSON(t, 1, b.Version(1))}, 0, settle.NotFound},
		{"body of another batch", map[string][]byte{
			b.Manifest(): manifestJSON(t, 1, b.Version(1)),
			b.Version(1): mustEncode(t, batchScene(t, "B2", "s1"))}, 0, settle.ManifestIdentity},
		{"unsafe artifact", map[string][]byte{b.Manifest(): manifestJSON(t, 1, "../x.json")}, 0, settle.UnsafeArtifact},
		{"corrupt manifest", map[string][]byte{b.Manifest(): []byte("{"), b.Flat(): mustEncode(t, batchScene(t, "B1"))}, 0, settle.Corrupt},
		{"corrupt flat body", map[string][]byte{b.Flat(): []byte("[]")}, 0, settle.Corrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemFiles()
			for k, v := range tc.files {
				f.files[k] = v
			}
			bf := scene.BatchFiles{Batch: b, Files: f}
			ld, err := bf.LoadActive()
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ld.Version != tc.version || ld.Scene.SceneID != "B1" || ld.Fingerprint != scene.Fingerprint(ld.Scene) {
				t.Fatalf("LoadActive = v%d %q %s", ld.Version, ld.Scene.SceneID, ld.Fingerprint)
			}
			again, err := bf.LoadVersion(tc.version)
			if err != nil || again.Version != tc.version || again.Fingerprint != ld.Fingerprint {
				t.Fatalf("LoadVersion(%d) = v%d, %v", tc.version, again.Version, err)
			}
			if _, err := bf.LoadVersion(9); settle.ErrorCode(err) != settle.NotFound {
				t.Fatalf("LoadVersion(9): %v, want NotFound", err)
			}
			vs, err := bf.Versions()
			if err != nil {
				t.Fatal(err)
			}
			active := 0
			for _, v := range vs {
				if v.Active {
					active = v.Version
				}
			}
			if active != tc.version {
				t.Fatalf("Versions active v%d, want v%d: %+v", active, tc.version, vs)
			}
			if len(f.writes) != 0 {
				t.Fatalf("a read wrote %v", f.writes)
			}
		})
	}
}

func TestBatchFilesVersionsOfFlatBody(t *testing.T) {
	f := newMemFiles()
	flat := batchScene(t, "B1", "s1")
	f.files[testBatch.Flat()] = mustEncode(t, flat)
	vs, err := scene.BatchFiles{Batch: testBatch, Files: f}.Versions()
	if err != nil {
		t.Fatal(err)
	}
	want := []scene.VersionInfo{{ManifestEntry: scene.ManifestEntry{
		Version: 1, Artifact: testBatch.Flat(), StructureFingerprint: scene.Fingerprint(flat),
		Reason: scene.ReasonMaterializedLegacy}, Active: true}}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("Versions = %+v, want %+v", vs, want)
	}
}

func TestBatchFilesWriteCandidate(t *testing.T) {
	f := newMemFiles()
	bf := scene.BatchFiles{Batch: testBatch, Files: f}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	one, fpOne := candidate(t, batchScene(t, "B1", "s1"))
	two, fpTwo := candidate(t, batchScene(t, "B1", "s1", "s2"))
	steps := []struct {
		name     string
		body     []byte
		fp       string
		activate bool
		want     scene.Candidate
		writes   []string
		active   int
	}{
		{"first version is active", one, fpOne, false, scene.Candidate{Version: 1, Created: true, Activated: true},
			[]string{testBatch.Version(1), testBatch.Manifest()}, 1},
		{"same structure is the same version", one, fpOne, true, scene.Candidate{Version: 1}, nil, 1},
		{"new structure stays inactive", two, fpTwo, false, scene.Candidate{Version: 2, Created: true},
			[]string{testBatch.Version(2), testBatch.Manifest()}, 1},
		{"dedupe activates when asked", two, fpTwo, true, scene.Candidate{Version: 2, Activated: true},
			[]string{testBatch.Manifest()}, 2},
	}
	for _, st := range steps {
		f.writes = nil
		got, err := bf.WriteCandidate(st.body, st.fp, "test", st.activate, now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want || !reflect.DeepEqual(f.writes, st.writes) {
			t.Fatalf("%s: %+v writes %v, want %+v writes %v", st.name, got, f.writes, st.want, st.writes)
		}
		ld, err := bf.LoadActive()
		if err != nil || ld.Version != st.active {
			t.Fatalf("%s: active v%d (%v), want v%d", st.name, ld.Version, err, st.active)
		}
	}
	m, err := bf.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := m.Entry(2); e.CreatedAt == nil || *e.CreatedAt != "2026-01-02T03:04:05+00:00" || e.Reason != "test" {
		t.Fatalf("entry v2 = %+v", e)
	}
}

func TestCandidateLogEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    scene.Candidate
		msg  string
		args []any
	}{
		{"created", scene.Candidate{Version: 2, Created: true}, "scene version created",
			[]any{"batch", "B1", "version", 2, "active", false, "reason", "r"}},
		{"created active", scene.Candidate{Version: 1, Created: true, Activated: true}, "scene version created",
			[]any{"batch", "B1", "version", 1, "active", true, "reason", "r"}},
		{"dedupe activated", scene.Candidate{Version: 3, Activated: true}, "scene version activated",
			[]any{"batch", "B1", "version", 3, "dedupe", true}},
		{"unchanged", scene.Candidate{Version: 3}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, args := tc.c.LogEvent("B1", "r")
			if msg != tc.msg || !reflect.DeepEqual(args, tc.args) {
				t.Fatalf("LogEvent = %q %v, want %q %v", msg, args, tc.msg, tc.args)
			}
		})
	}
}

func TestBatchFilesWriteCandidateMaterializes(t *testing.T) {
	f := newMemFiles()
	flat := batchScene(t, "B1", "s1")
	f.files[testBatch.Flat()] = mustEncode(t, flat)
	bf := scene.BatchFiles{Batch: testBatch, Files: f}
	body, fp := candidate(t, flat)
	if c, err := bf.WriteCandidate(body, fp, "r", false, time.Now()); err != nil || c != (scene.Candidate{Version: 1}) || len(f.writes) != 0 {
		t.Fatalf("flat structure: %+v %v writes %v", c, err, f.writes)
	}
	body, fp = candidate(t, batchScene(t, "B1", "s9"))
	c, err := bf.WriteCandidate(body, fp, "r", false, time.Now())
	if err != nil || c != (scene.Candidate{Version: 2, Created: true}) {
		t.Fatalf("new structure: %+v %v", c, err)
	}
	vs, err := bf.Versions()
	if err != nil || len(vs) != 2 || vs[0].Reason != scene.ReasonMaterializedLegacy || !vs[0].Active {
		t.Fatalf("Versions = %+v, %v", vs, err)
	}
}

func TestBatchFilesActivate(t *testing.T) {
	b := testBatch
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		version int
		prev    int
		code    settle.Code
	}{
		{"nothing", nil, 1, 0, settle.NotFound},
		{"flat as v1", map[string][]byte{b.Flat(): mustEncode(t, batchScene(t, "B1"))}, 1, 1, ""},
		{"registered", map[string][]byte{
			b.Manifest(): manifestJSON(t, 1, b.Version(1), b.Version(2)),
			b.Version(2): mustEncode(t, batchScene(t, "B1"))}, 2, 1, ""},
		{"not registered", map[string][]byte{b.Manifest(): manifestJSON(t, 1, b.Version(1))}, 2, 0, settle.NotFound},
		{"body missing", map[string][]byte{b.Manifest(): manifestJSON(t, 1, b.Version(1), b.Version(2))}, 2, 0, settle.NotFound},
		{"body of another batch", map[string][]byte{
			b.Manifest(): manifestJSON(t, 1, b.Version(1), b.Version(2)),
			b.Version(2): mustEncode(t, batchScene(t, "B2"))}, 2, 0, settle.ManifestIdentity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemFiles()
			for k, v := range tc.files {
				f.files[k] = v
			}
			bf := scene.BatchFiles{Batch: b, Files: f}
			prev, err := bf.Activate(tc.version)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if len(f.writes) != 0 {
					t.Fatalf("refused activation wrote %v", f.writes)
				}
				return
			}
			if err != nil || prev != tc.prev {
				t.Fatalf("Activate = %d, %v; want %d", prev, err, tc.prev)
			}
			if ld, err := bf.LoadActive(); err != nil || ld.Version != tc.version {
				t.Fatalf("active v%d (%v), want v%d", ld.Version, err, tc.version)
			}
		})
	}
}

func TestBatchFilesUpdateStatus(t *testing.T) {
	b := testBatch
	errMutate := errors.New("mutate failed")
	setStatus := func(sc *scene.Scene) error {
		sc.SceneMetadata.Set("status", "done")
		return nil
	}
	for _, tc := range []struct {
		name     string
		files    map[string][]byte
		expected int
		mutate   func(*scene.Scene) error
		code     settle.Code
		err      error
		written  string
		cold     bool
	}{
		{"cold start", nil, 1, setStatus, "", nil, b.Flat(), true},
		{"cold start expects v1", nil, 2, setStatus, settle.VersionConflict, nil, "", false},
		{"flat body", map[string][]byte{b.Flat(): mustEncode(t, batchScene(t, "B1", "s1"))}, 1, setStatus, "", nil, b.Flat(), false},
		{"active version", map[string][]byte{
			b.Manifest(): manifestJSON(t, 2, b.Version(1), b.Version(2)),
			b.Version(2): mustEncode(t, batchScene(t, "B1", "s1"))}, 2, setStatus, "", nil, b.Version(2), false},
		{"version moved", map[string][]byte{
			b.Manifest(): manifestJSON(t, 2, b.Version(1), b.Version(2)),
			b.Version(2): mustEncode(t, batchScene(t, "B1", "s1"))}, 1, setStatus, settle.VersionConflict, nil, "", false},
		{"registered body missing", map[string][]byte{b.Manifest(): manifestJSON(t, 1, b.Version(1))}, 1, setStatus, settle.NotFound, nil, "", false},
		{"structure change", map[string][]byte{b.Flat(): mustEncode(t, batchScene(t, "B1", "s1"))}, 1, func(sc *scene.Scene) error {
			sc.Beats = sc.Beats[:0]
			return nil
		}, settle.StructureImmutable, nil, "", false},
		{"mutate error as is", map[string][]byte{b.Flat(): mustEncode(t, batchScene(t, "B1", "s1"))}, 1, func(*scene.Scene) error {
			return errMutate
		}, "", errMutate, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemFiles()
			for k, v := range tc.files {
				f.files[k] = v
			}
			prev := f.files[tc.written]
			w, err := scene.BatchFiles{Batch: b, Files: f}.UpdateStatus(tc.expected, tc.mutate)
			switch {
			case tc.err != nil:
				if err != tc.err {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
			case tc.code != "":
				wantCode(t, err, tc.code)
			case err != nil:
				t.Fatal(err)
			}
			if tc.written == "" {
				if len(f.writes) != 0 {
					t.Fatalf("refused write wrote %v", f.writes)
				}
				return
			}
			if !reflect.DeepEqual(f.writes, []string{tc.written}) || w.Name != tc.written || w.Cold != tc.cold ||
				string(w.Prev) != string(prev) || w.Loaded.Version != tc.expected {
				t.Fatalf("wrote %v, StatusWrite %+v", f.writes, w)
			}
			got, err := scene.DecodeBody(f.files[tc.written])
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := got.SceneMetadata.Get("status"); v != "done" || got.SceneID != "B1" {
				t.Fatalf("written body %s", f.files[tc.written])
			}
		})
	}
}

func TestBatchFilesUpdateStatusNamesMissingBody(t *testing.T) {
	f := newMemFiles()
	f.files[testBatch.Manifest()] = manifestJSON(t, 1, testBatch.Version(1))
	_, err := scene.BatchFiles{Batch: testBatch, Files: f}.UpdateStatus(1, func(*scene.Scene) error { return nil })
	// It names the batch, the version and the manifest's artifact, never
	// the store's path.
	msg := fmtErr(err)
	if !strings.Contains(msg, "batch B1 v1") || !strings.Contains(msg, testBatch.Version(1)) || strings.Contains(msg, "/mem/"+testBatch.Version(1)) {
		t.Fatalf("error %v: want the batch, version and artifact %s, not the path %s", err, testBatch.Version(1), "/mem/"+testBatch.Version(1))
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestBatchFilesSaveRunner(t *testing.T) {
	b := testBatch
	runner := batchScene(t, "B1", "s1")
	t.Run("cold start writes the runner's scene", func(t *testing.T) {
		f := newMemFiles()
		ld, cold, err := scene.BatchFiles{Batch: b, Files: f}.SaveRunner(scene.Cond{Version: 1, Revision: rev(f, b.Flat())}, runner)
		if err != nil || !cold || ld.Scene == nil || !reflect.DeepEqual(f.writes, []string{b.Flat()}) {
			t.Fatalf("SaveRunner = %+v %v %v, writes %v", ld, cold, err, f.writes)
		}
	})
	t.Run("structure change refused", func(t *testing.T) {
		f := newMemFiles()
		f.files[b.Flat()] = mustEncode(t, batchScene(t, "B1", "s1", "s2"))
		_, _, err := scene.BatchFiles{Batch: b, Files: f}.SaveRunner(scene.Cond{Version: 1, Revision: rev(f, b.Flat())}, runner)
		wantCode(t, err, settle.StructureImmutable)
		if len(f.writes) != 0 {
			t.Fatalf("wrote %v", f.writes)
		}
	})
	t.Run("overlay on the active body", func(t *testing.T) {
		f := newMemFiles()
		f.files[b.Manifest()] = manifestJSON(t, 1, b.Version(1))
		f.files[b.Version(1)] = mustEncode(t, batchScene(t, "B1", "s1"))
		ld, cold, err := scene.BatchFiles{Batch: b, Files: f}.SaveRunner(scene.Cond{Version: 1, Revision: rev(f, b.Version(1))}, runner)
		if err != nil || cold || ld.Version != 1 || !reflect.DeepEqual(f.writes, []string{b.Version(1)}) {
			t.Fatalf("SaveRunner = %+v %v %v, writes %v", ld, cold, err, f.writes)
		}
		if ld.Revision != rev(f, b.Version(1)) {
			t.Fatalf("returned revision %s is not the written body's", ld.Revision)
		}
	})
	t.Run("a body that moved since the base is refused", func(t *testing.T) {
		f := newMemFiles()
		f.files[b.Flat()] = mustEncode(t, batchScene(t, "B1", "s1"))
		for _, c := range []scene.Cond{
			{Version: 1, Revision: scene.Revision([]byte("an older body"))},
			{Version: 1},                    // based on no body
			{Version: 1, AnyRevision: true}, // a runner save always names its base
		} {
			_, _, err := scene.BatchFiles{Batch: b, Files: f}.SaveRunner(c, runner)
			want := settle.VersionConflict
			if c.AnyRevision {
				want = settle.InvalidInput
			}
			wantCode(t, err, want)
		}
		if len(f.writes) != 0 {
			t.Fatalf("wrote %v", f.writes)
		}
	})
	t.Run("NoCreate refuses a missing batch", func(t *testing.T) {
		f := newMemFiles()
		_, _, err := scene.BatchFiles{Batch: b, Files: f}.SaveRunner(scene.Cond{Version: 1, NoCreate: true}, runner)
		wantCode(t, err, settle.NotFound)
		_, err = scene.BatchFiles{Batch: b, Files: f}.UpdateStatusIf(scene.Cond{Version: 2, AnyRevision: true, NoCreate: true}, func(*scene.Scene) error { return nil })
		wantCode(t, err, settle.NotFound)
		if len(f.writes) != 0 {
			t.Fatalf("wrote %v", f.writes)
		}
	})
}

// rev is the revision of a stored file, "" when it is absent.
func rev(f *memFiles, name string) string {
	data, ok := f.files[name]
	if !ok {
		return ""
	}
	return scene.Revision(data)
}

func TestBatchFilesSaveFlatAndCreateFlat(t *testing.T) {
	f := newMemFiles()
	bf := scene.BatchFiles{Batch: testBatch, Files: f}
	data := mustEncode(t, batchScene(t, "B1", "s1"))
	if ok, err := bf.CreateFlat(data); !ok || err != nil {
		t.Fatalf("CreateFlat on nothing = %v, %v", ok, err)
	}
	if ok, err := bf.CreateFlat([]byte("other")); ok || err != nil || string(f.files[testBatch.Flat()]) != string(data) {
		t.Fatalf("CreateFlat over a body = %v, %v", ok, err)
	}
	locked := batchScene(t, "B1", "s1")
	locked.Locked = true
	if err := bf.SaveFlat(mustEncode(t, locked), true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, bf.SaveFlat(data, true), settle.SceneLocked)
	if err := bf.SaveFlat(data, false); err != nil || string(f.files[testBatch.Flat()]) != string(data) {
		t.Fatalf("unguarded SaveFlat: %v", err)
	}
}

func TestListedScenes(t *testing.T) {
	names := []string{
		"ep_001_B2.json", "ep_001_B1.json", "ep_001_B1.versions.json", "ep_001_B1.v001.json",
		"ep_001_B1.versions.lock", "ep_002_B1.json", "ep_001_B3.json", "ep_001_B1.json.tmp-1-ab",
	}
	for _, tc := range []struct {
		name   string
		isFile func(string) bool
		want   []string
	}{
		{"every name a file", nil, []string{"ep_001_B1.json", "ep_001_B2.json", "ep_001_B3.json"}},
		{"not a file", func(n string) bool { return n != "ep_001_B2.json" }, []string{"ep_001_B1.json", "ep_001_B3.json"}},
		{"none", func(string) bool { return false }, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scene.ListedScenes(names, "ep_001", tc.isFile); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ListedScenes = %q, want %q", got, tc.want)
			}
		})
	}
}

// memStore is a scene.PlanStore over memFiles with one batch per ref
// (episode 1), without locks; conflicts makes the next UpdateStatus calls
// fail with VersionConflict.
type memStore struct {
	f         *memFiles
	conflicts int
	updates   int
}

func (s *memStore) bf(ref scene.Ref) (scene.BatchFiles, error) {
	b, err := scene.ResolveBatch(ref)
	return scene.BatchFiles{Batch: b, Files: s.f}, err
}

func (s *memStore) Load(_ context.Context, ref scene.Ref) (scene.Loaded, error) {
	bf, err := s.bf(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	return bf.LoadActive()
}

func (s *memStore) UpdateStatus(_ context.Context, ref scene.Ref, expected int, mutate, _ func(*scene.Scene) error) (scene.Loaded, error) {
	s.updates++
	if s.conflicts > 0 {
		s.conflicts--
		return scene.Loaded{}, scene.VersionConflict(ref.Batch, expected, expected+1)
	}
	bf, err := s.bf(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	w, err := bf.UpdateStatus(expected, mutate)
	return w.Loaded, err
}

func (s *memStore) FlatExists(_ context.Context, ref scene.Ref) (bool, error) {
	bf, err := s.bf(ref)
	if err != nil {
		return false, err
	}
	return s.f.Exists(bf.Batch.Flat())
}

func (s *memStore) CreateFlat(_ context.Context, ref scene.Ref, sc *scene.Scene) (bool, error) {
	bf, err := s.bf(ref)
	if err != nil {
		return false, err
	}
	data, err := scene.EncodeBody(sc)
	if err != nil {
		return false, err
	}
	return bf.CreateFlat(data)
}

func TestRecoverStale(t *testing.T) {
	ref := testBatch.Ref
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	withRunning := func(t *testing.T) *memFiles {
		sc := batchScene(t, "B1", "s1")
		ts := "2026-01-01T00:00:00"
		sc.Beats[0].Takes = append(sc.Beats[0].Takes, &scene.Take{TakeID: "t1", Status: scene.TakeRunning, StartedAt: &ts})
		f := newMemFiles()
		f.files[testBatch.Flat()] = mustEncode(t, sc)
		return f
	}
	t.Run("marks and retries a conflict", func(t *testing.T) {
		st := &memStore{f: withRunning(t), conflicts: 2}
		n, v, err := scene.RecoverStale(context.Background(), st, ref, 0, now)
		if err != nil || n != 1 || v.Version != 1 || st.updates != 3 {
			t.Fatalf("RecoverStale = %d v%d %v after %d updates", n, v.Version, err, st.updates)
		}
	})
	t.Run("nothing stale writes nothing", func(t *testing.T) {
		st := &memStore{f: withRunning(t)}
		n, _, err := scene.RecoverStale(context.Background(), st, ref, 48*time.Hour, now)
		if err != nil || n != 0 || len(st.f.writes) != 0 {
			t.Fatalf("RecoverStale = %d %v, writes %v", n, err, st.f.writes)
		}
	})
	t.Run("the version keeps moving", func(t *testing.T) {
		st := &memStore{f: withRunning(t), conflicts: 100}
		_, _, err := scene.RecoverStale(context.Background(), st, ref, 0, now)
		wantCode(t, err, settle.VersionConflict)
		if st.updates != 5 {
			t.Fatalf("%d attempts, want 5", st.updates)
		}
	})
	t.Run("no scene", func(t *testing.T) {
		_, _, err := scene.RecoverStale(context.Background(), &memStore{f: newMemFiles()}, ref, 0, now)
		wantCode(t, err, settle.NotFound)
	})
}

func TestInitFromPlan(t *testing.T) {
	plan := scene.Plan{Root: obj(t, `{"sequences": {"B2": {"shots": [{"shot_id": "a"}]}, "B1": {"shots": []}}}`)}
	f := newMemFiles()
	existing := batchScene(t, "B1", "s1")
	f.files["ep_001_B1.json"] = mustEncode(t, existing)
	st := &memStore{f: f}

	res, err := scene.InitFromPlan(context.Background(), st, "p", "1", plan, 4, true)
	if err != nil || len(res) != 2 || !res[0].Created || res[1].Created || len(f.writes) != 0 {
		t.Fatalf("dry run = %+v, %v, writes %v", res, err, f.writes)
	}
	res, err = scene.InitFromPlan(context.Background(), st, "p", "1", plan, 4, false)
	if err != nil || len(res) != 2 || res[0].Batch != "B2" || !res[0].Created || res[1].Batch != "B1" || res[1].Created {
		t.Fatalf("InitFromPlan = %+v, %v", res, err)
	}
	if !reflect.DeepEqual(f.writes, []string{"ep_001_B2.json", "ep_001_B1.json"}) {
		t.Fatalf("writes %v", f.writes)
	}
	for _, tc := range []struct {
		name     string
		project  string
		episode  string
		plan     string
		maxTakes int
		code     settle.Code
	}{
		{"negative max takes", "p", "1", `{}`, -1, settle.InvalidInput},
		{"bad project", "../p", "1", `{}`, 1, settle.InvalidInput},
		{"bad episode", "p", "ep_x", `{}`, 1, settle.InvalidEpisode},
		{"bad sequence id", "p", "1", `{"sequences": {"B9": {}, "../x": {}}}`, 1, settle.InvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemFiles()
			_, err := scene.InitFromPlan(context.Background(), &memStore{f: f}, tc.project, tc.episode,
				scene.Plan{Root: obj(t, tc.plan)}, tc.maxTakes, false)
			wantCode(t, err, tc.code)
			if len(f.writes) != 0 {
				t.Fatalf("refused plan wrote %v", f.writes)
			}
		})
	}
}
