package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// Records paging limits (writeback's, the same in every store).
const (
	DefaultRecordsLimit = writeback.DefaultRecordsLimit
	MaxRecordsLimit     = writeback.MaxRecordsLimit
)

// appendKey is the advisory lock every ledger appender holds shared and
// an import (ImportRecords) holds exclusive, so that no write-back
// evaluates against a view an import is changing.
const appendKey = "ledger-append"

// querier is what a pool, a connection and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ledgerRow is one record as stored: its derived columns and its line.
type ledgerRow struct {
	kind           writeback.RecordKind
	taskID         string
	trackID        *string
	batchID        *string
	writebackID    *string
	conflictID     *string
	classification *string
	line           []byte // without '\n'
}

func strp(s string) *string { return &s }

// rowOf derives the columns of a decoded record. The task and batch are
// those the file store indexes a record under (a registry record has no
// batch).
func rowOf(rec *writeback.LedgerRecord, line []byte) (ledgerRow, error) {
	r := ledgerRow{kind: rec.Kind, line: line}
	switch {
	case rec.Durable != nil:
		d := rec.Durable
		r.kind = writeback.KindDurable
		r.taskID = d.TaskID
		r.trackID, r.batchID = strp(d.TrackID), strp(d.BatchID)
		r.writebackID = strp(d.WritebackID)
		r.classification = strp(d.WritebackClassification)
	case rec.Registry != nil:
		r.kind = writeback.KindRegistry
		r.taskID = rec.Registry.TaskID
	case rec.Conflict != nil:
		c := rec.Conflict
		r.kind = writeback.KindConflict
		r.taskID = c.TaskID
		r.trackID, r.batchID = strp(c.TrackID), strp(c.BatchID)
		r.writebackID = strp(c.WritebackID)
		r.conflictID = strp(c.ConflictID)
		r.classification = strp(c.Classification)
	default:
		return r, settle.Errorf(settle.Internal, "ledger record without a body")
	}
	return r, nil
}

// encodeRow encodes a record the store appends: its line is exactly the
// file store's (writeback.EncodeLine).
func encodeRow(rec writeback.LedgerRecord) (ledgerRow, error) {
	line, err := writeback.EncodeLine(rec.Body())
	if err != nil {
		return ledgerRow{}, settle.Wrap(settle.Internal, err, "encode ledger record")
	}
	return rowOf(&rec, line[:len(line)-1])
}

// appendRows takes the next sequence numbers and inserts rows, in one
// statement. The ledger_head row stays locked until the transaction ends,
// so appends commit in seq order without gaps.
func appendRows(ctx context.Context, tx pgx.Tx, rows []ledgerRow) error {
	c := columnsOf(rows)
	_, err := tx.Exec(ctx, `WITH h AS (
			UPDATE ledger_head SET next_seq = next_seq + $1 WHERE id = 1 RETURNING next_seq - $1 AS start)
		INSERT INTO ledger (seq, kind, task_id, track_id, batch_id, writeback_id, conflict_id, classification, line)
		SELECT h.start + u.ord - 1, u.kind, u.task, u.track, u.batch, u.wid, u.cid, u.class, u.line
		FROM h, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])
			WITH ORDINALITY AS u(kind, task, track, batch, wid, cid, class, line, ord)`,
		int64(len(rows)), c.kinds, c.tasks, c.tracks, c.batches, c.wids, c.cids, c.classes, c.lines)
	return err
}

// columns are rows as column arrays.
type columns struct {
	kinds, tasks                         []string
	tracks, batches, wids, cids, classes []*string
	lines                                [][]byte
}

func columnsOf(rows []ledgerRow) columns {
	n := len(rows)
	c := columns{
		kinds: make([]string, n), tasks: make([]string, n),
		tracks: make([]*string, n), batches: make([]*string, n), wids: make([]*string, n),
		cids: make([]*string, n), classes: make([]*string, n), lines: make([][]byte, n),
	}
	for i, r := range rows {
		c.kinds[i], c.tasks[i] = string(r.kind), dbText(r.taskID)
		c.tracks[i], c.batches[i], c.wids[i], c.cids[i], c.classes[i] = dbTextp(r.trackID), dbTextp(r.batchID), dbTextp(r.writebackID), dbTextp(r.conflictID), dbTextp(r.classification)
		c.lines[i] = r.line
	}
	return c
}

