package storetest

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// ledgerNotFoundNamesIDs: a missing batch or summary is NOT_FOUND with a
// message naming the batch id, never a store's file or table.
func ledgerNotFoundNamesIDs(t *testing.T, s writeback.Store) {
	for what, get := range map[string]func() error{
		"batch":   func() error { _, err := s.GetBatch(bg, "nope"); return err },
		"summary": func() error { _, err := s.Summary(bg, "nope"); return err },
	} {
		err := get()
		if settle.ErrorCode(err) != settle.NotFound {
			t.Fatalf("%s of a missing batch: %v, want NOT_FOUND", what, err)
		}
		msg := settle.ErrorMessage(err)
		if !strings.Contains(msg, `"nope"`) || strings.Contains(msg, ".json") || strings.Contains(msg, "/") {
			t.Errorf("%s of a missing batch: %q, want a message naming the batch id and no file", what, msg)
		}
	}
}
