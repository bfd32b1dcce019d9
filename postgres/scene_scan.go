package postgres

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/settlehq/settle/scene"
)

// SceneScanner finds the scene bodies and manifests written since its
// previous Scan (all of them on the first), for a follower of scene
// writes (derive.Deriver.FollowScenes, a derive.ManifestSource): every
// server runs one, so the event of a write whose writer died between its
// commit and its event is derived by any of them, keyed by the row's
// stamp as its writer keys it.
//
// Every settle write of a row sets its xid to the writing transaction's
// id. A Scan reads the rows whose xid is not below its cursor, then moves
// the cursor to the oldest transaction still running when it read
// (pg_snapshot_xmin): transaction ids are taken in one order and commit
// in another, so a row committed after a Scan by a transaction older than
// rows that Scan read is still above the cursor the next time. Rows read
// again (their transaction was at or above the cursor) are recognized by
// their xid and stamp and not reported twice. Not safe for concurrent
// use.
type SceneScanner struct {
	s      *Store
	cursor int64
	// seen holds the rows of the last Scan at or above its cursor, with
	// the xid and stamp read.
	seen      map[fileKey]seenRow
	manifests []scene.ManifestState
}

type seenRow struct {
	xid   int64
	stamp string
}

// SceneScanner returns a scanner of the store's scene files.
func (s *Store) SceneScanner() *SceneScanner {
	return &SceneScanner{s: s, seen: map[fileKey]seenRow{}}
}

// SceneGrace is how long a follower of the scene rows leaves a write it
// found to its writer, which may be another server, whose event follows
// its commit by a round trip and an event group commit
// (derive.GraceSource).
const SceneGrace = time.Second

// Grace implements derive.GraceSource.
func (sc *SceneScanner) Grace() time.Duration { return SceneGrace }

// scanChunk bounds the rows whose bytes one query of a Scan reads (but
// for one batch's, read together).
const scanChunk = 256

