package postgres

import (
	"context"
	"time"

	"github.com/settlehq/settle/writeback"
)

// ListBatches implements writeback.BatchLister: every declared batch with
// the time its declaration was last written.
func (s *Store) ListBatches(ctx context.Context) ([]writeback.BatchEntry, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT batch_id, updated_at FROM batches")
	if err != nil {
		return nil, s.fail(err, "list batches")
	}
	defer rows.Close()
	out := []writeback.BatchEntry{}
	for rows.Next() {
		var e writeback.BatchEntry
		var at time.Time
		if err := rows.Scan(&e.BatchID, &at); err != nil {
			return nil, s.fail(err, "list batches")
		}
		e.DeclaredAt = at
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list batches")
	}
	return out, nil
}
