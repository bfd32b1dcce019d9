package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

const (
	project = "demo"
	episode = "1"
	token   = "ep_001"
)

// sceneJSON is a small valid scene for batch: one beat, one pending take.
func sceneJSON(batch string) string {
	return fmt.Sprintf(`{"scene_id": %q, "beats": [{"beat_id": "SH_001", "beat_metadata": {"plan_shot": {"shot_id": "SH_001"}}, "takes": [{"take_id": "SH_001_t0", "status": "pending"}]}], "scene_metadata": {}}`, batch)
}

func scenePath(batch string) string {
	return "/v1/projects/" + project + "/episodes/" + episode + "/scenes/" + batch
}

// fixture creates what the role matrix's sample calls read: a scene S at
// version 1, a declared and consolidated batch BS, a declared batch B0.
func fixture(t *testing.T, e *env) {
	t.Helper()
	op := func(c call) {
		t.Helper()
		c.token = "tok-operator"
		if a := e.do(c); a.status >= 300 {
			t.Fatalf("fixture %s %s: %d %s", c.method, c.path, a.status, a.body)
		}
	}
	op(call{method: "POST", path: scenePath("S") + "/versions", body: `{"scene": ` + sceneJSON("S") + `, "activate": true}`})
	op(call{method: "PUT", path: "/v1/batches/B0", body: `{"tracks": [{"track_id": "T1", "task_id": "b0-task"}]}`})
	op(call{method: "PUT", path: "/v1/batches/BS", body: `{"tracks": [{"track_id": "T1", "task_id": "bs-task"}]}`})
	op(call{method: "POST", path: "/v1/writebacks", body: mustJSON(writebackBody("bs-task", "T1", "BS", keyA))})
}

// sampleCall is a request of the route that succeeds for a principal
// allowed to make it. uniq keeps write-backs and records distinct.
func sampleCall(rt httpapi.RouteInfo, uniq string) call {
	p := strings.NewReplacer("{task}", "bs-task", "{project}", project, "{episode}", episode, "{version}", "1").Replace(rt.Path)
	c := call{method: rt.Method, path: p}
	switch rt.Method + " " + rt.Path {
	case "POST /v1/writebacks":
		c.body = mustJSON(writebackBody("rm-"+uniq, "T1", "rm-batch", keyA))
	case "POST /v1/writebacks/batch":
		c.body = `{"writebacks": [` + mustJSON(writebackBody("rmb-"+uniq, "T1", "rm-batch", keyA)) + `]}`
	case "POST /v1/registry":
		c.body = fmt.Sprintf(`{"schema": "callback_4tuple_ledger_record.v1", "task_id": "reg-%s", "dispatch_id": "d", "dispatch_cron_id": "dc", "executor": "ex", "chat_id": "c", "normal_collector_cron_id": "ncc", "fallback_callback_cron_id": null, "role": "dispatcher", "status": "REGISTERED", "no_fallback": true, "ts_kst": "2026-01-01T00:00:00+09:00"}`, uniq)
	case "PUT /v1/batches/{batch}":
		c.path = "/v1/batches/decl-" + uniq
		c.body = `{"tracks": [{"track_id": "T1", "task_id": "decl-task"}]}`
	case "POST /v1/batches/{batch}/settle":
		c.path = "/v1/batches/B0/settle"
		c.body = `{}`
	case "GET /v1/batches/{batch}", "GET /v1/batches/{batch}/status":
		c.path = strings.Replace(p, "{batch}", "B0", 1)
	case "GET /v1/batches/{batch}/summary":
		c.path = strings.Replace(p, "{batch}", "BS", 1)
	case "POST /v1/projects/{project}/episodes/{episode}/init":
		c.body = fmt.Sprintf(`{"plan": {"sequences": {"I%s": {"shots": [{"shot_id": "SH_001"}]}}}}`, uniq)
	case "PATCH /v1/projects/{project}/episodes/{episode}/scenes/{batch}":
		c.body = `[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "running"}]`
		c.header = map[string]string{"If-Match": `"1"`, "Content-Type": "application/json-patch+json"}
	case "POST /v1/projects/{project}/episodes/{episode}/scenes/{batch}/save-runner":
		c.body = `{"scene": ` + sceneJSON("S") + `}`
		c.header = map[string]string{"If-Match": `"1"`}
	case "POST /v1/projects/{project}/episodes/{episode}/scenes/{batch}/recover-stale":
		c.body = `{"older_than": "1h"}`
	case "POST /v1/projects/{project}/episodes/{episode}/scenes/{batch}/versions":
		c.body = `{"scene": ` + sceneJSON("S") + `, "reason": "same structure"}`
	case "POST /v1/projects/{project}/episodes/{episode}/scenes/{batch}/activate":
		c.body = `{"version": 1}`
	case "PUT /v1/projects/{project}/episodes/{episode}/scenes/{batch}/flat":
		c.path = scenePath("F"+uniq) + "/flat"
		c.body = `{"scene": ` + sceneJSON("F"+uniq) + `}`
	}
	c.path = strings.Replace(c.path, "{batch}", "S", 1)
	return c
}

