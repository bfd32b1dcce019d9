package durable_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
)

// gcItem is one submitted item of the fake store.
type gcItem struct {
	id  string
	err error
	pub bool
}

// gcGroup is a staged group: its items and where they start in the log.
type gcGroup struct {
	from  int
	items []*gcItem
}

// gcStore is an in-memory store behind a GroupCommitter: a log written
// by Stage, a durable prefix moved by Sync, and the published items.
type gcStore struct {
	t  *testing.T
	mu sync.Mutex

	locked    bool
	poison    error
	written   []string
	durable   int
	published []string
	events    []string // begin, stage, sync, end
	inRun     int      // groups staged in the current run
	maxInRun  int

	// syncGate, when set, is received from before each Sync returns;
	// syncErr is returned by the next Sync.
	syncGate chan struct{}
	syncIn   chan struct{} // signalled when a Sync starts (if set)
	staged   chan string   // the first item of each staged group (if set)
	syncErr  error
	// poisoned, when set, is signalled once a failing Sync has poisoned
	// the store; that Sync then returns when failGate is closed.
	poisoned chan struct{}
	failGate chan struct{}
	refused  chan string // the first item of each group Stage refused (if set)
}

func (s *gcStore) hooks() durable.GroupHooks[*gcItem, *gcGroup] {
	return durable.GroupHooks[*gcItem, *gcGroup]{
		Begin: func(ctx context.Context) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.poison != nil {
				return s.poison
			}
			if s.locked {
				s.t.Error("Begin while the run's lock is held")
			}
			s.locked = true
			s.inRun = 0
			s.events = append(s.events, "begin")
			return nil
		},
		Stage: func(items []*gcItem) (*gcGroup, error) {
			s.mu.Lock()
			if s.poison != nil {
				ch := s.refused
				s.mu.Unlock()
				if ch != nil {
					ch <- items[0].id
				}
				return nil, s.poison
			}
			if !s.locked {
				s.t.Error("Stage outside a run")
			}
			g := &gcGroup{from: len(s.written), items: items}
			for _, it := range items {
				s.written = append(s.written, it.id)
			}
			s.inRun++
			s.maxInRun = max(s.maxInRun, s.inRun)
			s.events = append(s.events, "stage")
			ch := s.staged
			s.mu.Unlock()
			if ch != nil {
				ch <- items[0].id
			}
			return g, nil
		},
		Sync: func(gs []*gcGroup) error {
			s.mu.Lock()
			in, gate := s.syncIn, s.syncGate
			s.mu.Unlock()
			if in != nil {
				in <- struct{}{}
			}
			if gate != nil {
				<-gate
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events = append(s.events, "sync")
			if err := s.syncErr; err != nil {
				s.syncErr = nil
				s.poison = err
				s.written = s.written[:gs[0].from]
				if s.poisoned != nil {
					s.mu.Unlock()
					s.poisoned <- struct{}{}
					<-s.failGate
					s.mu.Lock()
				}
				return err
			}
			s.durable = len(s.written)
			return nil
		},
		Publish: func(g *gcGroup) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if g.from != len(s.published) {
				s.t.Errorf("group at %d published after %d items", g.from, len(s.published))
			}
			for _, it := range g.items {
				if len(s.published) >= s.durable {
					s.t.Errorf("%s published before its sync", it.id)
				}
				s.published = append(s.published, it.id)
				it.pub = true
			}
		},
		Fail: func(items []*gcItem, err error) {
			for _, it := range items {
				it.err = err
			}
		},
		End: func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.published) != s.durable && s.poison == nil {
				s.t.Errorf("End with %d items durable but %d published", s.durable, len(s.published))
			}
			s.locked = false
			s.events = append(s.events, "end")
		},
	}
}

func TestGroupCommitOrderAndUnits(t *testing.T) {
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 16, 4, 2)
	const clients, per = 32, 40
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for i := range per {
				// Every third submission is a unit of three items.
				n := 1 + 2*((i%3)/2)
				items := make([]*gcItem, n)
				for k := range items {
					items[k] = &gcItem{id: fmt.Sprintf("%d-%d-%d", g, i, k)}
				}
				if err := c.Submit(context.Background(), items...); err != nil {
					t.Error(err)
					return
				}
				for _, it := range items {
					if it.err != nil || !it.pub {
						t.Errorf("%s: err %v published %v", it.id, it.err, it.pub)
					}
				}
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := 0
	for i := range per {
		want += clients * (1 + 2*((i%3)/2))
	}
	if len(s.published) != want || len(s.written) != want {
		t.Fatalf("published %d, written %d, want %d", len(s.published), len(s.written), want)
	}
	seen := map[string]int{}
	for i, id := range s.published {
		if s.written[i] != id {
			t.Fatalf("published[%d] = %s, written %s: not in order", i, id, s.written[i])
		}
		seen[id]++
	}
	// A unit's items are contiguous: submitted together, staged together.
	for i, id := range s.published {
		var g, n, k int
		fmt.Sscanf(id, "%d-%d-%d", &g, &n, &k)
		if k > 0 && s.published[i-1] != fmt.Sprintf("%d-%d-%d", g, n, k-1) {
			t.Fatalf("unit item %s not after its predecessor (got %s)", id, s.published[i-1])
		}
	}
	if len(seen) != want {
		t.Fatalf("%d distinct items published, want %d", len(seen), want)
	}
	if s.maxInRun > 4 {
		t.Fatalf("a run staged %d groups, MaxRun is 4", s.maxInRun)
	}
	st := c.Stats()
	t.Logf("%d groups, %d items, largest %d", st.Groups, st.Items, st.MaxGroup)
	if st.Items != int64(want) {
		t.Fatalf("stats count %d items, want %d", st.Items, want)
	}
}

