package postgres

import (
	"context"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// provisionalSeq numbers the records a group stages in its views before
// it knows their seqs: above every real seq, in staging order, which is
// all the evaluator compares.
const provisionalSeq = int64(1) << 62

// GroupStats returns a snapshot of the ledger's group commit counters.
func (s *Store) GroupStats() GroupStats { return groupStats(s.lq.Stats()) }

// lcall is one write-back or registry append waiting for a group commit.
type lcall struct {
	req *writeback.WritebackRequest // exactly one of req, reg
	reg *writeback.RegistryRecord

	out writeback.WritebackOutcome
	err error
}

func (c *lcall) task() string {
	if c.req != nil {
		return c.req.Binding.TaskID
	}
	return c.reg.TaskID
}

// commitGroup runs one group in one transaction: the ledger's append lock
// (shared), then every task lock of the group in key order (so groups of
// different servers never deadlock), one read of the tasks' records, the
// evaluations in arrival order, then the seqs and the inserts in one
// statement (ledger_head stays locked until the commit). A database
// failure fails every call of the group; a task whose records do not
// decode fails its calls only.
func (s *Store) commitGroup(group []*lcall) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	tasks := make([]string, 0, len(group))
	for _, c := range group {
		tasks = append(tasks, c.task())
	}
	sort.Strings(tasks)
	tasks = slices.Compact(tasks)
	keys := make([]int64, len(tasks))
	for i, task := range tasks {
		keys[i] = s.lockKey("task", task)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	err := s.writeTx(ctx, "ledger append", func(tx pgx.Tx) error {
		for _, c := range group {
			c.out, c.err = writeback.WritebackOutcome{}, nil
		}
		// One round trip: the append lock (shared), the task locks in key
		// order (every server takes them in the same order: no deadlock),
		// then the tasks' records. A batch's statements run in order.
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock_shared($1)", s.lockKey(appendKey))
		// One statement for the task locks, taken in the array's order.
		b.Queue(`SELECT count(pg_advisory_xact_lock(k)) FROM
			(SELECT k FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, i) ORDER BY i) AS o`, keys)
		b.Queue(taskViewsSQL, dbTexts(tasks))
		br := tx.SendBatch(ctx, b)
		for range 2 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		vs, taskErrs, err := readTaskViews(rows)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
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
		return appendRows(ctx, tx, g.rows)
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
	err := g.tx.QueryRow(g.ctx, "SELECT EXISTS (SELECT 1 FROM ledger WHERE conflict_id = $1 AND kind = 'conflict')", dbText(id)).Scan(&seen)
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
