package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

var bg = context.Background()

// eachHardeningEnv runs f on each server the hardening tests run on, the
// fixture loaded: the file store, and the PostgreSQL store when
// SETTLE_TEST_POSTGRES is set.
func eachHardeningEnv(t *testing.T, f func(t *testing.T, e *env)) {
	envs := map[string]func(t *testing.T) *env{
		"file": func(t *testing.T) *env { return startEnv(t, envOptions{}) },
	}
	if os.Getenv("SETTLE_TEST_POSTGRES") != "" {
		envs["postgres"] = func(t *testing.T) *env { return startEnv(t, envOptions{pg: newSchema(t)}) }
	}
	for name, start := range envs {
		t.Run(name, func(t *testing.T) {
			e := start(t)
			fixture(t, e)
			f(t, e)
		})
	}
}

// sceneFileNames lists the server's scenes directory (file store only).
func sceneFileNames(t *testing.T, e *env) []string {
	return testenv.DirNames(t, filepath.Join(e.root, "projects", project, "orchestration", "scenes"))
}

// TestHardeningC_RunnerCannotCreateScenes: a runner's status patch or
// runner save to a batch without a scene is 404 NOT_FOUND, whatever its
// If-Match and whatever structure it carries, and creates nothing; an
// operator's status write still creates one (the seed's cold start).
func TestHardeningC_RunnerCannotCreateScenes(t *testing.T) {
	eachHardeningEnv(t, func(t *testing.T, e *env) {
		before := sceneFileNames(t, e)
		anyStructure := `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_X", "takes": [{"take_id": "t", "status": "succeeded"}]}}]`
		rev := strings.Repeat("0", 64)
		for _, c := range []call{
			{method: "PATCH", path: scenePath("RUNNERMADE"), body: anyStructure, header: map[string]string{"If-Match": `"1"`}},
			{method: "PATCH", path: scenePath("RUNNERMADE"), body: anyStructure, header: map[string]string{"If-Match": `"2"`}},
			{method: "PATCH", path: scenePath("RUNNERMADE"), body: `[]`, header: map[string]string{"If-Match": `"1-` + rev + `"`}},
			{method: "POST", path: scenePath("RUNNERMADE") + "/save-runner", body: `{"scene": ` + sceneJSON("RUNNERMADE") + `}`, header: map[string]string{"If-Match": `"1"`}},
			{method: "POST", path: scenePath("RUNNERMADE") + "/save-runner", body: `{"scene": ` + sceneJSON("RUNNERMADE") + `}`, header: map[string]string{"If-Match": `"1-` + rev + `"`}},
		} {
			c.token = "tok-runner"
			if a := e.do(c); a.status != 404 || a.code() != string(settle.NotFound) {
				t.Fatalf("runner %s If-Match %s: %d %s", c.method, c.header["If-Match"], a.status, a.body)
			}
		}
		if a := e.do(call{method: "GET", path: scenePath("RUNNERMADE"), token: "tok-reader"}); a.status != 404 {
			t.Fatalf("GET after the refusals: %d %s", a.status, a.body)
		}
		if after := sceneFileNames(t, e); !slices.Equal(before, after) {
			t.Fatalf("scenes directory %v, was %v", after, before)
		}
		// The HTTP client (a runner's) gets the same answer.
		_, err := e.client("tok-runner").SaveRunner(bg, storetest.Ref("RUNNERMADE"), 1, "", &scene.Scene{SceneID: "RUNNERMADE"})
		if settle.ErrorCode(err) != settle.NotFound {
			t.Fatalf("client runner save: %v", err)
		}

		a := e.do(call{method: "PATCH", path: scenePath("OPMADE"), token: "tok-operator", body: `[{"op": "add", "path": "/scene_metadata/k", "value": 1}]`, header: map[string]string{"If-Match": `"1"`}})
		if a.status != 200 {
			t.Fatalf("operator cold start: %d %s", a.status, a.body)
		}
		// A runner writes the status of a scene that exists.
		a = e.do(call{method: "PATCH", path: scenePath("OPMADE"), token: "tok-runner", body: `[{"op": "add", "path": "/scene_metadata/k", "value": 2}]`, header: map[string]string{"If-Match": `"1"`}})
		if a.status != 200 {
			t.Fatalf("runner patch of an existing scene: %d %s", a.status, a.body)
		}
	})
}

