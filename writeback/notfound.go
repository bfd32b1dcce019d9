package writeback

import settle "github.com/settlehq/settle"

// ErrBatchNotFound is every store's answer for a batch with no
// declaration. It names the batch id, never a store's file or table.
func ErrBatchNotFound(batchID string) error {
	return settle.Errorf(settle.NotFound, "batch %q not found: it has not been declared", batchID)
}

// ErrSummaryNotFound is every store's answer for a batch with no
// consolidated summary.
func ErrSummaryNotFound(batchID string) error {
	return settle.Errorf(settle.NotFound, "batch %q has no consolidated summary: it has not settled (or was never evaluated)", batchID)
}
