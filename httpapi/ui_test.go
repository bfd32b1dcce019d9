package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// uiClient is a browser-like client of the dashboard: a cookie jar, the
// Origin a browser sends, and the session's CSRF token.
type uiClient struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

func newUIClient(t testing.TB, base string) *uiClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{t: t, base: base, hc: &http.Client{Jar: jar}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// page GETs a dashboard path and returns its status and body.
func (c *uiClient) page(path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// do sends req and returns the answer's status and body, keeping the
// page's CSRF token.
func (c *uiClient) do(req *http.Request) (int, string) {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return res.StatusCode, string(b)
}

// post submits a form as a same-origin browser would.
func (c *uiClient) post(path string, form url.Values, origin string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin == "" {
		origin = c.base
	}
	req.Header.Set("Origin", origin)
	return c.do(req)
}

func (c *uiClient) login(token string) {
	c.t.Helper()
	st, body := c.post("/ui/login", url.Values{"token": {token}}, "")
	if st != http.StatusOK || !strings.Contains(body, `id="board"`) {
		c.t.Fatalf("sign-in as %s: %d\n%s", token, st, body)
	}
}

// testSceneJSON is a scene body with the given beats, each with one take
// per status.
func testSceneJSON(batch string, beats []string, statuses ...string) []byte {
	type take struct {
		TakeID string `json:"take_id"`
		Status string `json:"status"`
	}
	type beat struct {
		BeatID   string `json:"beat_id"`
		MaxTakes int    `json:"max_takes"`
		Takes    []take `json:"takes"`
	}
	var bs []beat
	for _, id := range beats {
		b := beat{BeatID: id, MaxTakes: 3, Takes: []take{}}
		for i, s := range statuses {
			b.Takes = append(b.Takes, take{TakeID: id + "-t" + string(rune('1'+i)), Status: s})
		}
		bs = append(bs, b)
	}
	out, _ := json.Marshal(map[string]any{"scene_id": batch, "beats": bs})
	return out
}

// seedUIScene writes v1 (two beats, active) and v2 (a third beat) of a
// scene and returns its ref.
// sceneRefB1 is the scene seedUIScene writes for batch "B1".
var sceneRefB1 = scene.Ref{Project: "proj", Episode: "ep_001", Batch: "B1"}

func seedUIScene(t testing.TB, s scene.Store, batch string) scene.Ref {
	t.Helper()
	ref := scene.Ref{Project: "proj", Episode: "ep_001", Batch: batch}
	ctx := context.Background()
	for i, beats := range [][]string{{"SH_001", "SH_002"}, {"SH_001", "SH_002", "SH_003"}} {
		sc, err := scene.DecodeInput(testSceneJSON(batch, beats, "done", "running"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteCandidate(ctx, ref, sc, "test v"+string(rune('1'+i)), i == 0); err != nil {
			t.Fatal(err)
		}
	}
	return ref
}

func TestUISignInSessionCookie(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := newUIClient(t, e.url)
	st, body := c.page("/ui/")
	if st != http.StatusOK || !strings.Contains(body, `id="login"`) {
		t.Fatalf("signed out: want the sign-in form, got %d\n%s", st, body)
	}
	st, body = c.post("/ui/login", url.Values{"token": {"not-a-token"}}, "")
	if st != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
		t.Fatalf("bad token: %d\n%s", st, body)
	}
	// The cookie: HttpOnly, SameSite=Strict, scoped to /ui/.
	req, _ := http.NewRequest("POST", e.url+"/ui/login", strings.NewReader("token=tok-reader"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc := res.Header.Get("Set-Cookie")
	for _, want := range []string{"settle_session=", "HttpOnly", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in: %d, want 303", res.StatusCode)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	c.login("tok-reader")
	if _, body := c.page("/ui/"); !strings.Contains(body, `id="principal">reader<`) {
		t.Fatalf("the board does not name the principal:\n%s", body)
	}
	// A foreign-origin sign-in is refused.
	st, _ = c.post("/ui/login", url.Values{"token": {"tok-reader"}}, "https://evil.example")
	if st != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d, want 403", st)
	}
	// Signing out ends the session server-side.
	if st, _ := c.post("/ui/logout", url.Values{"csrf": {c.csrf}}, ""); st != http.StatusOK {
		t.Fatalf("sign-out: %d", st)
	}
	if _, body := c.page("/ui/"); !strings.Contains(body, `id="login"`) {
		t.Fatal("still signed in after signing out")
	}
}

func TestUIEscapesRecordStrings(t *testing.T) {
	e := startEnv(t, envOptions{})
	const evil = `<script>alert(1)</script>`
	batch := "b<img src=x onerror=alert(1)>"
	disp := e.client("tok-dispatcher")
	ctx := context.Background()
	if err := disp.DeclareBatch(ctx, writeback.Batch{BatchID: batch, Tracks: []writeback.TrackTask{{TrackID: "T<b>1</b>", TaskID: evil}}}); err != nil {
		t.Fatal(err)
	}
	c := newUIClient(t, e.url)
	c.login("tok-reader")
	for _, path := range []string{"/ui/", "/ui/tasks?task=" + url.QueryEscape(evil), "/ui/batches/" + url.PathEscape(batch)} {
		st, body := c.page(path)
		if st != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, st, body)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>1</b>") {
			t.Fatalf("%s renders a record's string as markup:\n%s", path, body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Fatalf("%s does not show the escaped string:\n%s", path, body)
		}
	}
}

func TestUIActivateCSRFAndRoles(t *testing.T) {
	e := startEnv(t, envOptions{})
	ref := seedUIScene(t, e.scenes, "B1")
	path := "/ui/scenes/proj/ep_001/B1"

	reader := newUIClient(t, e.url)
	reader.login("tok-reader")
	st, body := reader.page(path)
	if st != http.StatusOK || strings.Contains(body, "Activate v") || strings.Contains(body, "/activate") {
		t.Fatalf("a reader sees an activation form (%d):\n%s", st, body)
	}
	// A reader's well-formed post is refused by role.
	st, _ = reader.post(path+"/activate", url.Values{"csrf": {reader.csrf}, "version": {"2"}, "expected": {"1"}}, "")
	if st != http.StatusForbidden {
		t.Fatalf("reader activation: %d, want 403", st)
	}

	op := newUIClient(t, e.url)
	op.login("tok-operator")
	if _, body := op.page(path); !strings.Contains(body, "Activate v2") {
		t.Fatalf("an operator sees no activation form:\n%s", body)
	}
	forged := []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"version": {"2"}, "expected": {"1"}}, ""},
		{"wrong token", url.Values{"csrf": {strings.Repeat("0", 64)}, "version": {"2"}, "expected": {"1"}}, ""},
		{"foreign origin", url.Values{"csrf": {op.csrf}, "version": {"2"}, "expected": {"1"}}, "https://evil.example"},
	}
	for _, f := range forged {
		if st, _ := op.post(path+"/activate", f.form, f.origin); st != http.StatusForbidden {
			t.Errorf("forged post (%s): %d, want 403", f.name, st)
		}
	}
	if l, err := e.scenes.Load(context.Background(), ref); err != nil || l.Version != 1 {
		t.Fatalf("a refused post moved the pointer: v%d %v", l.Version, err)
	}
	st, body = op.post(path+"/activate", url.Values{"csrf": {op.csrf}, "version": {"2"}, "expected": {"1"}}, "")
	if st != http.StatusOK || !strings.Contains(body, "Version 2 is now active") {
		t.Fatalf("activation: %d\n%s", st, body)
	}
	// The same form again: the page showed v1, the scene is at v2.
	st, body = op.post(path+"/activate", url.Values{"csrf": {op.csrf}, "version": {"1"}, "expected": {"1"}}, "")
	if st != http.StatusPreconditionFailed || !strings.Contains(body, `id="refusal"`) {
		t.Fatalf("stale activation: %d, want 412 with the refusal\n%s", st, body)
	}
	if l, _ := e.scenes.Load(context.Background(), ref); l.Version != 2 {
		t.Fatalf("after the stale post the active version is v%d, want v2", l.Version)
	}
	var activated int
	for _, ev := range allEvents(t, e.events) {
		if ev.Type == "scene.activated" && strings.Contains(string(ev.Data), `"principal":"operator"`) {
			activated++
		}
	}
	if activated != 1 {
		t.Fatalf("%d scene.activated events by the operator, want 1", activated)
	}
}

// uiSceneListed seeds scene B1 and returns a client logged in with token
// whose scene list shows it.
func uiSceneListed(t *testing.T, e *env, token string) *uiClient {
	t.Helper()
	seedUIScene(t, e.scenes, "B1")
	c := newUIClient(t, e.url)
	c.login(token)
	_, body := c.page("/ui/scenes")
	if !strings.Contains(body, `href="/ui/scenes/proj/ep_001/B1"`) {
		t.Fatalf("scene list lacks B1:\n%s", body)
	}
	return c
}

func TestUISceneDiffAndGrid(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := uiSceneListed(t, e, "tok-reader")
	_, body := c.page("/ui/scenes/proj/ep_001/B1?a=1&b=2")
	if !regexp.MustCompile(`<tr class="diff-added"><td>SH_003</td>`).MatchString(body) {
		t.Fatalf("the diff does not show SH_003 added:\n%s", body)
	}
	if strings.Contains(body, "diff-removed") || strings.Contains(body, "diff-changed") {
		t.Fatalf("the diff shows more than the added beat:\n%s", body)
	}
	if n := strings.Count(body, `class="take st-running"`); n != 2 {
		t.Fatalf("the takes grid of v1 (2 beats × done, running) shows %d running takes", n)
	}
}

// seedLedgerActivity declares batch B with tracks T1 and T2, writes back
// T1, and has collector A write back a verdict naming collector B's key.
func seedLedgerActivity(t testing.TB, e *env) {
	t.Helper()
	ctx := context.Background()
	if err := e.client("tok-dispatcher").DeclareBatch(ctx, writeback.Batch{BatchID: "B", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}, {TrackID: "T2", TaskID: "task-2"}}}); err != nil {
		t.Fatal(err)
	}
	if a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(writebackBody("task-1", "T1", "B", keyA))}); a.status != http.StatusCreated {
		t.Fatalf("write-back: %d %s", a.status, a.body)
	}
	if a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(writebackBody("task-9", "T9", "B", keyB))}); a.status != http.StatusForbidden {
		t.Fatalf("forged write-back: %d %s", a.status, a.body)
	}
}