// Scan implements derive.SceneSource: the version bodies written since
// the previous Scan; for a batch with a manifest, its registered
// versions' bodies, for one without, its flat body as version 1. A body
// or manifest that does not decode is passed over. A body's ModTime is
// left zero: the database's clock and the servers' need not agree, so a
// follower tells a version's body as created from one saved since by its
// revision alone.
func (sc *SceneScanner) Scan(ctx context.Context) ([]scene.BodyState, error) {
	if err := sc.s.usable(ctx); err != nil {
		return nil, err
	}
	var (
		out       []scene.BodyState
		manifests []scene.ManifestState
		xmin      int64
		seen      map[fileKey]seenRow
	)
	err := sc.s.readTx(ctx, "scan scene files", func(tx pgx.Tx) error {
		out, manifests, seen = nil, nil, map[fileKey]seenRow{}
		// The cursor first: a transaction older than it has ended before
		// the rows are read, so they show its writes.
		if err := tx.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&xmin); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT project, name, xid, stamp FROM scene_files WHERE xid >= $1", sc.cursor)
		if err != nil {
			return err
		}
		changed := map[fileKey]seenRow{}
		byBatch := map[scene.Batch][]fileKey{}
		var order []scene.Batch
		for rows.Next() {
			var k fileKey
			var r seenRow
			if err := rows.Scan(&k.project, &k.name, &r.xid, &r.stamp); err != nil {
				rows.Close()
				return err
			}
			if r.xid >= xmin {
				seen[k] = r
			}
			if prev, ok := sc.seen[k]; ok && prev == r {
				continue
			}
			b, ok := batchOfFile(k.project, k.name)
			if !ok {
				continue
			}
			changed[k] = r
			if _, ok := byBatch[b]; !ok {
				order = append(order, b)
			}
			byBatch[b] = append(byBatch[b], k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// The changed rows' bytes and their batches' manifests, a few
		// batches at a time.
		for len(order) > 0 {
			var want []fileKey
			n := 0
			for n < len(order) && len(want) < scanChunk {
				b := order[n]
				want = append(want, byBatch[b]...)
				if mk := (fileKey{b.Ref.Project, b.Manifest()}); !slices.Contains(byBatch[b], mk) {
					want = append(want, mk)
				}
				n++
			}
			files := make(map[fileKey]storedFile, len(want))
			if err := readFiles(ctx, tx, want, files); err != nil {
				return err
			}
			for _, b := range order[:n] {
				var ms *scene.ManifestState
				out, ms = scanRowBatch(b, files, changed, out)
				if ms != nil {
					manifests = append(manifests, *ms)
				}
			}
			order = order[n:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sc.cursor, sc.seen, sc.manifests = xmin, seen, manifests
	return out, nil
}

// Manifests implements derive.ManifestSource: the manifests written
// since the Scan before the last, with their active version and stamp.
// A manifest with no stamp (written before stamps, or copied in by a
// migration) is left out: its writer announced its activations.
func (sc *SceneScanner) Manifests() []scene.ManifestState {
	return append([]scene.ManifestState(nil), sc.manifests...)
}

// batchOfFile names the batch of a scene file: its flat body, its
// manifest, or a version body named as settle names them
// (<token>_<batch>.vNNN.json).
func batchOfFile(project, name string) (scene.Batch, bool) {
	token, batch, ok := scene.ParseBatchName(name)
	if !ok {
		base, found := strings.CutSuffix(name, ".json")
		i := strings.LastIndex(base, ".v")
		if !found || i < 0 || !allDigits(base[i+2:]) {
			return scene.Batch{}, false
		}
		if token, batch, ok = scene.ParseBatchName(base[:i] + ".json"); !ok {
			return scene.Batch{}, false
		}
	}
	return scene.Batch{Ref: scene.Ref{Project: project, Episode: token, Batch: batch}, Token: token}, true
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}

// storedFile is a scene file's bytes and stamp.
type storedFile struct {
	data  []byte
	stamp string
}

// readFiles reads the files named into files.
func readFiles(ctx context.Context, tx pgx.Tx, want []fileKey, files map[fileKey]storedFile) error {
	projects := make([]string, len(want))
	names := make([]string, len(want))
	for i, k := range want {
		projects[i], names[i] = k.project, k.name
	}
	return queryFiles(ctx, tx, projects, names, true, func(k fileKey, data []byte, stamp string) {
		files[k] = storedFile{data: data, stamp: stamp}
	})
}

// The queries of queryFiles: the files of the keys ($1[i], $2[i]), their
// stamps ("" in filesSQL) after their bytes.
const (
	filesJoin = ` FROM scene_files f
		JOIN unnest($1::text[], $2::text[]) AS w(project, name) ON f.project = w.project AND f.name = w.name`
	filesSQL        = `SELECT f.project, f.name, f.data, ''` + filesJoin
	filesStampedSQL = `SELECT f.project, f.name, f.data, f.stamp` + filesJoin
)

// queryFiles reads the scene files (projects[i], names[i]) that exist, in
// one query, and calls found for each; stamp is "" unless withStamp.
func queryFiles(ctx context.Context, tx pgx.Tx, projects, names []string, withStamp bool, found func(k fileKey, data []byte, stamp string)) error {
	sql := filesSQL
	if withStamp {
		sql = filesStampedSQL
	}
	rows, err := tx.Query(ctx, sql, projects, names)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k fileKey
		var data []byte
		var st string
		if err := rows.Scan(&k.project, &k.name, &data, &st); err != nil {
			return err
		}
		found(k, data, st)
	}
	return rows.Err()
}

// scanRowBatch appends the changed bodies of one batch to out, and
// returns its manifest's state when the manifest changed (and has a
// stamp).
func scanRowBatch(b scene.Batch, files map[fileKey]storedFile, changed map[fileKey]seenRow, out []scene.BodyState) ([]scene.BodyState, *scene.ManifestState) {
	p := b.Ref.Project
	mk := fileKey{p, b.Manifest()}
	mf, hasManifest := files[mk]
	if !hasManifest {
		fk := fileKey{p, b.Flat()}
		f, ok := files[fk]
		if _, ch := changed[fk]; !ok || !ch {
			return out, nil
		}
		body, err := scene.DecodeBody(f.data)
		if err != nil {
			return out, nil
		}
		return append(out, scene.BodyState{Ref: b.Ref, Version: 1, Revision: scene.Revision(f.data), Stamp: f.stamp,
			Fingerprint: scene.Fingerprint(body), Active: true}), nil
	}
	m, err := scene.DecodeManifest(mf.data, b.Ref.Batch)
	if err != nil {
		return out, nil
	}
	var ms *scene.ManifestState
	if _, ch := changed[mk]; ch && mf.stamp != "" {
		ms = &scene.ManifestState{Ref: b.Ref, Active: m.ActiveVersion, Stamp: mf.stamp}
	}
	for _, e := range m.Versions {
		if scene.CheckArtifact(e.Artifact) != nil {
			continue
		}
		k := fileKey{p, e.Artifact}
		f, ok := files[k]
		if _, ch := changed[k]; !ok || !ch {
			continue
		}
		fp := e.StructureFingerprint
		if fp == "" {
			body, err := scene.DecodeBody(f.data)
			if err != nil {
				continue
			}
			fp = scene.Fingerprint(body)
		}
		out = append(out, scene.BodyState{Ref: b.Ref, Version: e.Version, Revision: scene.Revision(f.data), Stamp: f.stamp,
			Fingerprint: fp, Reason: e.Reason, Active: m.ActiveVersion == e.Version})
	}
	return out, ms
}
