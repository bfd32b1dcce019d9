package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

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
