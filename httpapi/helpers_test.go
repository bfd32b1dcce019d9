package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// Collector keys and tokens of the test servers.
const (
	keyA = "anu0000000000001"
	keyB = "anu0000000000002"
)

var testTokens = map[string]httpapi.Token{
	"tok-collector-a": {Principal: "collector-a", Role: httpapi.RoleCollector, CollectorKey: keyA},
	"tok-collector-b": {Principal: "collector-b", Role: httpapi.RoleCollector, CollectorKey: keyB},
	"tok-dispatcher":  {Principal: "dispatcher", Role: httpapi.RoleDispatcher},
	"tok-runner":      {Principal: "runner", Role: httpapi.RoleRunner},
	"tok-operator":    {Principal: "operator", Role: httpapi.RoleOperator},
	"tok-reader":      {Principal: "reader", Role: httpapi.RoleReader},
}

// roleToken is a token of each role (collector: key A).
var roleToken = map[httpapi.Role]string{
	httpapi.RoleCollector:  "tok-collector-a",
	httpapi.RoleDispatcher: "tok-dispatcher",
	httpapi.RoleRunner:     "tok-runner",
	httpapi.RoleOperator:   "tok-operator",
	httpapi.RoleReader:     "tok-reader",
}

func testConfig() writeback.Config {
	return writeback.Config{CollectorKeys: []string{keyA, keyB}, DefaultChatID: "chat-test-0001"}
}

func quietLogger() *slog.Logger {
	if os.Getenv("SETTLE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// sceneStore is a scene store that can plant files (the file and
// PostgreSQL stores).
type sceneStore interface {
	scene.Store
	storetest.SceneFiles
}

// env is a real server on 127.0.0.1:0 over file stores in a directory
// (or a PostgreSQL schema).
type env struct {
	t          testing.TB
	root       string
	url        string
	srv        *httpapi.Server
	ledger     writeback.Store
	scenes     sceneStore
	events     event.Log
	fileLedger *file.Ledger // nil on PostgreSQL
	closers    []func() error
	cancel     context.CancelFunc
	done       chan error
	hc         *http.Client
}

type envOptions struct {
	// pg, when set, is the PostgreSQL schema the stores use instead of
	// files under root.
	pg      string
	root    string
	addr    string // listen address (default 127.0.0.1:0)
	cfg     *writeback.Config
	tweak   func(*httpapi.Options)
	noReady bool
}

func startEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	root := o.root
	if root == "" {
		root = t.TempDir()
	}
	log := quietLogger()
	cfg := testConfig()
	if o.cfg != nil {
		cfg = *o.cfg
	}
	met := httpapi.NewMetrics()
	e := &env{t: t, root: root, hc: &http.Client{Timeout: 30 * time.Second}}
	var stats func() httpapi.LedgerStats
	health := func() error { return nil }
	if o.pg != "" {
		st, err := postgres.Open(context.Background(), postgres.Options{URL: testenv.PostgresDSN(t), Schema: o.pg, Config: cfg, Logger: log, MaxConns: 16, EventPoll: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		e.ledger, e.scenes, e.events = st, st, st
		e.closers = []func() error{st.Close}
	} else {
		led, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: cfg, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: log, PollInterval: 10 * time.Millisecond, OnCommit: met.ObserveEventCommit})
		if err != nil {
			t.Fatal(err)
		}
		e.ledger, e.scenes, e.events, e.fileLedger = led, sc, ev, led
		e.closers = []func() error{led.Close, sc.Close, ev.Close}
		stats = func() httpapi.LedgerStats {
			s := led.Stats()
			out := httpapi.LedgerStats{Records: map[string]int64{}, IndexBytes: s.IndexBytes, Fsyncs: s.Fsyncs,
				GroupBuckets: file.GroupSizeBuckets[:], GroupCounts: s.GroupSizes, GroupedRequests: s.GroupedRequests, Poisoned: s.Poisoned}
			for k, n := range s.Records {
				out.Records[string(k)] = n
			}
			return out
		}
		health = func() error {
			if led.Stats().Poisoned {
				return fmt.Errorf("ledger poisoned")
			}
			return nil
		}
	}
	var tokens []httpapi.Token
	for tok, p := range testTokens {
		p.TokenSHA256 = httpapi.HashToken(tok)
		tokens = append(tokens, p)
	}
	opts := httpapi.Options{
		Ledger: e.ledger, Scenes: e.scenes, Events: e.events, Config: cfg, Root: root, Tokens: tokens,
		Logger: log, Metrics: met, Heartbeat: 200 * time.Millisecond, LedgerStats: stats, Health: health,
	}
	if o.tweak != nil {
		o.tweak(&opts)
	}
	srv, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the port of a stopped server
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.url, e.srv, e.cancel, e.done = "http://"+ln.Addr().String(), srv, cancel, make(chan error, 1)
	go func() { e.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	if !o.noReady {
		e.waitReady()
	}
	return e
}

// stop shuts the server down and closes the stores (idempotent).
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("serve: %v", err)
	}
	e.cancel = nil
	e.closeStores()
}

func (e *env) closeStores() {
	for _, c := range e.closers {
		c()
	}
	e.closers = nil
}

// newSchema returns a fresh PostgreSQL schema name, dropped at cleanup.
func newSchema(t testing.TB) string {
	t.Helper()
	return testenv.PostgresSchema(t, "h_")
}

func (e *env) waitReady() {
	e.t.Helper()
	c := e.client("tok-reader")
	testenv.Until(e.t, 10*time.Second, func() bool { return c.Ready(context.Background()) == nil })
}

func (e *env) client(token string) *httpapi.Client {
	e.t.Helper()
	c, err := httpapi.NewClient(e.url, token, httpapi.ClientOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// call is one raw HTTP request.
type call struct {
	method, path, token string
	body                string
	header              map[string]string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// code returns the error code of an error body ("" if none).
func (a answer) code() string {
	var eb httpapi.ErrorBody
	if json.Unmarshal(a.body, &eb) != nil {
		return ""
	}
	return eb.Error.Code
}

func (e *env) do(c call) answer {
	e.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.url+c.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: res.StatusCode, header: res.Header, body: b}
}

// verdict is a clean independent verdict document.
func verdict(task, track, key string) string {
	return verdictOf(task, track, "AUTHORITATIVE_PASS", key)
}

// verdictOf is a verdict document with this authoritative verdict.
func verdictOf(task, track, authoritative, key string) string {
	b, _ := json.Marshal(map[string]any{
		"task_id":                  task,
		"track":                    track,
		"authoritative_verdict":    authoritative,
		"collector_role":           "ANU",
		"collector_key":            key,
		"executor_key":             "exec000000000001",
		"dispatch_id":              "dispatch-" + task,
		"normal_collector_cron_id": "ncc-" + task,
		"ts_kst":                   "2026-01-01T00:00:00+09:00",
	})
	return string(b)
}

func writebackBody(task, track, batch, key string) httpapi.WritebackBody {
	return httpapi.WritebackBody{Verdict: json.RawMessage(verdict(task, track, key)), BatchID: batch, TrackID: track}
}

// allEvents reads the whole event log.
func allEvents(t testing.TB, l event.Log) []event.Event {
	t.Helper()
	// Posted events (writeback.recorded) may still be in their group
	// commit when the request that posted them has answered.
	if f, ok := l.(interface{ Flush(context.Context) error }); ok {
		if err := f.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var out []event.Event
	var after int64
	for {
		evs, err := l.Since(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].ID
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