// insertRows inserts rows at seq start, start+1, ... (an import; the
// caller holds ledger_head).
func insertRows(ctx context.Context, tx pgx.Tx, start int64, rows []ledgerRow) error {
	c := columnsOf(rows)
	_, err := tx.Exec(ctx, `INSERT INTO ledger
		(seq, kind, task_id, track_id, batch_id, writeback_id, conflict_id, classification, line)
		SELECT $1 + u.ord - 1, u.kind, u.task, u.track, u.batch, u.wid, u.cid, u.class, u.line
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])
			WITH ORDINALITY AS u(kind, task, track, batch, wid, cid, class, line, ord)`,
		start, c.kinds, c.tasks, c.tracks, c.batches, c.wids, c.cids, c.classes, c.lines)
	return err
}

// decodeRows reads (seq, line) rows into records in seq order; Raw is the
// line. A line that no longer decodes is CORRUPT.
func decodeRows(rows pgx.Rows) ([]writeback.LedgerRecord, error) {
	defer rows.Close()
	var out []writeback.LedgerRecord
	for rows.Next() {
		var seq int64
		var line []byte
		if err := rows.Scan(&seq, &line); err != nil {
			return nil, err
		}
		rec, ok := writeback.DecodeLine(line)
		if !ok {
			return nil, settle.Errorf(settle.Corrupt, "ledger record %d does not decode", seq)
		}
		rec.Seq = seq
		rec.Raw = line
		out = append(out, rec)
	}
	return out, rows.Err()
}

// loadView reads the records a query selects, in seq order, into a
// MemView: the same index the file store evaluates against, so every
// lookup follows the same rules.
func loadView(ctx context.Context, q querier, sql string, args ...any) (*writeback.MemView, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	recs, err := decodeRows(rows)
	if err != nil {
		return nil, err
	}
	v := writeback.NewMemView()
	for _, r := range recs {
		v.Add(r)
	}
	return v, nil
}

// views are the MemViews of a group's tasks.
type views map[string]*writeback.MemView

// get returns the task's view (an empty one for a task without records).
func (v views) get(task string) *writeback.MemView {
	m := v[task]
	if m == nil {
		m = writeback.NewMemView()
		v[task] = m
	}
	return m
}

// taskViews reads the durable and registry records of the tasks, in seq
// order, into one MemView per task: the index the file store evaluates
// against, so every lookup follows the same rules. Every lookup of the
// evaluator is scoped to the task (a writeback_id hashes the task id; the
// idempotency identity and the registry history name it), so a task's
// view is the whole ledger as far as its decisions can tell. A task with
// a record that no longer decodes gets a CORRUPT error in errs.
func taskViews(ctx context.Context, q querier, tasks []string) (views, map[string]error, error) {
	rows, err := q.Query(ctx, taskViewsSQL, dbTexts(tasks))
	if err != nil {
		return nil, nil, err
	}
	return readTaskViews(rows)
}

// taskViewsSQL selects the records of the tasks $1 a view holds.
const taskViewsSQL = `SELECT task_id, seq, line FROM ledger
	WHERE task_id = ANY($1) AND kind IN ('durable', 'registry') ORDER BY seq`

// dbTexts is dbText of each task of a taskViewsSQL parameter.
func dbTexts(tasks []string) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = dbText(t)
	}
	return out
}

// readTaskViews reads taskViewsSQL's rows into views.
func readTaskViews(rows pgx.Rows) (views, map[string]error, error) {
	defer rows.Close()
	vs := views{}
	errs := map[string]error{}
	for rows.Next() {
		var task string
		var seq int64
		var line []byte
		if err := rows.Scan(&task, &seq, &line); err != nil {
			return nil, nil, err
		}
		task = fromDBText(task)
		rec, ok := writeback.DecodeLine(line)
		if !ok {
			if errs[task] == nil {
				errs[task] = settle.Errorf(settle.Corrupt, "ledger record %d does not decode", seq)
			}
			continue
		}
		rec.Seq = seq
		vs.get(task).Add(rec)
	}
	return vs, errs, rows.Err()
}

// Writeback implements writeback.Store. Write-backs and registry appends
// of this store are committed in groups (see commitGroup): one
// transaction holds the locks of the group's tasks, reads their records
// into views, evaluates each request in arrival order with the domain's
// Evaluate (a request sees what the earlier ones of its group staged), and
// appends what the file store would append: a success with its registry
// COMPLETED mirror, a refusal's conflict record unless one with its
// conflict_id exists. No call returns before its group commits. A DryRun
// evaluates on a snapshot and writes nothing. Errors: InvalidInput (a batch id
// writeback.CheckRequest refuses), Unavailable, Internal, Corrupt.
func (s *Store) Writeback(ctx context.Context, req writeback.WritebackRequest) (writeback.WritebackOutcome, error) {
	if err := writeback.CheckWriteback(&req); err != nil {
		return writeback.WritebackOutcome{}, err
	}
	if req.DryRun {
		var out writeback.WritebackOutcome
		err := s.readTx(ctx, "writeback dry run", func(tx pgx.Tx) error {
			views, errs, err := taskViews(ctx, tx, []string{req.Binding.TaskID})
			if err != nil {
				return err
			}
			if e := errs[req.Binding.TaskID]; e != nil {
				return e
			}
			out.Decision = writeback.Evaluate(req, s.cfg, views.get(req.Binding.TaskID))
			return nil
		})
		return out, err
	}
	if err := s.usable(ctx); err != nil {
		return writeback.WritebackOutcome{}, err
	}
	c := &lcall{req: &req}
	if err := s.lq.Submit(ctx, c); err != nil {
		return writeback.WritebackOutcome{}, err
	}
	return c.out, c.err
}

