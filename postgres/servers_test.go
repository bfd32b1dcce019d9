package postgres_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// server is one settle server (its own store, its own pool) on the shared
// schema, behind httptest.
type server struct {
	store *postgres.Store
	http  *httptest.Server
}

func startServer(t *testing.T, schema string) *server {
	t.Helper()
	st := openStore(t, schema, storetest.Config())
	srv, err := httpapi.New(httpapi.Options{
		Ledger: st, Scenes: st, Events: st, Config: storetest.Config(), Root: t.TempDir(),
		Tokens: []httpapi.Token{{TokenSHA256: httpapi.HashToken("tok-op"), Principal: "op", Role: httpapi.RoleOperator}},
		Logger: quiet(), Heartbeat: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &server{store: st, http: hs}
}

func (s *server) client(t *testing.T) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(s.http.URL, "tok-op", httpapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collect follows a server's event stream from after and sends every
// event on the returned channel until the test ends.
func collect(t *testing.T, c *httpapi.Client, after int64) <-chan event.Event {
	t.Helper()
	return testenv.Feed(t, 256, func(ctx context.Context, emit func(event.Event)) {
		_ = c.FollowEvents(ctx, after, nil, func(ev event.Event) error { emit(ev); return nil })
	})
}

// sseClients reads the server's settle_sse_clients gauge from /metrics.
func sseClients(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get(s.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "settle_sse_clients "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("settle_sse_clients %q", v)
			}
			return n
		}
	}
	t.Fatal("no settle_sse_clients in /metrics")
	return 0
}

func next(t *testing.T, ch <-chan event.Event, what string) event.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s event within 15s", what)
		return event.Event{}
	}
}

// TestEventsAcrossServers: settle servers on one PostgreSQL database. A
// write-back through one server reaches the /v1/events stream of the
// other (LISTEN/NOTIFY); concurrent settles through both servers give one
// batch.settled; a stream resumed with Last-Event-ID on either server
// continues with the same events.
func TestEventsAcrossServers(t *testing.T) {
	schema := newSchema(t)
	a, b := startServer(t, schema), startServer(t, schema)
	ca, cb := a.client(t), b.client(t)
	streamB := collect(t, cb, 0)
	// Once B's stream is connected, A's write-backs reach it by NOTIFY, not
	// by catching up.
	testenv.Until(t, 10*time.Second, func() bool { return sseClients(t, b) == 1 })

	tracks := storetest.Tracks("bx", 2)
	for _, tt := range tracks {
		out, err := ca.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(tt.TaskID, tt.TrackID, "bx")})
		if err != nil || out.Decision.Classification != writeback.DurableSuccessWritten {
			t.Fatalf("writeback through server A: %+v %v", out.Decision.Classification, err)
		}
	}
	for i := range tracks {
		ev := next(t, streamB, "writeback.recorded")
		if ev.Type != event.WritebackRecorded || ev.ID != int64(i+1) {
			t.Fatalf("server B streamed %+v", ev)
		}
	}

	var wg sync.WaitGroup
	for i := range 6 {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		wg.Go(func() {
			if _, err := c.Settle(ctx, "bx", tracks, "T2"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	settled := next(t, streamB, "batch.settled")
	if settled.Type != event.BatchSettled || settled.ID != 3 {
		t.Fatalf("server B streamed %+v", settled)
	}
	// One more event from A: the stream must not have carried a second
	// batch.settled before it.
	if err := ca.DeclareBatch(ctx, writeback.Batch{BatchID: "by", Tracks: storetest.Tracks("by", 1)}); err != nil {
		t.Fatal(err)
	}
	out, err := cb.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding("by-task-1", "T1", "by")})
	if err != nil || !out.Decision.Appended {
		t.Fatalf("writeback through server B: %+v %v", out, err)
	}
	if ev := next(t, streamB, "writeback.recorded"); ev.Type != event.WritebackRecorded || ev.ID != 4 {
		t.Fatalf("after the settle server B streamed %+v", ev)
	}

	// Resume from either server after event 1: the same events.
	for name, c := range map[string]*httpapi.Client{"A": ca, "B": cb} {
		ch := collect(t, c, 1)
		for id := int64(2); id <= 4; id++ {
			ev := next(t, ch, fmt.Sprintf("resumed event %d on %s", id, name))
			if ev.ID != id {
				t.Fatalf("resume on %s: event %d, want %d", name, ev.ID, id)
			}
		}
	}
	evs, err := a.store.Since(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		if ev.Type == event.BatchSettled {
			n[ev.Key]++
		}
	}
	// bx by the settles, by by the write-back of its one declared track.
	if len(n) != 2 || n[httpapi.SettledKey("bx")] != 1 || n[httpapi.SettledKey("by")] != 1 {
		t.Fatalf("batch.settled events by key: %v, want one per batch", n)
	}
}
