package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// The scene store keeps the file store's layout as rows of scene_files:
// one row per file a project's scenes directory would hold, named as the
// file (ep_NNN_<batch>.json, .vNNN.json, .versions.json) and holding its
// exact bytes. Every operation makes the file store's decisions with the
// same functions of package scene; the batch's flock becomes a
// transaction-scoped advisory lock on the same name, and a mutation's
// reads and writes are one transaction, so a crash leaves the old or the
// new state, never a body without its manifest.

// batchFiles are the file names of one batch.
type batchFiles struct {
	ref   scene.Ref
	token string // canonical episode token ep_NNN
}

func (b batchFiles) flat() string     { return scene.FlatName(b.token, b.ref.Batch) }
func (b batchFiles) manifest() string { return scene.ManifestName(b.token, b.ref.Batch) }
func (b batchFiles) lock() string     { return scene.LockName(b.token, b.ref.Batch) }
func (b batchFiles) version(v int) string {
	return scene.VersionName(b.token, b.ref.Batch, v)
}

// resolve validates a Ref. Errors: EINVALID (project or batch),
// EINVALIDEPISODE.
func resolveRef(ref scene.Ref) (batchFiles, error) {
	if err := scene.ValidateProject(ref.Project); err != nil {
		return batchFiles{}, err
	}
	token, err := scene.CanonicalEpisode(ref.Episode)
	if err != nil {
		return batchFiles{}, err
	}
	if err := scene.ValidateBatchID(ref.Batch); err != nil {
		return batchFiles{}, err
	}
	return batchFiles{ref: ref, token: token}, nil
}

// lockBatch takes the batch's lock until the transaction ends.
func (s *Store) lockBatch(ctx context.Context, tx pgx.Tx, b batchFiles) error {
	if err := xlock(ctx, tx, s.lockKey("scene", b.ref.Project, b.lock())); err != nil {
		return s.fail(err, "lock batch %s", b.ref.Batch)
	}
	return nil
}

// readFile reads a scene file; ok is false when it does not exist.
func (s *Store) readFile(ctx context.Context, q querier, project, name string) (data []byte, ok bool, err error) {
	err = q.QueryRow(ctx, "SELECT data FROM scene_files WHERE project = $1 AND name = $2", project, name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail(err, "read %s", name)
	}
	return data, true, nil
}

