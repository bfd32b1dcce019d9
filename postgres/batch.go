package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// Settle implements writeback.Store. The batch's durable successes are
// read in append order into a MemView and writeback.Settle decides; when
// the decision is ALL_SETTLED_CONSOLIDATE the summary is inserted unless
// the batch has one (INSERT ... ON CONFLICT DO NOTHING): of any number of
// concurrent evaluations on any number of servers exactly one gets
// FirstConsolidation. Errors: InvalidInput, Unavailable, Internal.
func (s *Store) Settle(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	return s.SettleWithout(ctx, batchID, tracks, thisTrack, nil)
}

// SettleWithout implements writeback.SettlerWithout.
func (s *Store) SettleWithout(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string, without map[string]bool) (writeback.SettleOutcome, error) {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return writeback.SettleOutcome{}, err
	}
	if err := s.usable(ctx); err != nil {
		return writeback.SettleOutcome{}, err
	}
	skip := make([]string, 0, len(without))
	for wid, ok := range without {
		if ok {
			skip = append(skip, dbText(wid))
		}
	}
	view, err := loadView(ctx, s.pool, `SELECT seq, line FROM ledger
		WHERE batch_id = $1 AND kind = 'durable' AND classification = 'DURABLE_SUCCESS_WRITTEN'
		AND NOT (writeback_id = ANY($2::text[])) ORDER BY seq`, dbText(batchID), skip)
	if err != nil {
		return writeback.SettleOutcome{}, s.fail(err, "settle batch %s", batchID)
	}
	latest := view.LatestFunc(batchID)
	res := writeback.Settle(batchID, tracks, thisTrack, latest)
	if res.Decision != writeback.AllSettledConsolidate {
		return writeback.SettleOutcome{Result: res}, nil
	}
	var recs []writeback.DurableRecord
	for _, t := range tracks {
		if r := latest(t.TrackID); r != nil {
			recs = append(recs, *r)
		}
	}
	rel := writeback.SummaryRelPath(batchID)
	res.ConsolidatedSummaryCandidatePath = &rel
	data, err := writeback.EncodeSummary(batchID, res, recs, s.now())
	if err != nil {
		return writeback.SettleOutcome{}, err
	}
	tag, err := s.pool.Exec(ctx,
		"INSERT INTO summaries (batch_id, data) VALUES ($1, $2) ON CONFLICT (batch_id) DO NOTHING", batchID, data)
	if err != nil {
		return writeback.SettleOutcome{}, s.fail(err, "write summary of batch %s", batchID)
	}
	return writeback.SettleOutcome{Result: res, FirstConsolidation: tag.RowsAffected() == 1}, nil
}

// Summary implements writeback.Store. Errors: NotFound, Corrupt.
func (s *Store) Summary(ctx context.Context, batchID string) (writeback.Summary, error) {
	return getDoc(ctx, s, summaryDocs, batchID, func(sum *writeback.Summary) string { return sum.BatchID })
}

// DeclareBatch implements writeback.Store: the declaration replaces any
// earlier one. Errors: InvalidInput.
func (s *Store) DeclareBatch(ctx context.Context, b writeback.Batch) error {
	if err := writeback.ValidateBatch(b); err != nil {
		return err
	}
	data, err := writeback.EncodeDocument(b)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "encode batch")
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO batches (batch_id, data) VALUES ($1, $2)
		ON CONFLICT (batch_id) DO UPDATE SET data = excluded.data, updated_at = now()`, b.BatchID, data)
	return s.fail(err, "declare batch %s", b.BatchID)
}

// GetBatch implements writeback.Store. Errors: NotFound, Corrupt.
func (s *Store) GetBatch(ctx context.Context, batchID string) (writeback.Batch, error) {
	return getDoc(ctx, s, batchDocs, batchID, func(b *writeback.Batch) string { return b.BatchID })
}

// docTable is a table of JSON documents keyed by batch id.
type docTable struct {
	name     string // the table
	what     string // a document, in read errors
	of       string // the document of a batch, in decode errors
	notFound func(batchID string) error
}

var (
	summaryDocs = docTable{"summaries", "summary", "summary of batch", writeback.ErrSummaryNotFound}
	batchDocs   = docTable{"batches", "batch", "batch", writeback.ErrBatchNotFound}
)

// getDoc reads and decodes the document of batchID in t, which must name
// that batch (batchOf). Errors: InvalidInput (batch id), NotFound, Corrupt.
func getDoc[T any](ctx context.Context, s *Store, t docTable, batchID string, batchOf func(*T) string) (T, error) {
	var doc T
	if err := writeback.CheckBatchID(batchID); err != nil {
		return doc, err
	}
	if err := s.usable(ctx); err != nil {
		return doc, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM "+t.name+" WHERE batch_id = $1", batchID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return doc, t.notFound(batchID)
	}
	if err != nil {
		return doc, s.fail(err, "read %s %s", t.what, batchID)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		var zero T
		return zero, settle.Wrap(settle.Corrupt, err, "decode %s %s", t.of, batchID)
	}
	if got := batchOf(&doc); got != batchID {
		var zero T
		return zero, settle.Errorf(settle.Corrupt, "%s %s names batch %q", t.of, batchID, got)
	}
	return doc, nil
}

var _ writeback.SettlerWithout = (*Store)(nil)