// doRoute makes a call; an event stream is closed once its headers came.
func (e *env) doRoute(c call) answer {
	e.t.Helper()
	if c.path != "/v1/events" {
		return e.do(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, c.method, e.url+c.path, nil)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body []byte
	if res.StatusCode != http.StatusOK {
		body = make([]byte, 4096)
		n, _ := res.Body.Read(body)
		body = body[:n]
	}
	return answer{status: res.StatusCode, header: res.Header, body: body}
}

func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				OperationID string   `json:"operationId"`
				Roles       []string `json:"x-settle-roles"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			sort.Strings(op.Roles)
			documented[strings.ToUpper(method)+" "+path] = op.Roles
		}
	}
	served := map[string][]string{}
	for _, rt := range httpapi.Routes() {
		var roles []string
		if rt.Public {
			roles = []string{"public"}
		} else {
			for _, r := range httpapi.Roles {
				if rt.Allows(r) {
					roles = append(roles, string(r))
				}
			}
		}
		sort.Strings(roles)
		served[rt.Method+" "+rt.Path] = roles
	}
	for k, roles := range served {
		d, ok := documented[k]
		if !ok {
			t.Errorf("route %s is not in the OpenAPI document", k)
			continue
		}
		if !slices.Equal(d, roles) {
			t.Errorf("route %s: documented roles %v, served %v", k, d, roles)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("the OpenAPI document lists %s, which the server does not have", k)
		}
	}

	e := startEnv(t, envOptions{})
	a := e.do(call{method: "GET", path: "/v1/openapi.json"})
	if a.status != 200 || string(a.body) != string(httpapi.OpenAPI) || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %s", a.status, a.header)
	}
}

// TestRoleMatrix calls every route as every role, without a token and
// with an unknown token.
func TestRoleMatrix(t *testing.T) {
	e := startEnv(t, envOptions{})
	fixture(t, e)
	n := 0
	for _, rt := range httpapi.Routes() {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			for _, role := range httpapi.Roles {
				n++
				c := sampleCall(rt, fmt.Sprintf("%s-%d", role, n))
				c.token = roleToken[role]
				if strings.HasSuffix(rt.Path, "/save-runner") {
					// A runner save is held to the body it was based on.
					c.header = map[string]string{"If-Match": e.do(call{method: "GET", path: scenePath("S"), token: "tok-reader"}).header.Get("ETag")}
				}
				a := e.doRoute(c)
				if rt.Allows(role) {
					if a.status >= 300 {
						t.Errorf("%s: allowed, got %d %s", role, a.status, a.body)
					}
				} else if a.status != http.StatusForbidden || a.code() != string(settle.Forbidden) {
					t.Errorf("%s: not allowed, got %d %s", role, a.status, a.body)
				}
			}
			n++
			anon := sampleCall(rt, fmt.Sprintf("anon-%d", n))
			a := e.doRoute(anon)
			bad := anon
			bad.token = "not-a-token"
			b := e.doRoute(bad)
			if rt.Public {
				if a.status != 200 || b.status != 200 {
					t.Errorf("public route: %d without a token, %d with a bad one", a.status, b.status)
				}
				return
			}
			for what, x := range map[string]answer{"no token": a, "unknown token": b} {
				if x.status != http.StatusUnauthorized || x.code() != string(settle.Unauthorized) || x.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: %d %s %v", what, x.status, x.body, x.header)
				}
			}
		})
	}
	// Malformed Authorization headers are 401 too.
	for _, h := range []string{"Basic dG9rLXJlYWRlcg==", "Bearer", "Bearer  ", "tok-reader"} {
		req, _ := http.NewRequest("GET", e.url+"/v1/records", nil)
		req.Header.Set("Authorization", h)
		res, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d", h, res.StatusCode)
		}
	}
}

// TestErrorCodes reaches every code of contracts §3 over HTTP.
func TestErrorCodes(t *testing.T) {
	e := startEnv(t, envOptions{})
	fixture(t, e)
	plant := func(name, text string) {
		t.Helper()
		if err := e.scenes.PutSceneFile(context.Background(), project, name, []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	plant(token+"_NOSCHEMA.json", `{"scene_id": "NOSCHEMA", "beats": []}`)
	plant(token+"_BROKEN.json", `{"schema_version": 1, "scene_id": `)
	plant(token+"_UNSAFE.versions.json", `{"active_version": 1, "batch_id": "UNSAFE", "schema_version": 1, "versions": [{"artifact": "../x.json", "created_at": null, "reason": "", "structure_fingerprint": "x", "version": 1}]}`)
	plant(token+"_OTHER.versions.json", `{"active_version": 1, "batch_id": "SOMEONE", "schema_version": 1, "versions": []}`)
	plant(token+"_LOCKED.json", `{"schema_version": 1, "scene_id": "LOCKED", "beats": [], "locked": true, "lock_reason": "final cut"}`)
	op := "tok-operator"
	tests := []struct {
		name   string
		c      call
		status int
		code   settle.Code
	}{
		{"not found: batch", call{method: "GET", path: "/v1/batches/nope", token: op}, 404, settle.NotFound},
		{"not found: scene", call{method: "GET", path: scenePath("NOPE"), token: op}, 404, settle.NotFound},
		{"not found: route", call{method: "GET", path: "/v1/nothing", token: op}, 404, settle.NotFound},
		{"schema mismatch", call{method: "GET", path: scenePath("NOSCHEMA"), token: op}, 422, settle.SchemaMismatch},
		{"corrupt", call{method: "GET", path: scenePath("BROKEN"), token: op}, 422, settle.Corrupt},
		{"invalid episode", call{method: "GET", path: "/v1/projects/demo/episodes/ep_1/scenes", token: op}, 400, settle.InvalidEpisode},
		{"unsafe artifact", call{method: "GET", path: scenePath("UNSAFE"), token: op}, 422, settle.UnsafeArtifact},
		{"manifest identity", call{method: "GET", path: scenePath("OTHER"), token: op}, 422, settle.ManifestIdentity},
		{"scene locked", call{method: "PUT", path: scenePath("LOCKED") + "/flat", token: op, body: `{"scene": ` + sceneJSON("LOCKED") + `}`}, 423, settle.SceneLocked},
		{"structure immutable", call{method: "PATCH", path: scenePath("S"), token: op, header: map[string]string{"If-Match": `"1"`},
			body: `[{"op": "add", "path": "/beats/-", "value": {"beat_id": "SH_002"}}]`}, 409, settle.StructureImmutable},
		{"version conflict", call{method: "PATCH", path: scenePath("S"), token: op, header: map[string]string{"If-Match": `"7"`},
			body: `[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "running"}]`}, 412, settle.VersionConflict},
		{"identity mismatch", call{method: "POST", path: scenePath("S") + "/versions", token: op, body: `{"scene": ` + sceneJSON("T") + `}`}, 409, settle.IdentityMismatch},
		{"invalid input: not JSON", call{method: "POST", path: "/v1/writebacks", token: op, body: `{`}, 400, settle.InvalidInput},
		{"invalid input: unknown field", call{method: "PUT", path: "/v1/batches/X", token: op, body: `{"tracks": [], "extra": 1}`}, 400, settle.InvalidInput},
		{"invalid input: trailing data", call{method: "PUT", path: "/v1/batches/X", token: op, body: `{"tracks": []} {}`}, 400, settle.InvalidInput},
		{"invalid input: empty body", call{method: "POST", path: "/v1/registry", token: op}, 400, settle.InvalidInput},
		{"invalid input: invalid registry record", call{method: "POST", path: "/v1/registry", token: op, body: `{"schema": "x"}`}, 400, settle.InvalidInput},
		{"invalid input: verdict not an object", call{method: "POST", path: "/v1/writebacks", token: op, body: `{"verdict": [1], "batch_id": "b"}`}, 400, settle.InvalidInput},
		{"invalid input: bad batch id", call{method: "PUT", path: "/v1/batches/a%2Fb", token: op, body: `{"tracks": []}`}, 400, settle.InvalidInput},
		{"invalid input: bad query", call{method: "GET", path: "/v1/records?kind=bogus", token: op}, 400, settle.InvalidInput},
		{"invalid input: If-Match not a version", call{method: "PATCH", path: scenePath("S"), token: op, header: map[string]string{"If-Match": `*`}, body: `[]`}, 400, settle.InvalidInput},
		{"precondition required", call{method: "PATCH", path: scenePath("S"), token: op, body: `[]`}, 428, settle.InvalidInput},
		{"too large", call{method: "POST", path: "/v1/writebacks", token: op, body: `{"verdict": "` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`}, 413, settle.InvalidInput},
		{"method not allowed", call{method: "DELETE", path: "/v1/records", token: op}, 405, settle.InvalidInput},
		{"unauthorized", call{method: "GET", path: "/v1/records"}, 401, settle.Unauthorized},
		{"forbidden", call{method: "POST", path: "/v1/registry", token: "tok-reader", body: `{}`}, 403, settle.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(tt.c)
			if a.status != tt.status || a.code() != string(tt.code) {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if a.header.Get(httpapi.HeaderRequestID) == "" {
				t.Errorf("no %s header", httpapi.HeaderRequestID)
			}
			var eb httpapi.ErrorBody
			a.json(t, &eb)
			if eb.Error.Message == "" || strings.HasPrefix(eb.Error.Message, string(tt.code)) {
				t.Errorf("message %q: want a message without the code prefix", eb.Error.Message)
			}
		})
	}
	// The 405 names the allowed methods.
	if a := e.do(call{method: "DELETE", path: "/v1/records", token: op}); a.header.Get("Allow") != "GET" {
		t.Errorf("Allow: %q", a.header.Get("Allow"))
	}
	// PATH_REFUSED is a configuration refusal (a ledger outside the
	// allowlist): the server never opens such a ledger, so no request can
	// meet it; its status is checked here through the same mapping.
	if settle.HTTPStatus(settle.PathRefused) != 403 {
		t.Fatal("PATH_REFUSED is not 403")
	}
}

func TestWritebackDecisionStatuses(t *testing.T) {
	e := startEnv(t, envOptions{})
	op := "tok-operator"
	post := func(body any) answer {
		t.Helper()
		return e.do(call{method: "POST", path: "/v1/writebacks", token: op, body: mustJSON(body)})
	}
	decision := func(a answer) writeback.Decision {
		t.Helper()
		var d writeback.Decision
		a.json(t, &d)
		return d
	}
	wb := writebackBody("task-1", "T1", "B1", keyA)
	tests := []struct {
		name   string
		body   any
		status int
		class  string
	}{
		{"durable success", wb, 201, writeback.DurableSuccessWritten},
		{"idempotent skip", wb, 200, writeback.WritebackIdempotentSkip},
		{"binding conflict: another verdict", httpapi.WritebackBody{
			Verdict: json.RawMessage(strings.Replace(verdict("task-1", "T1", keyA), "AUTHORITATIVE_PASS", "PASS", 1)), BatchID: "B1", TrackID: "T1"}, 409, writeback.WritebackBindingConflict},
		{"track mismatch", httpapi.WritebackBody{Verdict: wb.Verdict, BatchID: "B1", TrackID: "T1", Expected: json.RawMessage(`{"track_id": "T9"}`)}, 409, writeback.TrackMismatch},
		{"self chain", writebackBody("task-2", "T1", "B1", "exec000000000001"), 403, writeback.SelfChainNoWriteback},
		{"dry run success", httpapi.WritebackBody{Verdict: json.RawMessage(verdict("task-3", "T1", keyA)), BatchID: "B1", DryRun: true}, 200, writeback.DurableSuccessWritten},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(tt.body)
			if d := decision(a); a.status != tt.status || d.Classification != tt.class {
				t.Fatalf("got %d %s, want %d %s", a.status, a.body, tt.status, tt.class)
			}
		})
	}
	// The dry run wrote nothing.
	recs, err := e.ledger.Records(context.Background(), writeback.RecordQuery{TaskID: "task-3", After: -1})
	if err != nil || len(recs.Records) != 0 {
		t.Fatalf("dry run wrote %v %v", recs.Records, err)
	}
	// source_path is recorded as source_result_path, relative to the root.
	a := post(httpapi.WritebackBody{Verdict: json.RawMessage(verdict("task-4", "T1", keyA)), BatchID: "B1", SourcePath: filepath.Join(e.root, "results", "task-4.json")})
	if d := decision(a); a.status != 201 || d.DurableRecord.SourceResultPath != "results/task-4.json" {
		t.Fatalf("source path: %d %s", a.status, a.body)
	}
	a = post(httpapi.WritebackBody{Verdict: json.RawMessage(verdict("task-5", "T1", keyA)), BatchID: "B1"})
	if d := decision(a); a.status != 201 || !strings.HasPrefix(d.DurableRecord.SourceResultPath, "api:verdict-sha256:") {
		t.Fatalf("default source path: %d %s", a.status, a.body)
	}
	// A batch id no declaration can have is refused, not recorded.
	if a := post(writebackBody("task-6", "T1", "a/b", keyA)); a.status != 400 || a.code() != string(settle.InvalidInput) {
		t.Fatalf("undeclarable batch id: %d %s", a.status, a.body)
	}
	// A binding and a verdict together are refused.
	b := writeback.Binding{TaskID: "x"}
	if a := post(httpapi.WritebackBody{Binding: &b, BatchID: "B1"}); a.status != 400 {
		t.Fatalf("binding with batch_id: %d %s", a.status, a.body)
	}
	if a := post(httpapi.WritebackBody{BatchID: "B1"}); a.status != 400 {
		t.Fatalf("no verdict: %d %s", a.status, a.body)
	}
	if a := post(httpapi.WritebackBody{Verdict: wb.Verdict}); a.status != 400 {
		t.Fatalf("no batch: %d %s", a.status, a.body)
	}
}