// writeFile creates or replaces a scene file.
func (s *Store) writeFile(ctx context.Context, tx pgx.Tx, project, name string, data []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO scene_files (project, name, data) VALUES ($1, $2, $3)
		ON CONFLICT (project, name) DO UPDATE SET data = excluded.data, updated_at = now()`, project, name, data)
	return s.fail(err, "write %s", name)
}

// fileExists reports whether a scene file exists.
func (s *Store) fileExists(ctx context.Context, q querier, project, name string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM scene_files WHERE project = $1 AND name = $2)", project, name).Scan(&ok)
	return ok, s.fail(err, "stat %s", name)
}

// loadManifest is the seed's load_manifest: nil when absent. Errors:
// ECORRUPT, ESCHEMA, EMANIFESTIDENTITY.
func (s *Store) loadManifest(ctx context.Context, q querier, b batchFiles) (*scene.Manifest, error) {
	data, ok, err := s.readFile(ctx, q, b.ref.Project, b.manifest())
	if err != nil || !ok {
		return nil, err
	}
	m, err := scene.DecodeManifest(data, b.ref.Batch)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", b.manifest(), err)
	}
	return m, nil
}

// artifactName is the seed's manifest_artifact_path: the body a
// registered version's artifact names. Errors: ENOTFOUND, EUNSAFEARTIFACT.
func artifactName(b batchFiles, m *scene.Manifest, v int) (string, error) {
	e, err := m.Entry(v)
	if err != nil {
		return "", err
	}
	if err := scene.CheckArtifact(e.Artifact); err != nil {
		return "", fmt.Errorf("batch %s v%d: %w", b.ref.Batch, v, err)
	}
	return e.Artifact, nil
}

// loadBody is the seed's load_scene; it also returns the bytes read.
// Errors: ENOTFOUND, ECORRUPT, ESCHEMA.
func (s *Store) loadBody(ctx context.Context, q querier, project, name string) (*scene.Scene, []byte, error) {
	data, ok, err := s.readFile(ctx, q, project, name)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, settle.Errorf(settle.ENOTFOUND, "scene body not found: %s", name)
	}
	sc, err := scene.DecodeBody(data)
	if err != nil {
		return nil, nil, fmt.Errorf("scene body %s: %w", name, err)
	}
	return sc, data, nil
}

// loadRegistered loads version v's body through the manifest and checks
// that it carries the batch's identity.
func (s *Store) loadRegistered(ctx context.Context, q querier, b batchFiles, m *scene.Manifest, v int) (scene.Loaded, error) {
	name, err := artifactName(b, m, v)
	if err != nil {
		return scene.Loaded{}, err
	}
	sc, _, err := s.loadBody(ctx, q, b.ref.Project, name)
	if err != nil {
		return scene.Loaded{}, err
	}
	if sc.SceneID != b.ref.Batch {
		return scene.Loaded{}, settle.Errorf(settle.EMANIFESTIDENTITY,
			"scene body identity mismatch for batch %s v%d: loaded scene_id %q", b.ref.Batch, v, sc.SceneID)
	}
	return scene.Loaded{Scene: sc, Version: v, Fingerprint: scene.Fingerprint(sc)}, nil
}

// Load implements scene.Store (load_scene_active_with_version), on one
// snapshot. Errors: ENOTFOUND, ESCHEMA, ECORRUPT, EINVALIDEPISODE,
// EUNSAFEARTIFACT, EMANIFESTIDENTITY, EINVALID.
func (s *Store) Load(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	var ld scene.Loaded
	err = s.readTx(ctx, "load scene", func(tx pgx.Tx) error {
		var err error
		ld, err = s.loadActive(ctx, tx, b)
		return err
	})
	return ld, err
}

func (s *Store) loadActive(ctx context.Context, q querier, b batchFiles) (scene.Loaded, error) {
	m, err := s.loadManifest(ctx, q, b)
	if err != nil {
		return scene.Loaded{}, err
	}
	if m != nil {
		return s.loadRegistered(ctx, q, b, m, m.ActiveVersion)
	}
	sc, _, err := s.loadBody(ctx, q, b.ref.Project, b.flat())
	if settle.ErrorCode(err) == settle.ENOTFOUND {
		return scene.Loaded{}, settle.Errorf(settle.ENOTFOUND,
			"no scene for batch %s (episode %s): no manifest and no flat %s", b.ref.Batch, b.ref.Episode, b.flat())
	}
	if err != nil {
		return scene.Loaded{}, err
	}
	return scene.Loaded{Scene: sc, Version: 1, Fingerprint: scene.Fingerprint(sc)}, nil
}

// LoadVersion implements scene.Store: a registered version's body;
// without a manifest only version 1, the flat body, exists.
func (s *Store) LoadVersion(ctx context.Context, ref scene.Ref, version int) (scene.Loaded, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	var ld scene.Loaded
	err = s.readTx(ctx, "load scene version", func(tx pgx.Tx) error {
		m, err := s.loadManifest(ctx, tx, b)
		if err != nil {
			return err
		}
		if m != nil {
			ld, err = s.loadRegistered(ctx, tx, b, m, version)
			return err
		}
		if version != 1 {
			return settle.Errorf(settle.ENOTFOUND,
				"version %d of batch %s not registered (no manifest: only the flat v1 exists)", version, ref.Batch)
		}
		sc, _, err := s.loadBody(ctx, tx, b.ref.Project, b.flat())
		if err != nil {
			return err
		}
		ld = scene.Loaded{Scene: sc, Version: 1, Fingerprint: scene.Fingerprint(sc)}
		return nil
	})
	return ld, err
}

// reasonMaterializedLegacy is the manifest reason of a flat body
// materialized as version 1.
const reasonMaterializedLegacy = "materialized-legacy"

// legacyManifest is the manifest that materializes a flat body as v1.
func legacyManifest(b batchFiles, flat *scene.Scene) *scene.Manifest {
	return &scene.Manifest{
		SchemaVersion: scene.ManifestSchemaVersion,
		BatchID:       b.ref.Batch,
		ActiveVersion: 1,
		Versions: []scene.ManifestEntry{{
			Version:              1,
			Artifact:             b.flat(),
			StructureFingerprint: scene.Fingerprint(flat),
			CreatedAt:            nil,
			Reason:               reasonMaterializedLegacy,
		}},
	}
}

// Versions implements scene.Store: the registered versions in manifest
// order; a flat-only batch lists the version 1 a materialization would
// record.
func (s *Store) Versions(ctx context.Context, ref scene.Ref) ([]scene.VersionInfo, error) {
	b, err := resolveRef(ref)
	if err != nil {
		return nil, err
	}
	var out []scene.VersionInfo
	err = s.readTx(ctx, "scene versions", func(tx pgx.Tx) error {
		m, err := s.loadManifest(ctx, tx, b)
		if err != nil {
			return err
		}
		if m == nil {
			sc, _, err := s.loadBody(ctx, tx, b.ref.Project, b.flat())
			if settle.ErrorCode(err) == settle.ENOTFOUND {
				return settle.Errorf(settle.ENOTFOUND, "no scene for batch %s: no manifest and no flat body", ref.Batch)
			}
			if err != nil {
				return err
			}
			m = legacyManifest(b, sc)
		}
		out = make([]scene.VersionInfo, 0, len(m.Versions))
		for _, e := range m.Versions {
			out = append(out, scene.VersionInfo{ManifestEntry: e, Active: e.Version == m.ActiveVersion})
		}
		return nil
	})
	return out, err
}

// List implements scene.Store (list_scenes): the sorted names of the
// episode's flat scene files. Errors: EINVALIDEPISODE, EINVALID.
func (s *Store) List(ctx context.Context, project, episode string) ([]string, error) {
	if err := scene.ValidateProject(project); err != nil {
		return nil, err
	}
	token, err := scene.CanonicalEpisode(episode)
	if err != nil {
		return nil, err
	}
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	prefix := token + "_"
	rows, err := s.pool.Query(ctx,
		"SELECT name FROM scene_files WHERE project = $1 AND left(name, $2) = $3", project, len([]rune(prefix)), prefix)
	if err != nil {
		return nil, s.fail(err, "list scenes")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.fail(err, "list scenes")
	}
	out := []string{}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && scene.IsListedScene(n, token) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// manifestOrMaterialize is the seed's _manifest_or_materialize, under the
// batch lock: the stored manifest, else one registering an existing flat
// body as v1 (active), else an empty one (hasActive false).
func (s *Store) manifestOrMaterialize(ctx context.Context, tx pgx.Tx, b batchFiles) (m *scene.Manifest, hasActive bool, err error) {
	m, err = s.loadManifest(ctx, tx, b)
	if err != nil {
		return nil, false, err
	}
	if m != nil {
		return m, true, nil
	}
	flat, _, err := s.loadBody(ctx, tx, b.ref.Project, b.flat())
	if settle.ErrorCode(err) == settle.ENOTFOUND {
		return &scene.Manifest{
			SchemaVersion: scene.ManifestSchemaVersion,
			BatchID:       b.ref.Batch,
			Versions:      []scene.ManifestEntry{},
		}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return legacyManifest(b, flat), true, nil
}

func (s *Store) writeManifest(ctx context.Context, tx pgx.Tx, b batchFiles, m *scene.Manifest) error {
	data, err := scene.EncodeManifest(m)
	if err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "encode manifest of batch %s", b.ref.Batch)
	}
	return s.writeFile(ctx, tx, b.ref.Project, b.manifest(), data)
}

// WriteCandidate implements scene.Store (write_scene_candidate): the
// identity guard first (EIDENTITY, nothing written); under the batch lock
// a flat-only batch is materialized as v1; a candidate whose structure
// fingerprint equals a registered version's returns that version
// (activating it if asked); otherwise the body is stored as .vNNN.json
// with its manifest entry, in one transaction. A new batch's first
// version is active.
func (s *Store) WriteCandidate(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, error) {
	if sc == nil {
		return 0, settle.Errorf(settle.EINVALID, "no candidate scene")
	}
	if err := scene.AssertBatchIdentity(ref.Batch, sc); err != nil {
		return 0, err
	}
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return 0, err
	}
	body, err := scene.EncodeBody(sc)
	if err != nil {
		return 0, settle.Wrap(settle.EINVALID, err, "encode candidate scene")
	}
	fp, err := scene.FingerprintStrict(sc)
	if err != nil {
		return 0, err
	}
	var version int
	var created, activated bool
	err = s.writeTx(ctx, "write scene candidate", func(tx pgx.Tx) error {
		created, activated = false, false
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		m, hasActive, err := s.manifestOrMaterialize(ctx, tx, b)
		if err != nil {
			return err
		}
		for _, e := range m.Versions {
			if e.StructureFingerprint != fp {
				continue
			}
			version = e.Version
			if activate && m.ActiveVersion != e.Version {
				m.ActiveVersion = e.Version
				activated = true
				return s.writeManifest(ctx, tx, b, m)
			}
			return nil
		}
		v := m.MaxVersion() + 1
		name := b.version(v)
		if err := s.writeFile(ctx, tx, b.ref.Project, name, body); err != nil {
			return err
		}
		createdAt := scene.PyISOFormat(s.now().UTC())
		m.Versions = append(m.Versions, scene.ManifestEntry{
			Version:              v,
			Artifact:             name,
			StructureFingerprint: fp,
			CreatedAt:            &createdAt,
			Reason:               reason,
		})
		if activate || !hasActive {
			m.ActiveVersion = v
			activated = true
		}
		version, created = v, true
		return s.writeManifest(ctx, tx, b, m)
	})
	if err != nil {
		return 0, err
	}
	switch {
	case created:
		s.log.Info("scene version created", "batch", ref.Batch, "version", version, "active", activated, "reason", reason)
	case activated:
		s.log.Info("scene version activated", "batch", ref.Batch, "version", version, "dedupe", true)
	}
	return version, nil
}

// Activate implements scene.Store: under the batch lock the version must
// be registered (a flat-only batch is materialized first), its body
// present and its scene_id the batch; then the manifest's pointer moves.
// Errors: ENOTFOUND, EMANIFESTIDENTITY, EUNSAFEARTIFACT, as Load.
func (s *Store) Activate(ctx context.Context, ref scene.Ref, version int) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	b, err := resolveRef(ref)
	if err != nil {
		return err
	}
	prev := 0
	err = s.writeTx(ctx, "activate scene version", func(tx pgx.Tx) error {
		if err := s.lockBatch(ctx, tx, b); err != nil {
			return err
		}
		m, _, err := s.manifestOrMaterialize(ctx, tx, b)
		if err != nil {
			return err
		}
		name, err := artifactName(b, m, version)
		if err != nil {
			return err
		}
		sc, _, err := s.loadBody(ctx, tx, b.ref.Project, name)
		if err != nil {
			return err
		}
		if sc.SceneID != ref.Batch {
			return settle.Errorf(settle.EMANIFESTIDENTITY, "body of v%d carries scene_id %q, not batch %s", version, sc.SceneID, ref.Batch)
		}
		prev = m.ActiveVersion
		m.ActiveVersion = version
		if err := s.writeManifest(ctx, tx, b, m); err != nil {
			return fmt.Errorf("activate v%d: %w", version, err)
		}
		return nil
	})
	if err == nil {
		s.log.Info("scene version activated", "batch", ref.Batch, "version", version, "previous", prev)
	}
	return err
}
