package durable

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	settle "github.com/settlehq/settle"
)

// GroupHooks are a store's side of a GroupCommitter. R is one submitted
// item (usually a pointer that carries its own answer); G is a staged
// group. The committer calls Begin, Stage and End from its stager
// goroutine, and Sync, Publish and Fail from its syncer goroutine.
type GroupHooks[R, G any] struct {
	// Begin starts a run of groups: typically it takes the file's lock
	// and catches up with other writers. ctx is done once every item of
	// the first group has given up. An error fails that group's items
	// and no run starts (End is not called).
	Begin func(ctx context.Context) error
	// Stage evaluates items against the store plus every group staged
	// earlier in the run (which may not be durable yet) and writes them
	// without syncing. Groups are staged one at a time, in order. An
	// error fails the items; a hook that may have written part of the
	// group must poison the store itself.
	Stage func(items []R) (G, error)
	// Sync makes the groups durable (one fsync covers all of them: they
	// were written in order). On error the hook must poison the store
	// and discard every group staged so far; the committer then fails
	// these groups and every later group of the run.
	Sync func(groups []G) error
	// Publish indexes a durable group. Groups are published in order.
	Publish func(g G)
	// Fail answers items whose group failed (at Begin, Stage or Sync).
	Fail func(items []R, err error)
	// End ends a run: typically it releases the lock, so that other
	// processes get it between runs. No group of the run is in flight.
	End func()
}

// GroupCommitter commits submitted items in groups, pipelined: group N+1
// is staged and written while group N is being fsynced, and groups are
// published in order. A run holds the store's lock for at most MaxRun
// groups, then releases it (End) before the next Begin.
type GroupCommitter[R, G any] struct {
	hooks GroupHooks[R, G]
	// MaxItems bounds the items of one group (a unit is never split, so
	// one unit may exceed it). MaxRun bounds the groups of one run.
	// Depth is how many groups may be in flight (staged, not yet synced).
	maxItems, maxRun, depth int
	// parallel: no runs and no pipeline; up to depth workers each take a
	// group and Stage, Sync and Publish it on their own (see
	// NewParallelCommitter).
	parallel bool

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*unit[R]
	staging bool // the stager goroutine runs
	syncing bool // the syncer goroutine runs
	inRun   bool
	ending  bool // End of the last run is running: no Begin meanwhile
	busy    bool // the stager holds taken units not yet ready or failed
	run     int  // groups staged in the current run
	flight  int  // groups handed to the syncer, not finished
	ready   []*cgroup[R, G]
	runErr  error // a Sync of this run failed
	workers int   // parallel workers running

	groups, items, maxGroup atomic.Int64
}

// Group commit defaults.
const (
	DefaultMaxItems = 256
	DefaultMaxRun   = 64
	DefaultDepth    = 2
)

type unit[R any] struct {
	ctx   context.Context
	items []R
	done  chan struct{}
	taken bool // guarded by the committer's mu
}

type cgroup[R, G any] struct {
	units []*unit[R]
	items []R
	g     G
	// err: the group failed before its Sync (at Begin or Stage) while
	// earlier groups were in flight; it is answered after them.
	err error
}