// TestForgedCollectorRefused: a collector writing back a verdict naming
// another collector key is refused 403 and the refusal is recorded.
func TestForgedCollectorRefused(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	forged := writebackBody("task-f", "T1", "BF", keyB) // collector-a's token, key B's verdict

	dry := forged
	dry.DryRun = true
	a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(dry)})
	if a.status != 403 || a.code() != string(settle.Forbidden) {
		t.Fatalf("dry run: %d %s", a.status, a.body)
	}
	if recs, _ := e.ledger.Records(ctx, writeback.RecordQuery{After: -1}); len(recs.Records) != 0 {
		t.Fatalf("a dry run recorded %d records", len(recs.Records))
	}

	a = e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(forged)})
	var fb httpapi.ForbiddenBody
	a.json(t, &fb)
	if a.status != 403 || fb.Error.Code != string(settle.Forbidden) || !fb.ConflictRecorded || fb.Decision == nil ||
		fb.Decision.Appended || a.header.Get(httpapi.HeaderConflictRecorded) != "true" {
		t.Fatalf("forged: %d %s", a.status, a.body)
	}
	if !strings.Contains(fb.Error.Message, keyA) || !strings.Contains(fb.Error.Message, keyB) {
		t.Errorf("message does not name both keys: %s", fb.Error.Message)
	}
	recs, err := e.ledger.Records(ctx, writeback.RecordQuery{After: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 || recs.Records[0].Kind != writeback.KindConflict || recs.Records[0].Conflict.Candidate == nil ||
		recs.Records[0].Conflict.Candidate.CollectorKey != keyB {
		t.Fatalf("ledger after the forged write-back: %+v", recs.Records)
	}
	evs := allEvents(t, e.events)
	if len(evs) != 1 || evs[0].Type != event.WritebackRefused || !strings.Contains(string(evs[0].Data), `"code":"FORBIDDEN"`) ||
		!strings.Contains(string(evs[0].Data), `"principal":"collector-a"`) {
		t.Fatalf("events: %+v", evs)
	}
	// The Go client reports it as a FORBIDDEN error.
	_, err = e.client("tok-collector-a").PostWriteback(ctx, forged)
	if settle.ErrorCode(err) != settle.Forbidden {
		t.Fatalf("client: %v", err)
	}
	// The key's own collector writes it back.
	r, err := e.client("tok-collector-b").PostWriteback(ctx, forged)
	if err != nil || r.Status != 201 || r.Decision.Classification != writeback.DurableSuccessWritten {
		t.Fatalf("own collector: %+v %v", r, err)
	}
	// A binding sent directly is held to the same rule.
	b := r.Decision.DurableRecord
	bind := writeback.Binding{TaskID: "task-g", TrackID: b.TrackID, DispatchID: b.DispatchID, DispatchIDSource: b.DispatchIDSource,
		NormalCollectorCronID: b.NormalCollectorCronID, NormalCollectorCronIDSource: b.NormalCollectorCronIDSource, CollectorKey: keyB,
		CollectorRole: "ANU", AuthoritativeVerdict: b.AuthoritativeVerdict, TerminalStatus: b.TerminalStatus, CompletedAt: b.CompletedAt,
		SourceResultPath: "x", BatchID: "BF", ExecutorKey: b.ExecutorKey}
	if _, err := e.client("tok-collector-a").Writeback(ctx, writeback.WritebackRequest{Binding: bind}); settle.ErrorCode(err) != settle.Forbidden {
		t.Fatalf("forged binding: %v", err)
	}
}

func TestIfMatch(t *testing.T) {
	e := startEnv(t, envOptions{})
	fixture(t, e)
	patch := `[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "running"}]`
	runner := `{"scene": ` + sceneJSON("S") + `}`
	etag := func() string {
		t.Helper()
		get := e.do(call{method: "GET", path: scenePath("S"), token: "tok-reader"})
		var sb httpapi.SceneBody
		get.json(t, &sb)
		if get.status != 200 || get.header.Get("ETag") != httpapi.BodyETag(sb.Version, sb.Revision) || len(sb.Revision) != 64 {
			t.Fatalf("GET: %d %v %s", get.status, get.header, get.body)
		}
		return get.header.Get("ETag")
	}
	first := etag()
	if !strings.HasPrefix(first, `"1-`) {
		t.Fatalf("ETag %s is not of version 1", first)
	}
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
	}{
		{"patch without If-Match", scenePath("S"), patch, nil, 428},
		{"runner save without If-Match", scenePath("S") + "/save-runner", runner, nil, 428},
		{"patch with a moved version", scenePath("S"), patch, map[string]string{"If-Match": `"2"`}, 412},
		{"runner save with a moved version", scenePath("S") + "/save-runner", runner, map[string]string{"If-Match": `"2"`}, 412},
		{"weak ETag", scenePath("S"), patch, map[string]string{"If-Match": `W/"1"`}, 400},
		{"not a revision", scenePath("S"), patch, map[string]string{"If-Match": `"1-abc"`}, 400},
		// A version tag names no body: a runner save with it is based on none.
		{"runner save with the version tag", scenePath("S") + "/save-runner", runner, map[string]string{"If-Match": `"1"`}, 412},
		{"runner save at the body's ETag", scenePath("S") + "/save-runner", runner, map[string]string{"If-Match": first}, 200},
		{"patch at the body's ETag", scenePath("S"), patch, map[string]string{"If-Match": first}, 200},
		// The patch moved the body: the ETag both were based on is stale.
		{"runner save at a stale ETag", scenePath("S") + "/save-runner", runner, map[string]string{"If-Match": first}, 412},
		{"patch at a stale ETag", scenePath("S"), patch, map[string]string{"If-Match": first}, 412},
		// A version tag lets a patch merge onto the latest body.
		{"patch at the version tag", scenePath("S"), patch, map[string]string{"If-Match": `"1"`}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "PATCH"
			if strings.HasSuffix(tc.path, "save-runner") {
				method = "POST"
			}
			a := e.do(call{method: method, path: tc.path, token: "tok-runner", body: tc.body, header: tc.header})
			if a.status != tc.status {
				t.Fatalf("got %d %s, want %d", a.status, a.body, tc.status)
			}
			if a.status == 200 && a.header.Get("ETag") != etag() {
				t.Fatalf("ETag after the save: %q, GET says %q", a.header.Get("ETag"), etag())
			}
		})
	}
	if etag() == first {
		t.Fatalf("a status save did not move the ETag")
	}
	// A new active version moves the ETag: the old one is 412, the new 200.
	a := e.do(call{method: "POST", path: scenePath("S") + "/versions", token: "tok-operator",
		body: `{"scene": ` + strings.Replace(sceneJSON("S"), `"beats": [`, `"beats": [{"beat_id": "SH_000", "beat_metadata": {"plan_shot": {"shot_id": "SH_000"}}, "takes": []}, `, 1) + `, "activate": true}`})
	var cr httpapi.CandidateResult
	a.json(t, &cr)
	if a.status != 201 || cr.Version != 2 || !cr.Created {
		t.Fatalf("candidate: %d %s", a.status, a.body)
	}
	if a := e.do(call{method: "PATCH", path: scenePath("S"), token: "tok-runner", body: patch, header: map[string]string{"If-Match": `"1"`}}); a.status != 412 {
		t.Fatalf("stale ETag: %d %s", a.status, a.body)
	}
	patch2 := `[{"op": "replace", "path": "/beats/1/takes/0/status", "value": "succeeded"}]`
	if a := e.do(call{method: "PATCH", path: scenePath("S"), token: "tok-runner", body: patch2, header: map[string]string{"If-Match": `"2"`}}); a.status != 200 || !strings.HasPrefix(a.header.Get("ETag"), `"2-`) {
		t.Fatalf("new ETag: %d %s", a.status, a.body)
	}
}

