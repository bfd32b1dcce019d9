package file

// # Export and import
//
// The methods of this file let settle migrate move a workspace's data to
// and from another store byte for byte: ledger lines, batch declaration and
// summary files, and every file of the scenes directories. They are not
// part of the store interfaces; a migration runs while no server writes
// the target.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// ImportRecords appends ledger lines (each a record's exact JSON line,
// without '\n') in one locked write and one fsync, if the ledger holds
// exactly start records; otherwise nothing is written and the error is
// VERSION_CONFLICT. Every line must decode as a ledger record and hold no
// newline (INVALID_INPUT). Errors: InvalidInput, VersionConflict,
// Unavailable.
func (l *Ledger) ImportRecords(ctx context.Context, start int64, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	var data []byte
	for i, line := range lines {
		if bytes.IndexByte(line, '\n') >= 0 {
			return settle.Errorf(settle.InvalidInput, "import line %d holds a newline", i)
		}
		if _, ok := writeback.DecodeLine(line); !ok {
			return settle.Errorf(settle.InvalidInput, "import line %d is not a ledger record", i)
		}
		data = append(data, line...)
		data = append(data, '\n')
	}
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "import records")
	}
	// commitMu: a run of group commits holds the flock on the same file,
	// which a second flock call would not wait for.
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.writable(); err != nil {
		return err
	}
	unlock, err := l.lockForAppend(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if n := int64(l.ix.len()); n != start {
		return settle.Errorf(settle.VersionConflict, "ledger holds %d records, the import starts at %d", n, start)
	}
	pre := l.off
	if err := durable.Append(l.f, data); err != nil {
		l.st.fsyncErrors.Add(1)
		l.poisonAfter(err, pre)
		return settle.Wrap(settle.Unavailable, err, "import records")
	}
	l.st.fsyncs.Add(1)
	if err := l.catchUp(); err != nil {
		l.log.Error("index catch-up after import failed; re-reading on next use", "err", err)
		l.resetIndex()
		l.fid = fileID{}
	} else {
		l.saveIndex()
	}
	l.publish()
	return nil
}

// walkJSONDir calls fn for every regular *.json file of dir (not a
// temporary file), in name order, with the name without ".json". A
// missing directory has none.
func walkJSONDir(ctx context.Context, dir string, fn func(key string, data []byte) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return settle.Wrap(settle.Internal, err, "list %s", dir)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.Contains(name, durable.TmpMarker) || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return settle.Wrap(settle.Unavailable, err, "walk %s", dir)
		}
		data, err := durable.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return pathErr(settle.Internal, err, "read %s", name)
		}
		if err := fn(strings.TrimSuffix(name, ".json"), data); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) batchesDir() string {
	return filepath.Join(l.root, filepath.FromSlash(BatchesRelDir))
}

func (l *Ledger) summariesDir() string {
	return filepath.Join(l.root, filepath.FromSlash(writeback.SummariesRelDir))
}

// WalkBatchFiles calls fn with every batch declaration file's batch id and
// exact bytes, in batch id order.
func (l *Ledger) WalkBatchFiles(ctx context.Context, fn func(batchID string, data []byte) error) error {
	if _, err := l.underRoot(BatchesRelDir); err != nil {
		return err
	}
	return walkJSONDir(ctx, l.batchesDir(), func(key string, data []byte) error {
		if writeback.CheckBatchID(key) != nil {
			return nil
		}
		return fn(key, data)
	})
}

// PutBatchFile creates or replaces a batch declaration file with data.
// Errors: InvalidInput (batch id), Internal.
func (l *Ledger) PutBatchFile(ctx context.Context, batchID string, data []byte) error {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "put batch")
	}
	if err := durable.MkdirUnder(l.root, l.batchesDir(), 0o755); err != nil {
		return pathErr(settle.Internal, err, "create batches directory")
	}
	if err := durable.WriteFile(filepath.Join(l.batchesDir(), batchID+".json"), data, 0o644); err != nil {
		return settle.Wrap(settle.Internal, err, "write batch %s", batchID)
	}
	return nil
}