// TestHardeningD_RunnerSavesOverHTTP: two runners' saves from one GET of
// a scene: the first lands, the second is 412 VERSION_CONFLICT instead of
// replacing the first's takes; after a new GET it lands and both takes
// are kept. RunnerSaveRace then races runners through two clients.
func TestHardeningD_RunnerSavesOverHTTP(t *testing.T) {
	eachHardeningEnv(t, func(t *testing.T, e *env) {
		get := e.do(call{method: "GET", path: scenePath("S"), token: "tok-reader"})
		etag := get.header.Get("ETag")
		withTake := func(id string) string {
			return `{"scene": ` + strings.Replace(sceneJSON("S"), `"status": "pending"}]`, `"status": "pending"}, {"take_id": "`+id+`", "status": "running"}]`, 1) + `}`
		}
		save := func(id, ifMatch string) answer {
			return e.do(call{method: "POST", path: scenePath("S") + "/save-runner", token: "tok-runner", body: withTake(id), header: map[string]string{"If-Match": ifMatch}})
		}
		if a := save("first", etag); a.status != 200 {
			t.Fatalf("first runner: %d %s", a.status, a.body)
		}
		a := save("second", etag)
		if a.status != 412 || a.code() != string(settle.VersionConflict) {
			t.Fatalf("second runner from the same base: %d %s", a.status, a.body)
		}
		// The second runner reloads, keeps what it did not know, saves.
		rc := e.client("tok-runner")
		cur, err := rc.Load(bg, storetest.Ref("S"))
		if err != nil {
			t.Fatal(err)
		}
		if httpapi.BodyETag(cur.Version, cur.Revision) == etag {
			t.Fatalf("the first save did not move the ETag")
		}
		cur.Scene.Beats[0].Takes = append(cur.Scene.Beats[0].Takes, &scene.Take{TakeID: "second", Status: scene.TakeRunning})
		if _, err := rc.SaveRunner(bg, storetest.Ref("S"), cur.Version, cur.Revision, cur.Scene); err != nil {
			t.Fatalf("second runner after reloading: %v", err)
		}
		ld, err := e.client("tok-reader").Load(bg, storetest.Ref("S"))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tk := range ld.Scene.Beats[0].Takes {
			ids = append(ids, tk.TakeID)
		}
		if !slices.Equal(ids, []string{"SH_001_t0", "first", "second"}) {
			t.Fatalf("takes %v", ids)
		}

		storetest.RunnerSaveRace(t, []scene.Store{e.client("tok-operator"), e.client("tok-runner")}, 50)
	})
}

// TestHardeningM_MissingSceneIs404: a runner's patch of a missing scene is
// 404, not the 400 of a patch tried on an empty scene; activating a
// missing scene is 404; neither leaves a file behind.
func TestHardeningM_MissingSceneIs404(t *testing.T) {
	eachHardeningEnv(t, func(t *testing.T, e *env) {
		before := sceneFileNames(t, e)
		a := e.do(call{method: "PATCH", path: scenePath("MISSING"), token: "tok-runner", header: map[string]string{"If-Match": `"1"`},
			body: `[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "succeeded"}]`})
		if a.status != 404 || a.code() != string(settle.NotFound) {
			t.Fatalf("patch of a missing scene: %d %s", a.status, a.body)
		}
		a = e.do(call{method: "POST", path: scenePath("MISSING") + "/activate", token: "tok-operator", body: `{"version": 1}`})
		if a.status != 404 || a.code() != string(settle.NotFound) {
			t.Fatalf("activate of a missing scene: %d %s", a.status, a.body)
		}
		// An operator's failing patch of a missing scene is refused as
		// the seed refuses it, and leaves nothing either.
		a = e.do(call{method: "PATCH", path: scenePath("MISSING"), token: "tok-operator", header: map[string]string{"If-Match": `"1"`},
			body: `[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "succeeded"}]`})
		if a.status != 400 {
			t.Fatalf("operator's failing patch of a missing scene: %d %s", a.status, a.body)
		}
		if after := sceneFileNames(t, e); !slices.Equal(before, after) {
			t.Fatalf("scenes directory %v, was %v", after, before)
		}
	})
}

// Over HTTP every refused name is 400 INVALID_INPUT naming its field, and
// a write-back's batch id follows the batch routes' rule.
func TestHardeningFK_HTTPNames(t *testing.T) {
	e := startEnv(t, envOptions{})
	op := "tok-operator"
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		name, field string
		c           call
	}{
		{"batch route", "batch_id", call{method: "GET", path: "/v1/batches/" + long, token: op}},
		{"batch status", "batch_id", call{method: "GET", path: "/v1/batches/" + long + "/status", token: op}},
		{"declare", "batch_id", call{method: "PUT", path: "/v1/batches/" + long, token: op, body: `{"tracks": [{"track_id": "T1", "task_id": "t"}]}`}},
		{"scene batch", "batch_id", call{method: "GET", path: scenePath(long), token: op}},
		{"scene project", "project", call{method: "GET", path: "/v1/projects/" + long + "/episodes/1/scenes", token: op}},
		{"scene episode", "episode", call{method: "GET", path: "/v1/projects/p/episodes/" + strings.Repeat("1", 300) + "/scenes/B", token: op}},
		{"init sequence", "batch_id", call{method: "POST", path: "/v1/projects/p/episodes/1/init", token: op, body: `{"plan": {"sequences": {"` + long + `": {}}}}`}},
		{"writeback long", "batch_id", call{method: "POST", path: "/v1/writebacks", token: op, body: mustJSON(writebackBody("t1", "T1", long, keyA))}},
		{"writeback dotdot", "batch_id", call{method: "POST", path: "/v1/writebacks", token: op, body: mustJSON(writebackBody("t2", "T1", "../x", keyA))}},
		{"writeback absolute", "batch_id", call{method: "POST", path: "/v1/writebacks", token: op, body: mustJSON(writebackBody("t3", "T1", "/abs", keyA))}},
		{"writeback dot", "batch_id", call{method: "POST", path: "/v1/writebacks", token: op, body: mustJSON(writebackBody("t4", "T1", ".", keyA))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := e.do(c.c)
			if a.status != 400 || a.code() != string(settle.InvalidInput) || !strings.Contains(string(a.body), c.field) {
				t.Fatalf("%d %s, want 400 INVALID_INPUT naming %s", a.status, a.body, c.field)
			}
		})
	}
	recs, err := e.ledger.Records(context.Background(), writeback.RecordQuery{After: -1})
	if err != nil || len(recs.Records) != 0 {
		t.Fatalf("refused write-backs recorded %d records (%v)", len(recs.Records), err)
	}
	if ents, err := os.ReadDir(filepath.Join(e.root, "projects")); err == nil && len(ents) != 0 {
		t.Fatalf("refused scene calls created projects/%s", ents[0].Name())
	}
}