func checkLedgerPages(t *testing.T, e *env) {
	seedLedgerActivity(t, e)
	c := newUIClient(t, e.url)
	c.login("tok-reader")
	_, body := c.page("/ui/?deferred=1")
	if !strings.Contains(body, `data-batch="B"`) || !strings.Contains(body, "RECORD_AND_DEFER") || !strings.Contains(body, `class="track present"`) || !strings.Contains(body, `class="track missing"`) {
		t.Fatalf("board:\n%s", body)
	}
	_, body = c.page("/ui/batches/B")
	for _, want := range []string{"task-1", "<code>" + keyA + "</code>", "collector-a", "writeback.recorded", "Not consolidated yet"} {
		if !strings.Contains(body, want) {
			t.Fatalf("batch page lacks %q:\n%s", want, body)
		}
	}
	_, body = c.page("/ui/refusals")
	for _, want := range []string{"collector-a", "FORBIDDEN", "task-9", keyB} {
		if !strings.Contains(body, want) {
			t.Fatalf("refusals feed lacks %q:\n%s", want, body)
		}
	}
	_, body = c.page("/ui/tasks?task=task-1")
	if !strings.Contains(body, `id="classification">NORMAL_CALLBACK_COMPLETED<`) {
		t.Fatalf("task page:\n%s", body)
	}
	// The last track lands: the batch is settled on the next render.
	if a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-b", body: mustJSON(writebackBody("task-2", "T2", "B", keyB))}); a.status != http.StatusCreated {
		t.Fatalf("write-back: %d %s", a.status, a.body)
	}
	_, body = c.page("/ui/batches/B/row")
	if !strings.Contains(body, `class="settled"`) || !strings.Contains(body, "ALL_SETTLED_CONSOLIDATE") {
		t.Fatalf("row after the last write-back:\n%s", body)
	}
	if _, body = c.page("/ui/?deferred=1"); strings.Contains(body, `data-batch="B"`) {
		t.Fatalf("a settled batch is on the deferred-only board:\n%s", body)
	}
	if _, body = c.page("/ui/health"); !strings.Contains(body, `id="readiness">ready<`) {
		t.Fatalf("health:\n%s", body)
	}
}