// WalkSummaryFiles calls fn with every consolidated summary file's batch
// id and exact bytes, in batch id order.
func (l *Ledger) WalkSummaryFiles(ctx context.Context, fn func(batchID string, data []byte) error) error {
	if _, err := l.underRoot(writeback.SummariesRelDir); err != nil {
		return err
	}
	return walkJSONDir(ctx, l.summariesDir(), func(key string, data []byte) error {
		if writeback.CheckBatchID(key) != nil {
			return nil
		}
		return fn(key, data)
	})
}

// PutSummaryFile creates a batch's summary file with data unless one
// exists (a summary is written once); created says whether it did.
func (l *Ledger) PutSummaryFile(ctx context.Context, batchID string, data []byte) (bool, error) {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, settle.Wrap(settle.Unavailable, err, "put summary")
	}
	if err := durable.MkdirUnder(l.root, l.summariesDir(), 0o755); err != nil {
		return false, pathErr(settle.Internal, err, "create summaries directory")
	}
	created, err := durable.CreateFile(filepath.Join(l.summariesDir(), batchID+".json"), data, 0o644)
	if err != nil {
		return false, settle.Wrap(settle.Internal, err, "write summary %s", batchID)
	}
	return created, nil
}

// checkSceneFileName accepts the name of a scene file a migration copies:
// a bare basename ending in ".json" that is not a temporary file.
func checkSceneFileName(name string) error {
	if err := scene.CheckArtifact(name); err != nil {
		return err
	}
	if !strings.HasSuffix(name, ".json") || strings.Contains(name, durable.TmpMarker) {
		return settle.Errorf(settle.InvalidInput, "%q is not a scene file name", name)
	}
	return nil
}

// WalkSceneFiles calls fn with every scene file (flat and versioned
// bodies, manifests: the regular *.json files of each project's scenes
// directory, without temporary files and locks) and its exact bytes, in
// project then name order.
func (s *Scenes) WalkSceneFiles(ctx context.Context, fn func(project, name string, data []byte) error) error {
	projects, err := os.ReadDir(filepath.Join(s.Root(), "projects"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return settle.Wrap(settle.Internal, err, "list projects")
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i].Name() < projects[j].Name() })
	for _, p := range projects {
		project := p.Name()
		if !p.IsDir() || scene.ValidateProject(project) != nil {
			continue
		}
		dir, err := s.Dir(project)
		if err != nil {
			return err
		}
		err = walkJSONDir(ctx, dir, func(key string, data []byte) error {
			name := key + ".json"
			if checkSceneFileName(name) != nil {
				return nil
			}
			return fn(project, name, data)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadSceneFile returns a scene file's bytes; ok is false when it does not
// exist. Errors: InvalidInput (project or name), UnsafeArtifact.
func (s *Scenes) ReadSceneFile(ctx context.Context, project, name string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, settle.Wrap(settle.Unavailable, err, "read scene file")
	}
	if err := checkSceneFileName(name); err != nil {
		return nil, false, err
	}
	dir, err := s.Dir(project)
	if err != nil {
		return nil, false, err
	}
	data, err := durable.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, pathErr(settle.Internal, err, "read %s", name)
	}
	return data, true, nil
}

// PutSceneFile creates or replaces a scene file with data, durably (it
// takes no batch lock: a migration writes a target no server writes).
// Errors: InvalidInput (project or name), UnsafeArtifact, Unavailable.
func (s *Scenes) PutSceneFile(ctx context.Context, project, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "put scene file")
	}
	if err := checkSceneFileName(name); err != nil {
		return err
	}
	dir, err := s.Dir(project)
	if err != nil {
		return err
	}
	if err := durable.MkdirUnder(s.root, dir, 0o755); err != nil {
		return pathErr(settle.Unavailable, err, "create scenes directory")
	}
	if err := durable.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return settle.Wrap(settle.Unavailable, err, "write %s", name)
	}
	return nil
}
