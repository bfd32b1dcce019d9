package postgres

import (
	"context"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// Group commit limits.
const (
	// MaxGroup is the most requests one ledger transaction carries.
	MaxGroup = 256
	// groupTimeout bounds one group's transaction: it runs on behalf of
	// many callers, so no single caller's context may cancel it.
	groupTimeout = time.Minute
)

// provisionalSeq numbers the records a group stages in its views before
// it knows their seqs: above every real seq, in staging order, which is
// all the evaluator compares.
const provisionalSeq = int64(1) << 62

// GroupStats are the ledger group commit's counters.
type GroupStats struct {
	// Groups counts committed (or failed) group transactions; Grouped
	// the requests they carried; MaxGroup the largest.
	Groups   int64 `json:"groups"`
	Grouped  int64 `json:"grouped_requests"`
	MaxGroup int64 `json:"max_group"`
}

// GroupStats returns a snapshot of the group commit counters.
func (s *Store) GroupStats() GroupStats {
	return GroupStats{Groups: s.gst.groups.Load(), Grouped: s.gst.grouped.Load(), MaxGroup: s.gst.maxGroup.Load()}
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

// lcall is one write-back or registry append waiting for a group commit.
type lcall struct {
	req *writeback.WritebackRequest // exactly one of req, reg
	reg *writeback.RegistryRecord

	out writeback.WritebackOutcome
	err error

	done    chan struct{} // closed when answered
	promote chan struct{} // the call is to lead the next group
	taken   bool          // guarded by qmu: in a group being committed
}

// submit queues c and returns when it is answered. The first caller that
// finds no leader commits the queue as one group, then hands leadership to
// the oldest call that arrived meanwhile, which commits the next group:
// while one transaction waits for its commit, the next group gathers.
// A call whose context ends before a group takes it gives up with
// EUNAVAILABLE; once taken, it is answered after its group commits.
func (s *Store) submit(ctx context.Context, c *lcall) error {
	c.done = make(chan struct{})
	c.promote = make(chan struct{}, 1)
	s.qmu.Lock()
	s.queue = append(s.queue, c)
	lead := !s.leading
	if lead {
		s.leading = true
	}
	s.qmu.Unlock()
	if lead {
		s.lead()
	}
	for {
		select {
		case <-c.done:
			return nil
		case <-c.promote:
			s.lead()
		case <-ctx.Done():
			s.qmu.Lock()
			if c.taken {
				s.qmu.Unlock()
				<-c.done
				return nil
			}
			s.queue = slices.DeleteFunc(s.queue, func(o *lcall) bool { return o == c })
			select {
			case <-c.promote: // promoted while giving up: pass it on
				s.handOff()
			default:
			}
			s.qmu.Unlock()
			return settle.Wrap(settle.EUNAVAILABLE, ctx.Err(), "ledger append not started")
		}
	}
}

// handOff promotes the oldest queued call to leader, or clears leading.
// qmu held.
func (s *Store) handOff() {
	if len(s.queue) == 0 {
		s.leading = false
		return
	}
	select {
	case s.queue[0].promote <- struct{}{}:
	default:
	}
}

// lead commits up to MaxGroup queued calls as one group, answers them and
// hands leadership on.
func (s *Store) lead() {
	s.qmu.Lock()
	n := min(len(s.queue), MaxGroup)
	group := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	for _, c := range group {
		c.taken = true
	}
	s.qmu.Unlock()
	if len(group) > 0 {
		s.commitGroup(group)
		for _, c := range group {
			close(c.done)
		}
	}
	s.qmu.Lock()
	s.handOff()
	s.qmu.Unlock()
}

func (c *lcall) task() string {
	if c.req != nil {
		return c.req.Binding.TaskID
	}
	return c.reg.TaskID
}

// commitGroup runs one group in one transaction: the ledger's append lock
// (shared), then every task lock of the group in task order (so groups of
// different servers never deadlock), one read of the tasks' records, the
// evaluations in arrival order, then the seqs (ledger_head stays locked
// until the commit) and the inserts. A database failure fails every call
// of the group; a task whose records do not decode fails its calls only.
func (s *Store) commitGroup(group []*lcall) {
	s.gst.add(len(group))
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	tasks := make([]string, 0, len(group))
	for _, c := range group {
		tasks = append(tasks, c.task())
	}
	sort.Strings(tasks)
	tasks = slices.Compact(tasks)

	err := s.writeTx(ctx, "ledger append", func(tx pgx.Tx) error {
		for _, c := range group {
			c.out, c.err = writeback.WritebackOutcome{}, nil
		}
		if err := slock(ctx, tx, s.lockKey(appendKey)); err != nil {
			return err
		}
		for _, task := range tasks {
			if err := xlock(ctx, tx, s.lockKey("task", task)); err != nil {
				return err
			}
		}
		vs, taskErrs, err := taskViews(ctx, tx, tasks)
		if err != nil {
			return err
		}
		g := &groupStage{s: s, tx: tx, ctx: ctx, views: vs, next: provisionalSeq, conflicts: map[string]bool{}}
		for _, c := range group {
			if e := taskErrs[c.task()]; e != nil {
				c.err = e
				continue
			}
			var err error
			if c.req != nil {
				c.out, err = g.apply(*c.req)
			} else {
				err = g.stage(writeback.LedgerRecord{Kind: writeback.KindRegistry, Registry: c.reg})
			}
			if err != nil {
				if _, coded := err.(*settle.Error); !coded {
					return err // a database error: the transaction is lost
				}
				// An encoding refusal of this call only: stage adds
				// all of a call's records or none.
				c.out, c.err = writeback.WritebackOutcome{}, err
			}
		}
		if len(g.rows) == 0 {
			return nil
		}
		_, err = appendRows(ctx, tx, g.rows)
		return err
	})
	if err != nil {
		for _, c := range group {
			if c.err == nil {
				c.out, c.err = writeback.WritebackOutcome{}, err
			}
		}
	}
}

// groupStage is a group's views plus what it staged.
type groupStage struct {
	s         *Store
	tx        pgx.Tx
	ctx       context.Context
	views     views
	next      int64
	rows      []ledgerRow
	conflicts map[string]bool // conflict ids staged by the group
}

// stage encodes records (all or none), adds them to their task's view
// (so later requests of the group see them) and to the rows to insert.
func (g *groupStage) stage(recs ...writeback.LedgerRecord) error {
	rows := make([]ledgerRow, len(recs))
	for i, rec := range recs {
		row, err := encodeRow(rec)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	for i, rec := range recs {
		rec.Seq = g.next
		g.next++
		rec.Raw = rows[i].line
		g.views.get(rows[i].taskID).Add(rec)
		if rec.Conflict != nil {
			g.conflicts[rec.Conflict.ConflictID] = true
		}
	}
	g.rows = append(g.rows, rows...)
	return nil
}

// conflictSeen reports whether a conflict record with this id exists or
// is staged.
func (g *groupStage) conflictSeen(id string) (bool, error) {
	if g.conflicts[id] {
		return true, nil
	}
	var seen bool
	err := g.tx.QueryRow(g.ctx, "SELECT EXISTS (SELECT 1 FROM ledger WHERE conflict_id = $1 AND kind = 'conflict')", id).Scan(&seen)
	return seen, err
}

// apply evaluates one write-back against its task's view and stages what
// the seed's apply_durable_success_writeback appends, plus the conflict
// record of a refusal seen for the first time (the file store's apply).
func (g *groupStage) apply(req writeback.WritebackRequest) (writeback.WritebackOutcome, error) {
	d := writeback.Evaluate(req, g.s.cfg, g.views.get(req.Binding.TaskID))
	out := writeback.WritebackOutcome{}
	if !writeback.ShouldApply(&d) {
		writeback.MarkNotApplied(&d)
		if d.Verdict != "PASS" {
			cr := writeback.NewConflict(d, req.Binding, d.Reasons, g.s.now())
			seen, err := g.conflictSeen(cr.ConflictID)
			if err != nil {
				return out, err
			}
			if !seen {
				if err := g.stage(writeback.LedgerRecord{Kind: writeback.KindConflict, Conflict: &cr}); err != nil {
					return out, err
				}
				out.ConflictRecorded = true
			}
		}
		out.Decision = d
		return out, nil
	}
	rec := *d.DurableRecord
	recs := []writeback.LedgerRecord{{Kind: writeback.KindDurable, Durable: &rec}}
	mirror, problems := writeback.MirrorRecord(&rec, g.s.cfg)
	if len(problems) == 0 {
		recs = append(recs, writeback.LedgerRecord{Kind: writeback.KindRegistry, Registry: &mirror})
	}
	if err := g.stage(recs...); err != nil {
		return out, err
	}
	writeback.MarkApplied(&d, problems)
	out.Decision = d
	return out, nil
}