func TestUILedgerPages(t *testing.T) { checkLedgerPages(t, startEnv(t, envOptions{})) }

func TestPostgresUILedgerPages(t *testing.T) {
	checkLedgerPages(t, startEnv(t, envOptions{pg: newSchema(t)}))
}

func TestPostgresUISceneActivate(t *testing.T) {
	e := startEnv(t, envOptions{pg: newSchema(t)})
	op := uiSceneListed(t, e, "tok-operator")
	op.page("/ui/scenes/proj/ep_001/B1")
	st, body := op.post("/ui/scenes/proj/ep_001/B1/activate", url.Values{"csrf": {op.csrf}, "version": {"2"}, "expected": {"1"}}, "")
	if st != http.StatusOK || !strings.Contains(body, "Version 2 is now active") {
		t.Fatalf("activation: %d\n%s", st, body)
	}
}

var _ = httpapi.RoleReader

func TestUIBoardFiltersAndPages(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	for i := 0; i < 60; i++ {
		id := "batch-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		if err := e.ledger.DeclareBatch(ctx, writeback.Batch{BatchID: id, Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: id + "-1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	c := newUIClient(t, e.url)
	c.login("tok-reader")
	rows := regexp.MustCompile(`<tr id="batch-[^"]*" data-batch=`)
	_, body := c.page("/ui/")
	if n := len(rows.FindAllString(body, -1)); n != 50 || !strings.Contains(body, "page 1 of 2") || !strings.Contains(body, `href="/ui/?page=2"`) {
		t.Fatalf("page 1: %d rows\n%s", n, body)
	}
	_, body = c.page("/ui/?page=2")
	if n := len(rows.FindAllString(body, -1)); n != 10 {
		t.Fatalf("page 2: %d rows", n)
	}
	_, body = c.page("/ui/?q=batch-b")
	if n := len(rows.FindAllString(body, -1)); n != 26 || strings.Contains(body, `data-batch="batch-aa"`) {
		t.Fatalf("id filter: %d rows", n)
	}
	_, body = c.page("/ui/?age=1h")
	if n := len(rows.FindAllString(body, -1)); n != 0 || !strings.Contains(body, "No batch matches") {
		t.Fatalf("older than 1h: %d rows", n)
	}
	if st, _ := c.page("/ui/?age=soon"); st != http.StatusBadRequest {
		t.Fatalf("bad age: %d, want 400", st)
	}
}

// TestUICompactedEventLog: after the event log removed its oldest events,
// the pages read from its retention floor instead of failing.
func TestUICompactedEventLog(t *testing.T) {
	e := startEnv(t, envOptions{})
	seedLedgerActivity(t, e)
	allEvents(t, e.events) // flush posted events
	res, err := e.events.(event.Compactor).Compact(context.Background(), event.Retention{MaxEvents: 1})
	if err != nil || res.Floor == 0 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	c := newUIClient(t, e.url)
	c.login("tok-reader")
	for _, path := range []string{"/ui/", "/ui/batches/B", "/ui/refusals", "/ui/batches/B/row"} {
		if st, body := c.page(path); st != http.StatusOK {
			t.Fatalf("%s after compaction: %d\n%s", path, st, body)
		}
	}
	if _, body := c.page("/ui/"); !strings.Contains(body, `data-batch="B"`) || !strings.Contains(body, "RECORD_AND_DEFER") {
		t.Fatalf("board after compaction:\n%s", body)
	}
}

// TestActivateIfMatch: the API's activation takes an optional If-Match and
// refuses it 412 VERSION_CONFLICT, activating nothing, when the active
// version moved; without If-Match it moves the pointer as before.
func TestActivateIfMatch(t *testing.T) {
	e := startEnv(t, envOptions{})
	ref := seedUIScene(t, e.scenes, "B1")
	path := "/v1/projects/" + ref.Project + "/episodes/" + ref.Episode + "/scenes/" + ref.Batch + "/activate"
	ld, err := e.scenes.Load(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	other := 2
	if ld.Version == 2 {
		other = 1
	}
	stale := httpapi.ETag(ld.Version + 10)
	a := e.do(call{method: "POST", path: path, token: "tok-operator", body: fmt.Sprintf(`{"version": %d}`, other), header: map[string]string{"If-Match": stale}})
	if a.status != http.StatusPreconditionFailed || a.code() != "VERSION_CONFLICT" {
		t.Fatalf("stale If-Match: %d %s", a.status, a.body)
	}
	if now, _ := e.scenes.Load(context.Background(), ref); now.Version != ld.Version {
		t.Fatalf("a refused activation moved the pointer to v%d", now.Version)
	}
	a = e.do(call{method: "POST", path: path, token: "tok-operator", body: fmt.Sprintf(`{"version": %d}`, other), header: map[string]string{"If-Match": httpapi.BodyETag(ld.Version, ld.Revision)}})
	if a.status != http.StatusOK {
		t.Fatalf("current If-Match: %d %s", a.status, a.body)
	}
	a = e.do(call{method: "POST", path: path, token: "tok-operator", body: fmt.Sprintf(`{"version": %d}`, ld.Version)})
	if a.status != http.StatusOK {
		t.Fatalf("no If-Match: %d %s", a.status, a.body)
	}
}
