package postgres

import (
	"context"

	"github.com/settlehq/settle/writeback"
)

// ListBatches implements writeback.BatchLister: every declared batch with
// the time its declaration was last written.
func (s *Store) ListBatches(ctx context.Context) ([]writeback.BatchEntry, error) {
	out := []writeback.BatchEntry{}
	var e writeback.BatchEntry
	err := s.eachRow(ctx, "list batches", "SELECT batch_id, updated_at FROM batches", []any{&e.BatchID, &e.DeclaredAt}, func() error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
