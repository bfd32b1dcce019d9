package postgres

import (
	"context"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/scene"
)

// SceneGroupStats returns a snapshot of the status saves' group commit
// counters.
func (s *Store) SceneGroupStats() GroupStats { return groupStats(s.sq.Stats()) }

// scall is one status save waiting for a group commit.
type scall struct {
	b      scene.Batch
	c      scene.Cond
	mutate func(*scene.Scene) error

	out  scene.Loaded
	cold bool
	err  error
	// busy: another transaction held the batch's lock, so the save runs
	// on its own, waiting for the lock within its caller's context.
	busy bool
}

// fileKey names a scene file of a project.
type fileKey struct{ project, name string }

// fileCache is a group transaction's view of the scene files it read or
// wrote: reads are served from it once known, and writes are kept in it
// and sent in one statement before the commit, so a save that follows
// another of the same batch in the group sees its body.
type fileCache struct {
	known   map[fileKey][]byte // nil value: the file does not exist
	pending []fileKey          // written, in first-write order
	// ord is the place in the group of the save writing now; each file
	// written is stamped "<xid>.<ord>" with its last writer's, so two
	// saves of one body in a group have different stamps.
	ord  int
	ords map[fileKey]int
}

// saveStatusGrouped runs a status save (UpdateStatusIf) through the
// scene group queue: concurrent saves share one transaction and one
// commit, each with its own checks and its own error. mutate must not
// block: it runs inside the group's transaction. ok is false when the
// batch was busy: the caller saves on its own.
func (s *Store) saveStatusGrouped(ctx context.Context, b scene.Batch, c scene.Cond, mutate func(*scene.Scene) error) (out scene.Loaded, cold, ok bool, err error) {
	sc := &scall{b: b, c: c, mutate: mutate}
	if err := s.sq.Submit(ctx, sc); err != nil {
		return scene.Loaded{}, false, true, err
	}
	if sc.busy {
		return scene.Loaded{}, false, false, nil
	}
	return sc.out, sc.cold, true, sc.err
}

// commitScenes runs a group of status saves in one transaction. One
// round trip tries every batch lock of the group, without waiting (so
// the group never waits on one batch, and groups never deadlock), and
// reads the batches' manifests and flat bodies; a save whose batch is
// busy leaves the group and runs on its own. A second round trip reads
// the active bodies the manifests name.
// The saves then run in arrival order on those files, each refused on
// its own (a save writes nothing before its last check passes), and
// their bodies are written in one statement. A database failure fails
// every save of the group.
func (s *Store) commitScenes(group []*scall) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	keys := make([]int64, len(group))
	var want []fileKey
	for i, c := range group {
		keys[i] = s.lockKey("scene", c.b.Ref.Project, c.b.Lock())
		want = append(want, fileKey{c.b.Ref.Project, c.b.Manifest()}, fileKey{c.b.Ref.Project, c.b.Flat()})
	}
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	err := s.writeTx(ctx, "save scene status", func(tx pgx.Tx) error {
		for _, c := range group {
			c.out, c.cold, c.err, c.busy = scene.Loaded{}, false, nil, false
		}
		fc := &fileCache{known: map[fileKey][]byte{}, ords: map[fileKey]int{}}
		b := &pgx.Batch{}
		b.Queue("SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)", uniq)
		br := tx.SendBatch(ctx, b)
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		for i, c := range group {
			c.busy = !slices.Contains(held, keys[i])
		}
		if err := fc.prefetch(ctx, tx, want); err != nil {
			return err
		}
		// The active bodies the manifests name.
		want = want[:0]
		for _, c := range group {
			if c.busy {
				continue
			}
			f := s.cachedFiles(ctx, tx, c.b, fc)
			m, err := f.LoadManifest()
			if err != nil || m == nil {
				continue // the save itself meets the error, or reads the flat body
			}
			if name, err := c.b.ArtifactName(m, m.ActiveVersion); err == nil {
				want = append(want, fileKey{c.b.Ref.Project, name})
			}
		}
		if len(want) > 0 {
			if err := fc.prefetch(ctx, tx, want); err != nil {
				return err
			}
		}
		for i, c := range group {
			if c.busy {
				continue
			}
			fc.ord = i
			w, err := s.cachedFiles(ctx, tx, c.b, fc).UpdateStatusIf(c.c, c.mutate)
			if err != nil {
				if tx.Conn().IsClosed() || tx.Conn().PgConn().TxStatus() == 'E' {
					return err // the transaction is lost
				}
				c.err = err
				continue
			}
			c.out, c.cold = w.Loaded, w.Cold
		}
		xid, err := fc.flush(ctx, tx)
		if err != nil {
			return err
		}
		for i, c := range group {
			if !c.busy && c.err == nil && xid != "" {
				c.out.Stamp = xid + "." + strconv.Itoa(i)
			}
		}
		return nil
	})
	if err != nil {
		for _, c := range group {
			if c.err == nil && !c.busy {
				c.out, c.err = scene.Loaded{}, err
			}
		}
	}
}