// ?limit=0 and a negative older_than are refused; the client sends a
// negative age instead of dropping it.
func TestHardeningN_HTTPSmallOnes(t *testing.T) {
	e := startEnv(t, envOptions{})
	op := "tok-operator"
	for _, q := range []string{"0", "-1"} {
		if a := e.do(call{method: "GET", path: "/v1/records?limit=" + q, token: op}); a.status != 400 || a.code() != string(settle.InvalidInput) {
			t.Fatalf("limit=%s: %d %s", q, a.status, a.body)
		}
	}
	if a := e.do(call{method: "POST", path: "/v1/projects/p/episodes/1/init", token: op, body: `{"plan": {"sequences": []}}`}); a.status != 400 || a.code() != string(settle.InvalidInput) {
		t.Fatalf("empty plan: %d %s", a.status, a.body)
	}
	c := e.client(op)
	_, err := c.RecoverStale(context.Background(), scene.Ref{Project: "p", Episode: "1", Batch: "B"}, -5*time.Minute, time.Now())
	if settle.ErrorCode(err) != settle.InvalidInput {
		t.Fatalf("client RecoverStale(-5m) = %v, want INVALID_INPUT", err)
	}
}

// A scene body that is a symbolic link to a file outside the root is not
// served: 403 PATH_REFUSED.
func TestHardeningA_HTTPSymlinkedBody(t *testing.T) {
	e := startEnv(t, envOptions{})
	out := t.TempDir()
	secret := filepath.Join(out, "secret.json")
	if err := os.WriteFile(secret, []byte(sceneJSON("L")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.root, "projects", project, "orchestration", "scenes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, token+"_L.json")); err != nil {
		t.Fatal(err)
	}
	a := e.do(call{method: "GET", path: scenePath("L"), token: "tok-operator"})
	if a.status != 403 || a.code() != string(settle.PathRefused) || strings.Contains(string(a.body), "SH_001") {
		t.Fatalf("linked body: %d %s", a.status, a.body)
	}
}

// TestWritebackWithoutCollectorKey: a verdict that names no collector key
// is a 400 INVALID_INPUT naming collector_key, for a collector (before its
// own-key check, which would answer 403 about key "") and for an operator,
// and nothing is recorded.
func TestWritebackWithoutCollectorKey(t *testing.T) {
	e := startEnv(t, envOptions{})
	noKey := `{"task_id": "task-nk", "track": "T1", "authoritative_verdict": "PASS", "ts_kst": "2026-01-01T00:00:00+09:00"}`
	for _, c := range []struct {
		token string
		body  httpapi.WritebackBody
	}{
		{"tok-collector-a", httpapi.WritebackBody{Verdict: json.RawMessage(`{}`), BatchID: "B1"}},
		{"tok-collector-a", httpapi.WritebackBody{Verdict: json.RawMessage(noKey), BatchID: "B1"}},
		{"tok-operator", httpapi.WritebackBody{Verdict: json.RawMessage(noKey), BatchID: "B1"}},
		{"tok-operator", httpapi.WritebackBody{Binding: &writeback.Binding{TaskID: "task-nk", TrackID: "T1", BatchID: "B1", AuthoritativeVerdict: "PASS", CollectorRole: "ANU"}}},
	} {
		a := e.do(call{method: "POST", path: "/v1/writebacks", token: c.token, body: mustJSON(c.body)})
		var eb httpapi.ErrorBody
		a.json(t, &eb)
		if a.status != 400 || eb.Error.Code != string(settle.InvalidInput) || !strings.Contains(eb.Error.Message, "collector_key") {
			t.Fatalf("%s: got %d %s, want 400 INVALID_INPUT naming collector_key", c.token, a.status, a.body)
		}
	}
	recs, err := e.ledger.Records(context.Background(), writeback.RecordQuery{After: -1})
	if err != nil || len(recs.Records) != 0 {
		t.Fatalf("a refused input wrote %d records (%v)", len(recs.Records), err)
	}
}
