package postgres

import (
	"bytes"
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// The methods of this file let settle migrate move data to and from the
// file store byte for byte. They are not part of the store interfaces.

// ImportRecords appends ledger lines (each a record's exact JSON line,
// without '\n') at seq start, start+1, ... in one transaction, if the
// ledger holds exactly start records; otherwise nothing is written and the
// error is VERSION_CONFLICT. It holds the ledger's append lock
// exclusively, so no write-back evaluates while history is imported.
// Errors: InvalidInput (a line that is not a record), VersionConflict,
// Unavailable.
func (s *Store) ImportRecords(ctx context.Context, start int64, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	rows := make([]ledgerRow, 0, len(lines))
	for i, line := range lines {
		if bytes.IndexByte(line, '\n') >= 0 {
			return settle.Errorf(settle.InvalidInput, "import line %d holds a newline", i)
		}
		rec, ok := writeback.DecodeLine(line)
		if !ok {
			return settle.Errorf(settle.InvalidInput, "import line %d is not a ledger record", i)
		}
		r, err := rowOf(&rec, append([]byte(nil), line...))
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	return s.writeTx(ctx, "import records", func(tx pgx.Tx) error {
		if err := xlock(ctx, tx, s.lockKey(appendKey)); err != nil {
			return err
		}
		var next int64
		if err := tx.QueryRow(ctx, "SELECT next_seq FROM ledger_head WHERE id = 1 FOR UPDATE").Scan(&next); err != nil {
			return err
		}
		if next != start {
			return settle.Errorf(settle.VersionConflict, "ledger holds %d records, the import starts at %d", next, start)
		}
		if err := insertRows(ctx, tx, start, rows); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE ledger_head SET next_seq = $1 WHERE id = 1", start+int64(len(rows)))
		return err
	})
}

// walkDocs calls fn for every row of a batch-keyed table in batch id
// (byte) order.
func (s *Store) walkDocs(ctx context.Context, table string, fn func(batchID string, data []byte) error) error {
	var id string
	var data []byte
	return s.eachRow(ctx, "read "+table, "SELECT batch_id, data FROM "+table+` ORDER BY batch_id COLLATE "C"`, []any{&id, &data}, func() error {
		return fn(id, data)
	})
}

// WalkBatchFiles calls fn with every batch declaration's batch id and
// exact bytes, in batch id order.
func (s *Store) WalkBatchFiles(ctx context.Context, fn func(batchID string, data []byte) error) error {
	return s.walkDocs(ctx, "batches", fn)
}

// PutBatchFile creates or replaces a batch declaration with data.
func (s *Store) PutBatchFile(ctx context.Context, batchID string, data []byte) error {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return err
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO batches (batch_id, data) VALUES ($1, $2)
		ON CONFLICT (batch_id) DO UPDATE SET data = excluded.data, updated_at = now()`, batchID, data)
	return s.fail(err, "put batch %s", batchID)
}

// WalkSummaryFiles calls fn with every consolidated summary's batch id and
// exact bytes, in batch id order.
func (s *Store) WalkSummaryFiles(ctx context.Context, fn func(batchID string, data []byte) error) error {
	return s.walkDocs(ctx, "summaries", fn)
}

// PutSummaryFile stores a batch's summary unless it has one (a summary is
// written once); created says whether it did.
func (s *Store) PutSummaryFile(ctx context.Context, batchID string, data []byte) (bool, error) {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return false, err
	}
	if err := s.usable(ctx); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, "INSERT INTO summaries (batch_id, data) VALUES ($1, $2) ON CONFLICT (batch_id) DO NOTHING", batchID, data)
	if err != nil {
		return false, s.fail(err, "put summary %s", batchID)
	}
	return tag.RowsAffected() == 1, nil
}

// checkSceneFile accepts a project and the name of a scene file a
// migration copies: a bare basename ending in ".json".
func checkSceneFile(project, name string) error {
	if err := scene.ValidateProject(project); err != nil {
		return err
	}
	if err := scene.CheckArtifact(name); err != nil {
		return err
	}
	if !strings.HasSuffix(name, ".json") || strings.Contains(name, ".tmp-") {
		return settle.Errorf(settle.InvalidInput, "%q is not a scene file name", name)
	}
	return nil
}

// WalkSceneFiles calls fn with every scene file and its exact bytes, in
// project then name (byte) order.
func (s *Store) WalkSceneFiles(ctx context.Context, fn func(project, name string, data []byte) error) error {
	var project, name string
	var data []byte
	return s.eachRow(ctx, "read scene files", `SELECT project, name, data FROM scene_files ORDER BY project COLLATE "C", name COLLATE "C"`, []any{&project, &name, &data}, func() error {
		return fn(project, name, data)
	})
}

// ReadSceneFile returns a scene file's bytes; ok is false when it does not
// exist.
func (s *Store) ReadSceneFile(ctx context.Context, project, name string) ([]byte, bool, error) {
	if err := checkSceneFile(project, name); err != nil {
		return nil, false, err
	}
	if err := s.usable(ctx); err != nil {
		return nil, false, err
	}
	data, _, ok, err := s.readFile(ctx, s.pool, project, name)
	return data, ok, err
}

// PutSceneFile creates or replaces a scene file with data. The copy is
// not a save: its stamp is "", so a follower of the scene files derives
// no scene.status_saved or scene.activated from it (the events of the
// store it comes from are copied with it).
func (s *Store) PutSceneFile(ctx context.Context, project, name string, data []byte) error {
	if err := checkSceneFile(project, name); err != nil {
		return err
	}
	return s.writeTx(ctx, "put scene file", func(tx pgx.Tx) error {
		_, err := s.writeFile(ctx, tx, project, name, data, -1)
		return err
	})
}