// cachedFiles is the batch in the engine of package scene, reading and
// writing through fc.
func (s *Store) cachedFiles(ctx context.Context, tx pgx.Tx, b scene.Batch, fc *fileCache) scene.BatchFiles {
	return scene.BatchFiles{Batch: b, Files: sceneFiles{s: s, ctx: ctx, tx: tx, project: b.Ref.Project, cache: fc}}
}

// prefetch reads the files named in one query and records them in the
// cache.
func (fc *fileCache) prefetch(ctx context.Context, tx pgx.Tx, want []fileKey) error {
	projects := make([]string, 0, len(want))
	names := make([]string, 0, len(want))
	for _, k := range want {
		if _, ok := fc.known[k]; ok {
			continue
		}
		projects, names = append(projects, k.project), append(names, k.name)
		fc.known[k] = nil
	}
	if len(names) == 0 {
		return nil
	}
	return queryFiles(ctx, tx, projects, names, false, func(k fileKey, data []byte, _ string) {
		if data == nil {
			data = []byte{}
		}
		fc.known[k] = data
	})
}

// flush writes the files the group changed, in one statement, and
// returns the transaction's id ("" when nothing was written).
func (fc *fileCache) flush(ctx context.Context, tx pgx.Tx) (string, error) {
	if len(fc.pending) == 0 {
		return "", nil
	}
	projects := make([]string, len(fc.pending))
	names := make([]string, len(fc.pending))
	datas := make([][]byte, len(fc.pending))
	ords := make([]int32, len(fc.pending))
	for i, k := range fc.pending {
		projects[i], names[i], datas[i], ords[i] = k.project, k.name, fc.known[k], int32(fc.ords[k])
	}
	var xid int64
	err := tx.QueryRow(ctx, `WITH w AS (
			INSERT INTO scene_files (project, name, data, xid, stamp)
			SELECT p, n, d, pg_current_xact_id()::text::bigint, pg_current_xact_id()::text || '.' || o
			FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[]) AS u(p, n, d, o)
			ON CONFLICT (project, name) DO UPDATE SET data = excluded.data, updated_at = now(),
				xid = excluded.xid, stamp = excluded.stamp
			RETURNING xid)
		SELECT min(xid) FROM w`, projects, names, datas, ords).Scan(&xid)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(xid, 10), nil
}

// read returns a file the cache knows; known is false when it has not
// been read yet.
func (fc *fileCache) read(k fileKey) (data []byte, ok, known bool) {
	d, known := fc.known[k]
	return d, d != nil, known
}

// write records a file's new bytes, sent at the flush.
func (fc *fileCache) write(k fileKey, data []byte) {
	if !slices.Contains(fc.pending, k) {
		fc.pending = append(fc.pending, k)
	}
	fc.known[k] = append([]byte{}, data...)
	fc.ords[k] = fc.ord
}