// pipeline starts a store whose first Sync blocks until released, submits
// a, waits for its Sync to start, then submits b and waits for b's Stage:
// b is staged while a is being synced.
func pipeline(t *testing.T, s *gcStore, c *durable.GroupCommitter[*gcItem, *gcGroup], a, b *gcItem) (gate chan struct{}, done chan error) {
	t.Helper()
	gate = make(chan struct{})
	s.syncGate = gate
	s.syncIn = make(chan struct{}, 4)
	s.staged = make(chan string, 4)
	done = make(chan error, 2)
	go func() { done <- c.Submit(context.Background(), a) }()
	if id := <-s.staged; id != a.id {
		t.Fatalf("staged %s first", id)
	}
	within(t, s.syncIn)
	go func() { done <- c.Submit(context.Background(), b) }()
	if id := <-s.staged; id != b.id {
		t.Fatalf("staged %s second", id)
	}
	return gate, done
}

// release opens pipeline's gate and waits for both submissions to return.
func release(t *testing.T, gate chan struct{}, done chan error) {
	t.Helper()
	close(gate)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func within(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

func TestGroupCommitOverlap(t *testing.T) {
	reached := 0
	durable.SetFailpoint("group-overlap", func() error { reached++; return nil })
	defer durable.SetFailpoint("group-overlap", nil)
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 0, 0, 0)
	a, b := &gcItem{id: "a"}, &gcItem{id: "b"}
	gate, done := pipeline(t, s, c, a, b)
	// b was staged while a's Sync was still blocked.
	s.mu.Lock()
	if s.durable != 0 || len(s.written) != 2 {
		t.Errorf("b staged with %d durable, %d written; want 0, 2", s.durable, len(s.written))
	}
	s.mu.Unlock()
	release(t, gate, done)
	if a.err != nil || b.err != nil || !a.pub || !b.pub {
		t.Fatalf("a %+v b %+v", a, b)
	}
	if reached != 1 {
		t.Fatalf("group-overlap reached %d times, want 1", reached)
	}
}

func TestGroupCommitFailedSyncFailsPendingGroup(t *testing.T) {
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 0, 0, 0)
	first := &gcItem{id: "first"}
	if err := c.Submit(context.Background(), first); err != nil || first.err != nil {
		t.Fatal(err, first.err)
	}
	boom := errors.New("fsync: input/output error")
	s.mu.Lock()
	s.syncErr = boom
	s.mu.Unlock()
	a, b := &gcItem{id: "a"}, &gcItem{id: "b"}
	gate, done := pipeline(t, s, c, a, b)
	release(t, gate, done)
	if !errors.Is(a.err, boom) || !errors.Is(b.err, boom) || a.pub || b.pub {
		t.Fatalf("a %+v, b %+v: both must fail with the fsync error", a, b)
	}
	// Nothing acknowledged is lost; the store is poisoned.
	s.mu.Lock()
	if len(s.published) != 1 || s.published[0] != "first" || len(s.written) != 1 {
		t.Errorf("published %v, written %v", s.published, s.written)
	}
	s.syncGate, s.syncIn, s.staged = nil, nil, nil
	s.mu.Unlock()
	after := &gcItem{id: "after"}
	if err := c.Submit(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(after.err, boom) || after.pub {
		t.Fatalf("after a failed fsync: %+v, want the poison", after)
	}
}

// A group whose Stage fails because an earlier group's Sync poisoned the
// store is answered after that earlier group: a barrier submitted after a
// post never returns before the post is answered.
func TestGroupCommitStageFailureAnsweredInOrder(t *testing.T) {
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 0, 0, 0)
	boom := errors.New("fsync: input/output error")
	s.mu.Lock()
	s.syncErr = boom
	s.poisoned = make(chan struct{}, 1)
	s.failGate = make(chan struct{})
	s.refused = make(chan string, 1)
	s.mu.Unlock()
	a := &gcItem{id: "a"}
	answered := make(chan string, 2)
	go func() {
		c.Submit(context.Background(), a)
		answered <- "a"
	}()
	within(t, s.poisoned) // a's Sync has poisoned the store, not returned
	b := &gcItem{id: "b"}
	go func() {
		c.Submit(context.Background(), b)
		answered <- "b"
	}()
	// b's Stage fails on the poison while a is still in flight.
	select {
	case id := <-s.refused:
		if id != "b" {
			t.Fatalf("Stage refused %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
	select {
	case who := <-answered:
		t.Fatalf("%s answered while a's failing Sync had not returned", who)
	default:
	}
	close(s.failGate)
	first, second := <-answered, <-answered
	if first != "a" || second != "b" {
		t.Fatalf("answered %s then %s, want a then b", first, second)
	}
	if !errors.Is(a.err, boom) || !errors.Is(b.err, boom) {
		t.Fatalf("a %+v, b %+v: both fail with the fsync error", a, b)
	}
}

func TestGroupCommitReleasesLockBetweenRuns(t *testing.T) {
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 1, 2, 2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				it := &gcItem{id: fmt.Sprintf("%d-%d", g, i)}
				if err := c.Submit(context.Background(), it); err != nil || it.err != nil {
					t.Error(err, it.err)
				}
			}
		})
	}
	wg.Wait()
	c.Drain()
	s.mu.Lock()
	defer s.mu.Unlock()
	// begin (stage|sync)* end, with at most 2 stages per run.
	inRun, stages, runs := false, 0, 0
	for i, e := range s.events {
		switch e {
		case "begin":
			if inRun {
				t.Fatalf("event %d: begin inside a run", i)
			}
			inRun, stages = true, 0
			runs++
		case "end":
			if !inRun {
				t.Fatalf("event %d: end outside a run", i)
			}
			inRun = false
		case "stage":
			if !inRun {
				t.Fatalf("event %d: stage outside a run", i)
			}
			if stages++; stages > 2 {
				t.Fatalf("event %d: third group in one run", i)
			}
		}
	}
	if inRun || runs < 160/2 {
		t.Fatalf("%d runs for 160 one-item groups (MaxRun 2); still in a run: %v", runs, inRun)
	}
}