func TestHealthMetricsAndRequestIDs(t *testing.T) {
	e := startEnv(t, envOptions{})
	fixture(t, e)
	if a := e.do(call{method: "GET", path: "/healthz"}); a.status != 200 {
		t.Fatalf("healthz %d", a.status)
	}
	if a := e.do(call{method: "GET", path: "/readyz"}); a.status != 200 {
		t.Fatalf("readyz %d %s", a.status, a.body)
	}
	a := e.do(call{method: "GET", path: "/v1/records", token: "tok-reader", header: map[string]string{httpapi.HeaderRequestID: "my-req.42"}})
	if a.header.Get(httpapi.HeaderRequestID) != "my-req.42" {
		t.Fatalf("request id not echoed: %v", a.header)
	}
	a = e.do(call{method: "GET", path: "/v1/records", token: "tok-reader", header: map[string]string{httpapi.HeaderRequestID: "bad id!"}})
	if id := a.header.Get(httpapi.HeaderRequestID); len(id) != 16 {
		t.Fatalf("generated request id %q", id)
	}
	m := e.do(call{method: "GET", path: "/metrics"})
	if m.status != 200 {
		t.Fatalf("metrics %d", m.status)
	}
	text := string(m.body)
	for _, want := range []string{
		`settle_http_requests_total{code="201",method="POST",route="/v1/writebacks"} 1`,
		`settle_http_request_duration_seconds_bucket{method="POST",route="/v1/writebacks",le=`,
		`settle_ledger_records{kind="durable"} 1`,
		`settle_ledger_index_bytes `,
		`settle_ledger_fsyncs_total `,
		`settle_ledger_group_commit_size_bucket{le="1"}`,
		`settle_events_fsync_seconds_bucket{le=`,
		`settle_events_group_commit_size_count `,
		`settle_writeback_decisions_total{classification="DURABLE_SUCCESS_WRITTEN"} 1`,
		`settle_batch_settled_total 1`,
		`settle_http_requests_in_flight `,
		`settle_store_writeback_seconds_count 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if regexp.MustCompile(`route="/v1/batches/B0"`).MatchString(text) {
		t.Error("metrics label a route by its path instead of its pattern")
	}
}

func TestReadyzWhenTheLedgerIsPoisoned(t *testing.T) {
	e := startEnv(t, envOptions{})
	// The next fsync fails: the request fails, and the store refuses
	// writes until it is reopened.
	failFsync(t)
	a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-operator", body: mustJSON(writebackBody("p-1", "T1", "BP", keyA))})
	if a.status != 503 || a.code() != string(settle.Unavailable) {
		t.Fatalf("write-back with a failing fsync: %d %s", a.status, a.body)
	}
	healFsync(t)
	a = e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-operator", body: mustJSON(writebackBody("p-2", "T1", "BP", keyA))})
	if a.status != 503 {
		t.Fatalf("write-back after the failure: %d %s", a.status, a.body)
	}
	r := e.do(call{method: "GET", path: "/readyz"})
	if r.status != 503 || !strings.Contains(string(r.body), "poisoned") {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	if a := e.do(call{method: "GET", path: "/healthz"}); a.status != 200 {
		t.Fatalf("healthz %d", a.status)
	}
	// A restart (a reopened store) serves again; nothing of the failed
	// group is in the ledger.
	e.stop()
	e2 := startEnv(t, envOptions{root: e.root})
	a = e2.do(call{method: "POST", path: "/v1/writebacks", token: "tok-operator", body: mustJSON(writebackBody("p-1", "T1", "BP", keyA))})
	if a.status != 201 {
		t.Fatalf("after reopening: %d %s", a.status, a.body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client("tok-collector-a")
	// An event stream ends when the server shuts down.
	streamDone := make(chan error, 1)
	go func() { streamDone <- c.StreamEvents(ctx, 0, nil, func(event.Event) error { return nil }) }()
	// Write-backs in flight while it shuts down: each either completes
	// (and is durable) or fails without an answer.
	type res struct {
		task string
		ok   bool
	}
	results := make(chan res, 1000)
	stop := make(chan struct{})
	for w := range 16 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				task := fmt.Sprintf("gs-%d-%d", w, i)
				r, err := c.PostWriteback(ctx, writebackBody(task, "T1", "BG", keyA))
				select {
				case results <- res{task, err == nil && r.Status == 201}:
				case <-stop:
					return
				}
			}
		}()
	}
	// Shut down once write-backs have completed, with more in flight.
	testenv.Until(t, 20*time.Second, func() bool { return len(results) >= 32 })
	e.cancel()
	if err := <-e.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	e.cancel = nil
	close(stop)
	select {
	case err := <-streamDone:
		if settle.ErrorCode(err) != settle.Unavailable {
			t.Fatalf("stream after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event stream still open after shutdown")
	}
	acked := map[string]bool{}
	for len(results) > 0 {
		r := <-results
		if r.ok {
			acked[r.task] = true
		}
	}
	if len(acked) == 0 {
		t.Fatal("no write-back completed before the shutdown")
	}
	// The stores are still open (the caller closes them): every
	// acknowledged write-back is in the ledger.
	recs, err := e.ledger.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, After: -1, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for _, r := range recs.Records {
		have[r.Durable.TaskID]++
	}
	for task := range acked {
		if have[task] != 1 {
			t.Errorf("acknowledged %s is in the ledger %d times", task, have[task])
		}
	}
	e.closeStores()
}

func TestRequestLog(t *testing.T) {
	var buf testenv.Buffer
	e := startEnv(t, envOptions{tweak: func(o *httpapi.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	}})
	e.do(call{method: "GET", path: "/v1/batches/nope", token: "tok-reader", header: map[string]string{httpapi.HeaderRequestID: "req-log-1"}})
	var line map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"request_id":"req-log-1"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no log line for the request:\n%s", buf.String())
	}
	for k, want := range map[string]any{"msg": "request", "method": "GET", "route": "/v1/batches/{batch}", "path": "/v1/batches/nope",
		"status": float64(404), "principal": "reader", "role": "reader", "code": "NOT_FOUND", "level": "INFO"} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v (%v)", k, line[k], want, line)
		}
	}
}
