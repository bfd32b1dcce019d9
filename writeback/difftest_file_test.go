package writeback_test

import (
	"context"
	"os"
	"path/filepath"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/writeback"
)

// fileBackend runs the differential test against the file store.
type fileBackend struct {
	l *file.Ledger
}

func init() {
	diffBackends["file"] = func(_, ledger string) (diffBackend, error) {
		// The root holds the consolidated summaries: <ledger dir>/../..
		root := filepath.Dir(filepath.Dir(filepath.Dir(ledger)))
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, LedgerPath: ledger, Config: diffConfig})
		if err != nil {
			return nil, err
		}
		return &fileBackend{l: l}, nil
	}
}

func (f *fileBackend) Writeback(req writeback.WritebackRequest) (writeback.Decision, error) {
	out, err := f.l.Writeback(context.Background(), req)
	return out.Decision, err
}

func (f *fileBackend) AppendRegistry(rec writeback.RegistryRecord) error {
	return f.l.AppendRegistry(context.Background(), rec)
}

func (f *fileBackend) Settle(batch string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleResult, error) {
	out, err := f.l.Settle(context.Background(), batch, tracks, thisTrack)
	return out.Result, err
}

// AppendRaw writes behind the store's back, as another process would; the
// store reads the new line before its next operation.
func (f *fileBackend) AppendRaw(line string) error {
	if err := os.MkdirAll(filepath.Dir(f.l.Path()), 0o755); err != nil {
		return err
	}
	fh, err := os.OpenFile(f.l.Path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fh.WriteString(line + "\n"); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func (f *fileBackend) Classify(task string) (string, error) {
	return f.l.Classify(context.Background(), task)
}

func (f *fileBackend) LedgerPath() string { return f.l.Path() }
func (f *fileBackend) Close() error       { return f.l.Close() }