// WritebackMany implements writeback.Store: the batch's items are queued
// as one unit, committed by one group transaction in order, each item's
// records all or none.
func (s *Store) WritebackMany(ctx context.Context, reqs []writeback.WritebackRequest) ([]writeback.WritebackItem, error) {
	return writeback.QueueMany(reqs, func() error { return s.usable(ctx) },
		func(r *writeback.WritebackRequest) *lcall { return &lcall{req: r} },
		func(cs ...*lcall) error { return s.lq.Submit(ctx, cs...) },
		func(c *lcall) (writeback.WritebackOutcome, error) { return c.out, c.err })
}

// AppendRegistry implements writeback.Store: the record is validated
// (INVALID_INPUT with the reasons; nothing is written) and appended in the
// next group commit, under the task's lock.
func (s *Store) AppendRegistry(ctx context.Context, rec writeback.RegistryRecord) error {
	if problems := writeback.ValidateRegistry(rec); len(problems) > 0 {
		return settle.Errorf(settle.InvalidInput, "invalid registry record: %s", strings.Join(problems, "; "))
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	c := &lcall{reg: &rec}
	if err := s.lq.Submit(ctx, c); err != nil {
		return err
	}
	return c.err
}

// registryView reads the task's registry records.
func registryView(ctx context.Context, q querier, task string) (*writeback.MemView, error) {
	return loadView(ctx, q,
		"SELECT seq, line FROM ledger WHERE task_id = $1 AND kind = 'registry' ORDER BY seq", dbText(task))
}

// RegistryHistory implements writeback.Store.
func (s *Store) RegistryHistory(ctx context.Context, taskID string) ([]writeback.RegistryRecord, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	v, err := registryView(ctx, s.pool, taskID)
	if err != nil {
		return nil, s.fail(err, "registry history")
	}
	return append([]writeback.RegistryRecord{}, v.RegistryHistory(taskID)...), nil
}

// Classify implements writeback.Store.
func (s *Store) Classify(ctx context.Context, taskID string) (string, error) {
	h, err := s.RegistryHistory(ctx, taskID)
	if err != nil {
		return "", err
	}
	return writeback.Classify(h), nil
}

// Records implements writeback.Store: records with Seq > q.After in
// append order, filtered by kind, batch and task, at most q.Limit
// (default 100, at most 1000); Next is the last record's Seq when more
// match. Raw is the record's exact line.
func (s *Store) Records(ctx context.Context, q writeback.RecordQuery) (writeback.RecordPage, error) {
	page := writeback.RecordPage{Records: []writeback.LedgerRecord{}, Next: -1}
	limit, err := q.PageLimit()
	if err != nil {
		return page, err
	}
	switch q.Kind {
	case "", writeback.KindDurable, writeback.KindRegistry, writeback.KindConflict:
	default:
		return page, settle.Errorf(settle.InvalidInput, "unknown record kind %q", q.Kind)
	}
	if q.After < -1 {
		q.After = -1
	}
	if err := s.usable(ctx); err != nil {
		return page, err
	}
	sql := "SELECT seq, line FROM ledger WHERE seq > $1"
	args := []any{q.After}
	if q.Kind != "" {
		args = append(args, string(q.Kind))
		sql += " AND kind = $2"
	}
	if q.TaskID != "" {
		args = append(args, dbText(q.TaskID))
		sql += " AND task_id = $" + itoa(len(args))
	}
	if q.BatchID != "" {
		args = append(args, dbText(q.BatchID))
		sql += " AND batch_id = $" + itoa(len(args))
	}
	args = append(args, limit+1)
	sql += " ORDER BY seq LIMIT $" + itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return page, s.fail(err, "records")
	}
	recs, err := decodeRows(rows)
	if err != nil {
		return page, s.fail(err, "records")
	}
	if len(recs) > limit {
		recs = recs[:limit]
		page.Next = recs[limit-1].Seq
	}
	if recs != nil {
		page.Records = recs
	}
	return page, nil
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}
