package writeback

import (
	"context"
	"time"
)

// BatchEntry is a declared batch as listed by a BatchLister.
type BatchEntry struct {
	BatchID string
	// DeclaredAt is when the declaration was last written.
	DeclaredAt time.Time
}

// BatchLister is implemented by stores that can list their declared
// batches (the file and PostgreSQL stores); the dashboard's board needs
// it. The order is unspecified.
type BatchLister interface {
	ListBatches(ctx context.Context) ([]BatchEntry, error)
}