func TestGroupCommitCancelledBeforeTaken(t *testing.T) {
	s := &gcStore{t: t}
	c := durable.NewGroupCommitter(s.hooks(), 1, 0, 1)
	// a's Sync blocks; depth 1 keeps b queued until it returns.
	gate := make(chan struct{})
	s.syncGate, s.syncIn = gate, make(chan struct{}, 4)
	a := &gcItem{id: "a"}
	done := make(chan error, 1)
	go func() { done <- c.Submit(context.Background(), a) }()
	within(t, s.syncIn)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &gcItem{id: "b"}
	if err := c.Submit(ctx, b); settle.ErrorCode(err) != settle.Unavailable {
		t.Fatalf("cancelled submit: %v, want UNAVAILABLE", err)
	}
	close(gate)
	if err := <-done; err != nil || a.err != nil {
		t.Fatal(err, a.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.written) != 1 {
		t.Fatalf("written %v: the cancelled item was staged", s.written)
	}
}

// The parallel form runs up to depth groups at once, each staged, synced
// and published by its own worker; posted items are answered by the hooks
// alone and DrainTimeout waits for them.
func TestGroupCommitParallelPostDrain(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	var mu sync.Mutex
	published, synced := 0, 0
	c := durable.NewParallelCommitter(durable.GroupHooks[*gcItem, []*gcItem]{
		Stage: func(items []*gcItem) ([]*gcItem, error) {
			entered <- struct{}{}
			<-release
			return items, nil
		},
		Sync: func(gs [][]*gcItem) error {
			if len(gs) != 1 {
				t.Errorf("parallel Sync got %d groups, want 1", len(gs))
			}
			mu.Lock()
			synced++
			mu.Unlock()
			return nil
		},
		Publish: func(g []*gcItem) {
			mu.Lock()
			defer mu.Unlock()
			for _, it := range g {
				it.pub = true
				published++
			}
		},
		Fail: func(items []*gcItem, err error) { t.Errorf("fail: %v", err) },
	}, 0, 2)
	posted := &gcItem{id: "posted"}
	c.Post(posted)
	<-entered
	var wg sync.WaitGroup
	items := []*gcItem{{id: "a"}, {id: "b"}, {id: "c"}}
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Submit(context.Background(), it); err != nil {
				t.Error(err)
			}
		}()
	}
	// The second worker takes a group while the first waits at its
	// Stage: two groups in flight at once.
	<-entered
	if c.DrainTimeout(time.Millisecond) {
		t.Fatal("drained while groups wait at Stage")
	}
	close(release)
	wg.Wait()
	if !c.DrainTimeout(30 * time.Second) {
		t.Fatal("not drained after release")
	}
	mu.Lock()
	defer mu.Unlock()
	if !posted.pub || published != 4 {
		t.Fatalf("posted published %v, %d items published, want 4", posted.pub, published)
	}
	for _, it := range items {
		if !it.pub {
			t.Fatalf("item %s not published", it.id)
		}
	}
	if st := c.Stats(); st.Items != 4 || st.Groups != int64(synced) || st.Groups < 2 {
		t.Fatalf("stats %+v, %d syncs", st, synced)
	}
}

