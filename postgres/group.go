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

// qitem is one request waiting in a groupQueue.
type qitem[C any] struct {
	c       C
	done    chan struct{} // closed when answered
	promote chan struct{} // the request is to lead the next group
	taken   bool          // guarded by the queue's mu: in a group being committed
}

// groupQueue gathers concurrent requests into groups, each committed by
// one transaction (commit answers every request of its group). The first
// caller that finds no leader commits the queue, then hands leadership to
// the oldest request that arrived meanwhile, which commits the next
// group: while one transaction waits for its commit, the next gathers.
type groupQueue[C any] struct {
	commit func(group []C)

	mu      sync.Mutex
	items   []*qitem[C]
	leading bool
	st      groupCounters
}

// submit queues c and returns when it is answered. A request whose
// context ends before a group takes it gives up with EUNAVAILABLE; once
// taken, it is answered after its group commits.
func (q *groupQueue[C]) submit(ctx context.Context, c C) error {
	it := &qitem[C]{c: c, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	q.mu.Lock()
	q.items = append(q.items, it)
	lead := !q.leading
	if lead {
		q.leading = true
	}
	q.mu.Unlock()
	if lead {
		q.lead()
	}
	for {
		select {
		case <-it.done:
			return nil
		case <-it.promote:
			q.lead()
		case <-ctx.Done():
			q.mu.Lock()
			if it.taken {
				q.mu.Unlock()
				<-it.done
				return nil
			}
			q.items = slices.DeleteFunc(q.items, func(o *qitem[C]) bool { return o == it })
			select {
			case <-it.promote: // promoted while giving up: pass it on
				q.handOff()
			default:
			}
			q.mu.Unlock()
			return settle.Wrap(settle.EUNAVAILABLE, ctx.Err(), "request not started")
		}
	}
}

// handOff promotes the oldest queued request to leader, or clears
// leading. mu held.
func (q *groupQueue[C]) handOff() {
	if len(q.items) == 0 {
		q.leading = false
		return
	}
	select {
	case q.items[0].promote <- struct{}{}:
	default:
	}
}

// lead commits up to MaxGroup queued requests as one group, answers them
// and hands leadership on.
func (q *groupQueue[C]) lead() {
	q.mu.Lock()
	n := min(len(q.items), MaxGroup)
	group := slices.Clone(q.items[:n])
	q.items = slices.Delete(q.items, 0, n)
	for _, it := range group {
		it.taken = true
	}
	q.mu.Unlock()
	if len(group) > 0 {
		cs := make([]C, len(group))
		for i, it := range group {
			cs[i] = it.c
		}
		q.st.add(len(cs))
		q.commit(cs)
		for _, it := range group {
			close(it.done)
		}
	}
	q.mu.Lock()
	q.handOff()
	q.mu.Unlock()
}
