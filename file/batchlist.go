package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// batchListMemo keeps the last listing of the batches directory with the
// directory's stat: a declaration (a rename into the directory) changes
// the directory's mtime and ctime, so an unchanged stat means an
// unchanged listing, and the board of 10,000 batches does not stat every
// declaration per request. A directory changed less than racyMargin
// before it was listed is not memoized (a change in the same timestamp
// tick would keep its stat).
type batchListMemo struct {
	mu      sync.Mutex
	key     statKey
	entries []writeback.BatchEntry
	valid   bool
}

// ListBatches implements writeback.BatchLister: the declarations under
// memory/events/batches, each with its file's modification time. A
// missing directory lists nothing; temporary files and names that are no
// batch id are skipped.
func (l *Ledger) ListBatches(ctx context.Context) ([]writeback.BatchEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir))
	key, err := statOf(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []writeback.BatchEntry{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "list batches")
	}
	m := &l.batchList
	m.mu.Lock()
	if m.valid && m.key == key {
		out := slices.Clone(m.entries)
		m.mu.Unlock()
		return out, nil
	}
	m.mu.Unlock()
	listedAt := l.now()
	out, err := readBatchDir(dir)
	if err != nil {
		return nil, err
	}
	if listedAt.Sub(time.Unix(key.mtimeS, key.mtimeN)) > racyMargin && listedAt.Sub(time.Unix(key.ctimeS, key.ctimeN)) > racyMargin {
		m.mu.Lock()
		m.key, m.entries, m.valid = key, slices.Clone(out), true
		m.mu.Unlock()
	}
	return out, nil
}

func readBatchDir(dir string) ([]writeback.BatchEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []writeback.BatchEntry{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "list batches")
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
			return nil, settle.Wrap(settle.Internal, err, "list batches")
		}
		out = append(out, writeback.BatchEntry{BatchID: id, DeclaredAt: fi.ModTime()})
	}
	return out, nil
}
