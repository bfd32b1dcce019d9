package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// chromiumPath finds a Chromium: CHROMIUM_PATH, else chromium,
// chromium-browser or google-chrome on PATH; without one the browser
// tests skip loudly (fail under CI=true).
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "no Chromium for the browser tests (install chromium or set CHROMIUM_PATH)")
	return ""
}

// newBrowser starts a headless Chromium (no sandbox: the tests run as
// root) with a 1200×800 window and returns a tab's context.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.Headless,
		chromedp.WindowSize(1200, 800), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where the browser tests save a screenshot of each
// page: SETTLE_SCREENSHOT_DIR, else a temporary directory.
func screenshotDir(t testing.TB) string {
	if d := os.Getenv("SETTLE_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

// do runs steps with a deadline, failing the test with what it was doing.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, html)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// loads runs step and waits for the page it navigates to to load.
func (b *browser) loads(what string, step chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	loaded := chromedp.Events(ctx, page.LoadEventFired)
	b.do(what, step)
	for _, err := range loaded {
		if err != nil {
			b.t.Fatalf("%s: %v", what, err)
		}
		return
	}
}

func (b *browser) text(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", css, err)
	}
	return v
}

// shot saves a screenshot of the viewport as name.png.
func (b *browser) shot(name string) []byte {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
	return png
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	b.open("/ui/login")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#board")))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("sign out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#login")))
}

// seedBoard declares a few batches in various states, for a board that
// looks like a working pipeline's.
func seedBoard(t testing.TB, e *env) {
	t.Helper()
	ctx := context.Background()
	disp := e.client("tok-dispatcher")
	for i := 1; i <= 7; i++ {
		id := fmt.Sprintf("render-ep%02d", i)
		var tracks []writeback.TrackTask
		for j := 1; j <= 3; j++ {
			tracks = append(tracks, writeback.TrackTask{TrackID: fmt.Sprintf("T%d", j), TaskID: fmt.Sprintf("%s-task-%d", id, j)})
		}
		if err := disp.DeclareBatch(ctx, writeback.Batch{BatchID: id, Tracks: tracks}); err != nil {
			t.Fatal(err)
		}
		// Declared at different times, for the board's age column.
		at := time.Now().Add(-time.Duration(i*i) * 23 * time.Minute)
		_ = os.Chtimes(filepath.Join(e.root, filepath.FromSlash(file.BatchesRelDir), id+".json"), at, at)
		for j := 1; j <= (i*5)%4+(i%2)*2 && j <= 3; j++ {
			a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(writebackBody(tracks[j-1].TaskID, tracks[j-1].TrackID, id, keyA))})
			if a.status != http.StatusCreated {
				t.Fatalf("write-back: %d %s", a.status, a.body)
			}
		}
	}
}

