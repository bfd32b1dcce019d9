package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// ListBatches implements writeback.BatchLister: the declarations under
// memory/events/batches, each with its file's modification time. A
// missing directory lists nothing; temporary files and names that are no
// batch id are skipped.
func (l *Ledger) ListBatches(ctx context.Context) ([]writeback.BatchEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []writeback.BatchEntry{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.EINTERNAL, err, "list batches")
	}
	out := make([]writeback.BatchEntry, 0, len(entries))
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(id, ".") || writeback.CheckBatchID(id) != nil {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced or removed meanwhile
		}
		if err != nil {
			return nil, settle.Wrap(settle.EINTERNAL, err, "list batches")
		}
		out = append(out, writeback.BatchEntry{BatchID: id, DeclaredAt: fi.ModTime()})
	}
	return out, nil
}