// NewGroupCommitter returns a committer with the given hooks; maxItems,
// maxRun and depth of 0 take the defaults.
func NewGroupCommitter[R, G any](h GroupHooks[R, G], maxItems, maxRun, depth int) *GroupCommitter[R, G] {
	c := &GroupCommitter[R, G]{hooks: h, maxItems: maxItems, maxRun: maxRun, depth: depth}
	if c.maxItems <= 0 {
		c.maxItems = DefaultMaxItems
	}
	if c.maxRun <= 0 {
		c.maxRun = DefaultMaxRun
	}
	if c.depth <= 0 {
		c.depth = DefaultDepth
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// NewParallelCommitter returns a committer for a store whose groups are
// independent transactions that need no store lock and no order between
// them (a database serializes them itself): up to depth groups run at
// once, each staged, synced (Sync gets that one group) and published by
// its own worker. Begin and End are never called. While one group waits
// for its commit the next is already being evaluated, and items arriving
// meanwhile gather into the group after it. A group is counted in Stats
// when it is taken, before Stage.
func NewParallelCommitter[R, G any](h GroupHooks[R, G], maxItems, depth int) *GroupCommitter[R, G] {
	c := NewGroupCommitter(h, maxItems, 0, depth)
	c.parallel = true
	return c
}

// GroupStats are a committer's counters: groups staged, the items they
// carried and the largest group.
type GroupStats struct {
	Groups   int64 `json:"groups"`
	Items    int64 `json:"items"`
	MaxGroup int64 `json:"max_group"`
}

// Stats returns the committer's counters.
func (c *GroupCommitter[R, G]) Stats() GroupStats {
	return GroupStats{Groups: c.groups.Load(), Items: c.items.Load(), MaxGroup: c.maxGroup.Load()}
}

// Submit queues items as one unit (they land in the same group) and
// returns when that group is published or failed: the answers are in the
// items. If ctx ends before a group takes the unit, Submit gives up with
// UNAVAILABLE and nothing of the unit is staged; once taken, the unit is
// answered after its group's fsync.
func (c *GroupCommitter[R, G]) Submit(ctx context.Context, items ...R) error {
	if len(items) == 0 {
		return nil
	}
	if done, err := c.commitInline(ctx, items); done {
		return err
	}
	u := c.enqueue(ctx, items)
	select {
	case <-u.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		if u.taken {
			c.mu.Unlock()
			<-u.done
			return nil
		}
		c.queue = slices.DeleteFunc(c.queue, func(o *unit[R]) bool { return o == u })
		c.mu.Unlock()
		return settle.Wrap(settle.Unavailable, ctx.Err(), "append not started")
	}
}

// commitInline commits items as the first group of a run in the calling
// goroutine when the committer is idle, so that a lone caller (a
// command-line write) starts no goroutine: it stages the group and syncs
// it itself. Items submitted meanwhile are staged by a stager goroutine as
// usual, while this group is synced, and synced after it by a syncer
// goroutine. It reports false, doing nothing, when the committer is not
// idle (or parallel).
func (c *GroupCommitter[R, G]) commitInline(ctx context.Context, items []R) (bool, error) {
	c.mu.Lock()
	if c.parallel || c.active() || c.inRun || c.busy {
		c.mu.Unlock()
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return true, settle.Wrap(settle.Unavailable, err, "append not started")
	}
	u := &unit[R]{ctx: ctx, items: items, done: make(chan struct{}), taken: true}
	g := &cgroup[R, G]{units: []*unit[R]{u}, items: items}
	c.staging, c.busy = true, true
	c.mu.Unlock()

	err := c.hooks.Begin(ctx)
	if err == nil {
		c.mu.Lock()
		c.inRun = true
		c.mu.Unlock()
		g.g, err = c.hooks.Stage(items)
	}
	c.account(len(items))
	c.mu.Lock()
	c.busy = false
	if err != nil {
		if c.runOver() {
			c.endRun()
		}
		c.handOffStaging()
		c.mu.Unlock()
		c.hooks.Fail(items, err)
		g.finish()
		return true, nil
	}
	c.run++
	c.flight++
	c.syncing = true
	c.handOffStaging()
	c.syncBatch([]*cgroup[R, G]{g})
	if len(c.ready) > 0 {
		go c.syncer()
	} else {
		c.syncing = false
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return true, nil
}

// handOffStaging ends an inline staging: a stager goroutine takes over
// the units queued meanwhile, if any. mu held.
func (c *GroupCommitter[R, G]) handOffStaging() {
	if len(c.queue) > 0 {
		go c.stager()
	} else {
		c.staging = false
	}
	c.cond.Broadcast()
}

// Post queues items as one unit without waiting for its group: the
// hooks alone answer them (Publish, Fail). Drain waits for posted items.
func (c *GroupCommitter[R, G]) Post(items ...R) {
	if len(items) > 0 {
		c.enqueue(context.Background(), items)
	}
}

func (c *GroupCommitter[R, G]) enqueue(ctx context.Context, items []R) *unit[R] {
	u := &unit[R]{ctx: ctx, items: items, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, u)
	switch {
	case c.parallel:
		if c.workers < c.depth {
			c.workers++
			go c.worker()
		}
	case !c.staging:
		c.staging = true
		go c.stager()
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return u
}

// Queued returns how many submitted units no group has taken yet.
func (c *GroupCommitter[R, G]) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Drain waits until nothing is queued or in flight and no run holds the
// store's lock.
func (c *GroupCommitter[R, G]) Drain() {
	c.mu.Lock()
	for c.active() {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// DrainTimeout is Drain bounded by d; it reports whether the committer
// drained. On timeout a goroutine keeps waiting until it does (every
// group's hooks are bounded, so it ends).
func (c *GroupCommitter[R, G]) DrainTimeout(d time.Duration) bool {
	c.mu.Lock()
	idle := !c.active()
	c.mu.Unlock()
	if idle {
		return true
	}
	done := make(chan struct{})
	go func() {
		c.Drain()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// active says something is queued, in flight or ending. mu held.
func (c *GroupCommitter[R, G]) active() bool {
	return c.staging || c.syncing || c.ending || c.workers > 0 || len(c.queue) > 0
}

// worker runs groups of a parallel committer until the queue is empty.
func (c *GroupCommitter[R, G]) worker() {
	c.mu.Lock()
	for len(c.queue) > 0 {
		g := c.take()
		c.mu.Unlock()
		c.account(len(g.items))
		var err error
		g.g, err = c.hooks.Stage(g.items)
		if err == nil {
			err = c.hooks.Sync([]G{g.g})
		}
		if err == nil {
			c.hooks.Publish(g.g)
		} else {
			c.hooks.Fail(g.items, err)
		}
		g.finish()
		c.mu.Lock()
	}
	c.workers--
	c.cond.Broadcast()
	c.mu.Unlock()
}

// take removes the next group's units from the queue. mu held.
func (c *GroupCommitter[R, G]) take() *cgroup[R, G] {
	g := &cgroup[R, G]{}
	n := 0
	for n < len(c.queue) {
		u := c.queue[n]
		if n > 0 && len(g.items)+len(u.items) > c.maxItems {
			break
		}
		u.taken = true
		g.units = append(g.units, u)
		g.items = append(g.items, u.items...)
		n++
	}
	c.queue = slices.Delete(c.queue, 0, n)
	return g
}

func (g *cgroup[R, G]) finish() {
	for _, u := range g.units {
		close(u.done)
	}
}

// stager stages groups while there is work, starting and ending runs.
func (c *GroupCommitter[R, G]) stager() {
	c.mu.Lock()
	for {
		if c.ending {
			c.cond.Wait()
			continue
		}
		if c.runOver() {
			c.endRun()
			continue
		}
		if len(c.queue) == 0 {
			if !c.inRun {
				c.staging = false
				c.cond.Broadcast()
				c.mu.Unlock()
				return
			}
			c.cond.Wait()
			continue
		}
		if c.inRun && (c.flight >= c.depth || c.run >= c.maxRun || c.runErr != nil) {
			c.cond.Wait()
			continue
		}
		g := c.take()
		begin := !c.inRun
		overlap := c.flight > 0
		c.busy = true
		c.mu.Unlock()

		var err error
		if begin {
			ctx, cancel := unitsContext(g.units)
			err = c.hooks.Begin(ctx)
			cancel()
			if err == nil {
				c.mu.Lock()
				c.inRun = true
				c.mu.Unlock()
			}
		}
		if err == nil && overlap {
			err = hit("group-overlap")
		}
		if err == nil {
			g.g, err = c.hooks.Stage(g.items)
		}
		c.account(len(g.items))
		c.mu.Lock()
		if err == nil && c.runErr != nil {
			err = c.runErr
		}
		c.busy = false
		if err != nil && c.flight > 0 {
			// Answers go out in order: this group fails after the
			// groups in flight are published or failed (a Sync that
			// poisons the store fails this Stage before its own
			// group is answered).
			g.err = err
			c.toSyncer(g)
			continue
		}
		if err != nil {
			if c.runOver() {
				c.endRun()
			}
			c.mu.Unlock()
			c.hooks.Fail(g.items, err)
			g.finish()
			c.mu.Lock()
			continue
		}
		c.run++
		c.toSyncer(g)
	}
}

// toSyncer hands a staged (or failed) group to the syncer, starting it if
// needed. mu held.
func (c *GroupCommitter[R, G]) toSyncer(g *cgroup[R, G]) {
	c.flight++
	c.ready = append(c.ready, g)
	if !c.syncing {
		c.syncing = true
		go c.syncer()
	}
	c.cond.Broadcast()
}

// runOver says the run can end: nothing in flight or being staged, and
// nothing queued, or the run is long enough, or it failed. mu held.
func (c *GroupCommitter[R, G]) runOver() bool {
	return c.inRun && !c.ending && !c.busy && c.flight == 0 &&
		(len(c.queue) == 0 || c.run >= c.maxRun || c.runErr != nil)
}

// endRun calls End, releasing mu meanwhile. mu held.
func (c *GroupCommitter[R, G]) endRun() {
	c.inRun, c.ending = false, true
	c.mu.Unlock()
	c.hooks.End()
	c.mu.Lock()
	c.ending, c.run, c.runErr = false, 0, nil
	c.cond.Broadcast()
}

func (c *GroupCommitter[R, G]) account(n int) {
	c.groups.Add(1)
	c.items.Add(int64(n))
	StoreMax(&c.maxGroup, int64(n))
}

// StoreMax raises a to n unless it holds n or more already, without a
// lock (a group size maximum).
func StoreMax(a *atomic.Int64, n int64) {
	for {
		m := a.Load()
		if n <= m || a.CompareAndSwap(m, n) {
			return
		}
	}
}

// syncer syncs the ready groups, all of them with one Sync, and publishes
// or fails them in order. When they were the run's last, the run ends
// before they are answered: a caller that reads after its write finds the
// store's lock free.
func (c *GroupCommitter[R, G]) syncer() {
	c.mu.Lock()
	for len(c.ready) > 0 {
		gs := c.ready
		c.ready = nil
		c.syncBatch(gs)
	}
	c.syncing = false
	c.cond.Broadcast()
	c.mu.Unlock()
}

// syncBatch syncs staged groups with one Sync and publishes or fails
// them in order, ending the run if they were its last. mu held; it is
// released meanwhile.
func (c *GroupCommitter[R, G]) syncBatch(gs []*cgroup[R, G]) {
	err := c.runErr
	c.mu.Unlock()
	if err == nil {
		staged := make([]G, 0, len(gs))
		for _, g := range gs {
			if g.err == nil {
				staged = append(staged, g.g)
			}
		}
		if len(staged) > 0 {
			err = c.hooks.Sync(staged)
		}
	}
	for _, g := range gs {
		switch {
		case g.err != nil:
			c.hooks.Fail(g.items, g.err)
		case err == nil:
			c.hooks.Publish(g.g)
		default:
			c.hooks.Fail(g.items, err)
		}
	}
	c.mu.Lock()
	if err != nil && c.runErr == nil {
		c.runErr = err
	}
	c.flight -= len(gs)
	if c.runOver() {
		c.endRun()
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	for _, g := range gs {
		g.finish()
	}
	c.mu.Lock()
}

// unitsContext is done when every unit's context is: one caller giving up
// must not fail the others.
func unitsContext[R any](units []*unit[R]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(units)))
	stops := make([]func() bool, 0, len(units))
	for _, u := range units {
		stops = append(stops, context.AfterFunc(u.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