// TestUIBrowser drives the dashboard in a real headless Chromium: sign
// in, a batch turning settled live, a forged write-back in the refusals
// feed, a version diff, an activation and a stale one, a reader's page and
// a forged cross-site form, and an escaped <script> task id. It saves a
// screenshot of each page; with SETTLE_UPDATE_SCREENSHOTS=1 it rewrites
// the README's docs/img/board.png.
func TestUIBrowser(t *testing.T) {
	path := chromiumPath(t)
	_ = path
	e := startEnv(t, envOptions{})
	seedBoard(t, e)
	seedLedgerActivity(t, e)
	seedUIScene(t, e.scenes, "B1")
	b := &browser{t: t, ctx: newBrowser(t), base: e.url, dir: screenshotDir(t)}

	// Sign in.
	b.open("/ui/")
	if !strings.Contains(b.eval(`location.pathname`), "/ui/login") {
		t.Fatal("a signed-out browser is not sent to the sign-in form")
	}
	b.shot("login")
	b.signIn("tok-operator")
	if got := b.text("#principal"); got != "operator" {
		t.Fatalf("signed in as %q", got)
	}
	if cls := b.eval(`document.documentElement.className`); !strings.Contains(cls, "js") {
		t.Fatal("the page's script did not run")
	}

	// The board: batch B turns settled live when its last track lands.
	b.do("board live", chromedp.WaitVisible(chromedp.CSS(`#live`)))
	if cls := b.eval(`document.getElementById("batch-B").className`); cls != "deferred" {
		t.Fatalf("batch B is %q before its last write-back", cls)
	}
	if a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-b", body: mustJSON(writebackBody("task-2", "T2", "B", keyB))}); a.status != http.StatusCreated {
		t.Fatalf("write-back: %d %s", a.status, a.body)
	}
	b.do("batch B turns settled without a reload", chromedp.WaitVisible(chromedp.CSS(`#batch-B.settled`)))
	if d := b.text(`#batch-B .decision`); !strings.Contains(d, "ALL_SETTLED_CONSOLIDATE") {
		t.Fatalf("settled row shows %q", d)
	}
	if nav := b.eval(`String(performance.getEntriesByType("navigation").length)`); nav != "1" {
		t.Fatalf("the page was reloaded (%s navigations)", nav)
	}
	png := b.shot("board")
	if os.Getenv("SETTLE_UPDATE_SCREENSHOTS") == "1" {
		dst := filepath.Join(testenv.RepoRoot(t), "docs", "img", "board.png")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The batch page.
	b.open("/ui/batches/B")
	if txt := b.text("main"); !strings.Contains(txt, "collector-a") || !strings.Contains(txt, "batch.settled") || !strings.Contains(txt, "batch_consolidated_summary.v1") {
		t.Fatalf("batch page:\n%s", txt)
	}
	b.shot("batch")

	// The forged write-back (collector A naming B's key) is in the feed.
	b.open("/ui/refusals")
	if txt := b.text("#refusals tbody tr:first-child"); !strings.Contains(txt, "collector-a") || !strings.Contains(txt, "FORBIDDEN") || !strings.Contains(txt, keyB) {
		t.Fatalf("newest refusal: %s", txt)
	}
	b.shot("refusals")

	// The diff of v1 and v2 shows the added beat.
	b.open("/ui/scenes/proj/ep_001/B1")
	b.do("compare", chromedp.Submit(chromedp.CSS("#diff-form")), chromedp.WaitVisible(chromedp.CSS("#diff")))
	if txt := b.text("#diff tr.diff-added"); !strings.Contains(txt, "SH_003") {
		t.Fatalf("diff: %s", b.text("#diff"))
	}
	b.shot("scene-diff")

	// An operator activates v2 from the page.
	b.do("activate v2", chromedp.Click(chromedp.CSS(`tr[data-version="2"] button`)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if v := b.text("#active-version"); v != "v2" {
		t.Fatalf("after activation the page shows %s", v)
	}
	b.shot("scene-activated")
	// Another operator moves the pointer; this page's form is stale.
	if err := e.client("tok-operator").Activate(context.Background(), sceneRefB1, 1); err != nil {
		t.Fatal(err)
	}
	b.do("stale activation", chromedp.Click(chromedp.CSS(`tr[data-version="1"] button`)), chromedp.WaitVisible(chromedp.CSS("#refusal")))
	if txt := b.text("#refusal"); !strings.Contains(txt, "412") || !strings.Contains(txt, "moved") {
		t.Fatalf("stale activation shows %q", txt)
	}
	b.shot("scene-stale-412")

	// A forged cross-site form: the operator's browser visits another
	// site whose page posts an activation. It is refused (Origin, CSRF
	// token) and nothing moves.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/ui/scenes/proj/ep_001/B1/activate">
<input name="version" value="2"><input name="expected" value="1"></form><script>document.getElementById("f").submit()</script>`, e.url)
	}))
	defer evil.Close()
	b.do("forged form", chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.CSS("#error-message")))
	if txt := b.text("main"); !strings.Contains(txt, "403") {
		t.Fatalf("forged post: %s", txt)
	}
	b.shot("forged-post-403")
	if l, err := e.scenes.Load(context.Background(), sceneRefB1); err != nil || l.Version != 1 {
		t.Fatalf("the forged post moved the pointer: v%d %v", l.Version, err)
	}

	// Health.
	b.open("/ui/health")
	if txt := b.text("#readiness"); txt != "ready" {
		t.Fatalf("readiness %q", txt)
	}
	b.shot("health")

	// A reader sees no action buttons.
	b.open("/ui/")
	b.signOut()
	b.signIn("tok-reader")
	b.open("/ui/scenes/proj/ep_001/B1")
	if n := b.eval(`String(document.querySelectorAll("form.activate, button.primary").length)`); n != "0" {
		t.Fatalf("a reader's scene page has %s action buttons", n)
	}
	b.shot("scene-reader")

	// An escaped <script> task id.
	const evilTask = `<script>document.title="pwned"</script>`
	if err := e.client("tok-dispatcher").DeclareBatch(context.Background(), writeback.Batch{BatchID: "evil", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: evilTask}}}); err != nil {
		t.Fatal(err)
	}
	b.open("/ui/tasks?task=" + strings.ReplaceAll(strings.ReplaceAll(evilTask, "<", "%3C"), ">", "%3E"))
	if got := b.text("#task-id"); got != evilTask {
		t.Fatalf("task id shows %q, want the text %q", got, evilTask)
	}
	b.open("/ui/batches/evil")
	if title := b.eval(`document.title`); strings.Contains(title, "pwned") {
		t.Fatal("the task id ran as a script")
	}
	if n := b.eval(`String(document.scripts.length)`); n != "1" {
		t.Fatalf("%s script elements, want only the dashboard's", n)
	}
	b.shot("escaped-task")
}

// BenchmarkUIBoard10k measures the board of 10,000 declared batches in
// headless Chromium: from the navigation's start to the document being
// interactive (domInteractive) and to DOMContentLoaded's end, and the
// server's time for the page. The declarations are written as files
// directly (the store's format, without an fsync each) to keep the setup
// short; 100 of the newest batches have write-backs through the API.
func BenchmarkUIBoard10k(b *testing.B) {
	e := startEnv(b, envOptions{})
	dir := filepath.Join(e.root, filepath.FromSlash(file.BatchesRelDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-48 * time.Hour)
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("batch-%05d", i)
		doc, err := writeback.EncodeDocument(writeback.Batch{BatchID: id, Tracks: []writeback.TrackTask{
			{TrackID: "T1", TaskID: id + "-1"}, {TrackID: "T2", TaskID: id + "-2"}, {TrackID: "T3", TaskID: id + "-3"}}})
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, id+".json")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			b.Fatal(err)
		}
		at := base.Add(time.Duration(i) * 10 * time.Second)
		if err := os.Chtimes(path, at, at); err != nil {
			b.Fatal(err)
		}
	}
	for i := 9999; i >= 9900; i-- {
		id := fmt.Sprintf("batch-%05d", i)
		for j := 1; j <= 1+i%3; j++ {
			a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-a", body: mustJSON(writebackBody(fmt.Sprintf("%s-%d", id, j), fmt.Sprintf("T%d", j), id, keyA))})
			if a.status != http.StatusCreated {
				b.Fatalf("write-back: %d %s", a.status, a.body)
			}
		}
	}
	c := newUIClient(b, e.url)
	c.login("tok-reader")
	br := newBrowser(b)
	ctx, cancel := context.WithTimeout(br, 5*time.Minute)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/ui/login"), chromedp.SendKeys(chromedp.CSS("#token"), "tok-reader"),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#board")))
	if err != nil {
		b.Fatal(err)
	}
	type timing struct {
		Interactive float64 `json:"interactive"`
		DCL         float64 `json:"dcl"`
		Rows        int     `json:"rows"`
	}
	var interactive, dcl, server, baseline float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		st, body := c.page("/ui/")
		server += float64(time.Since(start).Microseconds()) / 1000
		if st != http.StatusOK || !strings.Contains(body, "of 10000 declared batches") {
			b.Fatalf("board: %d", st)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/ui/"), chromedp.WaitReady(chromedp.CSS("#board"))); err != nil {
			b.Fatal(err)
		}
		tm, err := chromedp.Run(ctx, chromedp.Evaluate[timing](`(() => { const n = performance.getEntriesByType("navigation")[0];
			return {interactive: n.domInteractive, dcl: n.domContentLoadedEventEnd, rows: document.querySelectorAll("#board tr[data-batch]").length}; })()`))
		if err != nil {
			b.Fatal(err)
		}
		if tm.Rows != 50 {
			b.Fatalf("%d rows on the first page, want 50", tm.Rows)
		}
		interactive += tm.Interactive
		dcl += tm.DCL
		// The same navigation to the near-empty task page: what the
		// browser and the machine cost before the board's own work.
		if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/ui/tasks"), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
			b.Fatal(err)
		}
		bl, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].domInteractive`))
		if err != nil {
			b.Fatal(err)
		}
		baseline += bl
	}
	b.ReportMetric(baseline/float64(b.N), "empty-page-interactive-ms")
	b.ReportMetric(interactive/float64(b.N), "interactive-ms")
	b.ReportMetric(dcl/float64(b.N), "dcl-ms")
	b.ReportMetric(server/float64(b.N), "server-ms")
}

