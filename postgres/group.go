package postgres

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	settle "github.com/settlehq/settle"
)

// Group commit limits.
const (
	// MaxGroup is the most requests one group transaction carries.
	MaxGroup = 256
	// groupTimeout bounds one group's transaction: it runs on behalf of
	// many callers, so no single caller's context may cancel it.
	groupTimeout = time.Minute
)

// GroupStats are a group commit queue's counters.
type GroupStats struct {
	// Groups counts committed (or failed) group transactions; Grouped
	// the requests they carried; MaxGroup the largest.
	Groups   int64 `json:"groups"`
	Grouped  int64 `json:"grouped_requests"`
	MaxGroup int64 `json:"max_group"`
}

type groupCounters struct{ groups, grouped, maxGroup atomic.Int64 }

func (c *groupCounters) add(n int) {
	c.groups.Add(1)
	c.grouped.Add(int64(n))
	for {
		m := c.maxGroup.Load()
		if int64(n) <= m || c.maxGroup.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

func (c *groupCounters) stats() GroupStats {
	return GroupStats{Groups: c.groups.Load(), Grouped: c.grouped.Load(), MaxGroup: c.maxGroup.Load()}
}

// qitem is one request, or one unit of requests (submitUnit), waiting
// in a groupQueue.
type qitem[C any] struct {
	cs    []C
	done  chan struct{} // closed when answered
	taken bool          // guarded by the queue's mu: in a group being committed
}

// groupQueue gathers concurrent requests into groups, each committed by
// one transaction (commit answers every request of its group). Up to
// depth committers run at once, each taking everything queued (up to
// MaxGroup) as its next group: while one group's transaction waits for
// its commit, the next group is already being evaluated, and requests
// arriving meanwhile gather into the group after it. A committer exits
// when the queue is empty.
type groupQueue[C any] struct {
	commit func(group []C)
	depth  int

	mu      sync.Mutex
	items   []*qitem[C]
	workers int
	st      groupCounters
	// pending counts items queued or in a group; idle is closed (and
	// replaced) when it falls to zero. A counter under mu, not a
	// WaitGroup: posts may arrive while drain waits.
	pending int
	idle    chan struct{}
}

// finish counts n items answered or withdrawn; q.mu is held.
func (q *groupQueue[C]) finish(n int) {
	q.pending -= n
	if q.pending == 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// groupDepth is how many group transactions of one queue run at once.
const groupDepth = 2

// submit queues c and returns when it is answered. A request whose
// context ends before a group takes it gives up with EUNAVAILABLE; once
// taken, it is answered after its group commits.
func (q *groupQueue[C]) submit(ctx context.Context, c C) error {
	return q.submitUnit(ctx, []C{c})
}

// submitUnit queues cs as one unit: one group commits them all, in
// order (a unit is never split; one larger than MaxGroup is a group of
// its own).
func (q *groupQueue[C]) submitUnit(ctx context.Context, cs []C) error {
	it := q.enqueue(cs)
	select {
	case <-it.done:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if it.taken {
			q.mu.Unlock()
			<-it.done
			return nil
		}
		q.items = slices.DeleteFunc(q.items, func(o *qitem[C]) bool { return o == it })
		q.finish(1)
		q.mu.Unlock()
		return settle.Wrap(settle.EUNAVAILABLE, ctx.Err(), "request not started")
	}
}

// post queues c without waiting for its group.
func (q *groupQueue[C]) post(c C) { q.enqueue([]C{c}) }

func (q *groupQueue[C]) enqueue(cs []C) *qitem[C] {
	it := &qitem[C]{cs: cs, done: make(chan struct{})}
	q.mu.Lock()
	q.pending++
	q.items = append(q.items, it)
	if q.workers < max(q.depth, 1) {
		q.workers++
		go q.work()
	}
	q.mu.Unlock()
	return it
}

// drain waits until every queued request is answered, or d passes.
func (q *groupQueue[C]) drain(d time.Duration) bool {
	q.mu.Lock()
	if q.pending == 0 {
		q.mu.Unlock()
		return true
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	idle := q.idle
	q.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// work commits groups until the queue is empty.
func (q *groupQueue[C]) work() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.workers--
			q.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.items) && (n == 0 || size+len(q.items[n].cs) <= MaxGroup) {
			size += len(q.items[n].cs)
			n++
		}
		group := slices.Clone(q.items[:n])
		q.items = slices.Delete(q.items, 0, n)
		for _, it := range group {
			it.taken = true
		}
		q.mu.Unlock()
		cs := make([]C, 0, size)
		for _, it := range group {
			cs = append(cs, it.cs...)
		}
		q.st.add(len(cs))
		q.commit(cs)
		for _, it := range group {
			close(it.done)
		}
		q.mu.Lock()
		q.finish(len(group))
		q.mu.Unlock()
	}
}