// TestGroupCommitPostOrder: Post returns before its group is durable, is
// counted by Queued while a Sync holds the pipeline, and lands before a
// unit submitted after it; Drain waits for it.
func TestGroupCommitPostOrder(t *testing.T) {
	gate := make(chan struct{})
	s := &gcStore{t: t, syncGate: gate, syncIn: make(chan struct{}, 16)}
	c := durable.NewGroupCommitter(s.hooks(), 16, 4, 1)
	first := &gcItem{id: "first"}
	c.Post(first)
	<-s.syncIn // first is staged and held in its Sync (depth 1)
	posted := &gcItem{id: "posted"}
	c.Post(posted)
	if q := c.Queued(); q != 1 {
		t.Fatalf("queued %d, want 1", q)
	}
	if posted.pub || first.pub {
		t.Fatal("a posted item is published before its Sync")
	}
	after := &gcItem{id: "after"}
	done := make(chan error)
	go func() { done <- c.Submit(context.Background(), after) }()
	close(gate)
	if err := <-done; err != nil || !after.pub {
		t.Fatalf("submit after post: %v published %v", err, after.pub)
	}
	c.Drain()
	s.mu.Lock()
	defer s.mu.Unlock()
	if fmt.Sprint(s.published) != "[first posted after]" {
		t.Fatalf("published %v, want [first posted after]", s.published)
	}
}

// TestGroupCommitInline: a Submit on an idle committer runs Begin, Stage,
// Sync, Publish and End in the calling goroutine (a one-shot command
// starts no goroutine for its write); a Submit arriving while that group
// is synced is still staged meanwhile, by a stager goroutine, and synced
// after it.
func TestGroupCommitInline(t *testing.T) {
	s := &gcStore{t: t}
	h := s.hooks()
	var mu sync.Mutex
	onCaller := map[string]bool{}
	mark := func(hook string) {
		buf := make([]byte, 64<<10)
		stack := string(buf[:runtime.Stack(buf, false)])
		mu.Lock()
		onCaller[hook] = strings.Contains(stack, ".TestGroupCommitInline(") // the test function itself, not a closure of it
		mu.Unlock()
	}
	begin, stage, syncf, publish, end := h.Begin, h.Stage, h.Sync, h.Publish, h.End
	h.Begin = func(ctx context.Context) error { mark("begin"); return begin(ctx) }
	h.Stage = func(items []*gcItem) (*gcGroup, error) { mark("stage"); return stage(items) }
	h.Sync = func(gs []*gcGroup) error { mark("sync"); return syncf(gs) }
	h.Publish = func(g *gcGroup) { mark("publish"); publish(g) }
	h.End = func() { mark("end"); end() }
	c := durable.NewGroupCommitter(h, 0, 0, 0)

	lone := &gcItem{id: "lone"}
	if err := c.Submit(context.Background(), lone); err != nil || lone.err != nil || !lone.pub {
		t.Fatalf("lone submit: %v %+v", err, lone)
	}
	for _, hook := range []string{"begin", "stage", "sync", "publish", "end"} {
		if !onCaller[hook] {
			t.Errorf("%s did not run in the submitting goroutine", hook)
		}
	}
	if got := fmt.Sprint(s.events); got != "[begin stage sync end]" {
		t.Fatalf("events %s", got)
	}

	// a is committed inline; b arrives during a's Sync and is staged
	// before a's Sync returns.
	a, b := &gcItem{id: "a"}, &gcItem{id: "b"}
	gate, done := pipeline(t, s, c, a, b)
	release(t, gate, done)
	if a.err != nil || b.err != nil || !a.pub || !b.pub {
		t.Fatalf("a %+v b %+v", a, b)
	}
	c.Drain()
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := fmt.Sprint(s.published); got != "[lone a b]" {
		t.Fatalf("published %s", got)
	}

	// A cancelled context on an idle committer stages nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.mu.Unlock()
	err := c.Submit(ctx, &gcItem{id: "cancelled"})
	s.mu.Lock()
	if settle.ErrorCode(err) != settle.Unavailable || len(s.written) != 3 {
		t.Fatalf("cancelled submit: %v, written %v", err, s.written)
	}
}