// TestUIBrowserWithoutJavaScript: with script execution disabled, sign
// in, filter the board, open a batch, compare versions and activate one:
// everything but the live updates works without JavaScript.
func TestUIBrowserWithoutJavaScript(t *testing.T) {
	chromiumPath(t)
	e := startEnv(t, envOptions{})
	seedLedgerActivity(t, e)
	seedUIScene(t, e.scenes, "B1")
	b := &browser{t: t, ctx: newBrowser(t), base: e.url, dir: screenshotDir(t)}
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.signIn("tok-operator")
	if js := b.eval(`"ran"`); js != "ran" { // DevTools evaluation still works
		t.Fatalf("evaluate: %q", js)
	}
	b.do("tick deferred only", chromedp.Click(chromedp.CSS(`input[name="deferred"]`)))
	b.loads("filter", chromedp.Submit(chromedp.CSS("#filters")))
	if !strings.Contains(b.eval(`location.search`), "deferred=1") {
		t.Fatal("the filter form did not submit")
	}
	b.do("filtered board", chromedp.WaitVisible(chromedp.CSS(`#batch-B`)))
	if cls := b.eval(`document.documentElement.className`); strings.Contains(cls, "js") {
		t.Fatal("the page's script ran")
	}
	b.do("open batch", chromedp.Click(chromedp.CSS(`#batch-B a`)), chromedp.WaitVisible(chromedp.CSS("#batch-tracks")))
	b.open("/ui/scenes/proj/ep_001/B1")
	b.do("compare", chromedp.Submit(chromedp.CSS("#diff-form")), chromedp.WaitVisible(chromedp.CSS("#diff tr.diff-added")))
	b.do("activate", chromedp.Click(chromedp.CSS(`tr[data-version="2"] button`)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if v := b.text("#active-version"); v != "v2" {
		t.Fatalf("active %s after activation without JavaScript", v)
	}
	b.shot("nojs-scene")
}

// TestPostgresUIBrowserLiveSettle: on the PostgreSQL store, the board
// turns a batch settled live when its last track is written back.
func TestPostgresUIBrowserLiveSettle(t *testing.T) {
	chromiumPath(t)
	e := startEnv(t, envOptions{pg: newSchema(t)})
	seedLedgerActivity(t, e)
	b := &browser{t: t, ctx: newBrowser(t), base: e.url, dir: screenshotDir(t)}
	b.signIn("tok-reader")
	b.do("board live", chromedp.WaitVisible(chromedp.CSS(`#live`)), chromedp.WaitVisible(chromedp.CSS(`#batch-B.deferred`)))
	if a := e.do(call{method: "POST", path: "/v1/writebacks", token: "tok-collector-b", body: mustJSON(writebackBody("task-2", "T2", "B", keyB))}); a.status != http.StatusCreated {
		t.Fatalf("write-back: %d %s", a.status, a.body)
	}
	b.do("batch B turns settled without a reload", chromedp.WaitVisible(chromedp.CSS(`#batch-B.settled`)))
	b.open("/ui/refusals")
	if txt := b.text("#refusals tbody tr:first-child"); !strings.Contains(txt, "FORBIDDEN") {
		t.Fatalf("newest refusal: %s", txt)
	}
	b.shot("postgres-refusals")
}
