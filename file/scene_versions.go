package file

import (
	"context"
	"fmt"
	"path/filepath"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

func (s *Scenes) writeManifest(b sceneBatch, m *scene.Manifest) error {
	data, err := scene.EncodeManifest(m)
	if err != nil {
		return settle.Wrap(settle.EINTERNAL, err, "encode manifest of batch %s", b.Ref.Batch)
	}
	return s.writeFile(b.manifest(), data)
}

// WriteCandidate is SceneVersionStore.write_scene_candidate. The identity
// guard runs first: a scene whose scene_id is not ref.Batch is refused with
// EIDENTITY and nothing is written, not even the lock file. Under the batch
// lock, a missing manifest over a flat body is materialized as v1 (active);
// a candidate whose structure fingerprint equals a registered version's
// returns that version (activating it if asked; the materialized manifest
// is written only then); otherwise the body is written as .vNNN.json
// (NNN = highest registered + 1), then the manifest. A new batch's first
// version is active. Errors: EIDENTITY, EINVALID (no scene), as Load,
// EUNAVAILABLE.
func (s *Scenes) WriteCandidate(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, error) {
	if sc == nil {
		return 0, settle.Errorf(settle.EINVALID, "no candidate scene")
	}
	if err := scene.AssertBatchIdentity(ref.Batch, sc); err != nil {
		return 0, err
	}
	if err := s.writable(ctx); err != nil {
		return 0, err
	}
	b, err := s.resolve(ref)
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

	l, err := s.lockBatch(ctx, b, true)
	if err != nil {
		return 0, err
	}
	defer s.unlock(l, b)

	m, hasActive, err := s.files(b).ManifestOrMaterialize()
	if err != nil {
		return 0, err
	}
	for _, e := range m.Versions {
		if e.StructureFingerprint != fp {
			continue
		}
		if activate && m.ActiveVersion != e.Version {
			m.ActiveVersion = e.Version
			if err := s.writeManifest(b, m); err != nil {
				return 0, err
			}
			s.log.Info("scene version activated", "batch", ref.Batch, "version", e.Version, "dedupe", true)
		}
		return e.Version, nil
	}
	v := m.MaxVersion() + 1
	path := b.version(v)
	if err := s.writeFile(path, body); err != nil {
		return 0, err
	}
	created := scene.PyISOFormat(s.now().UTC())
	m.Versions = append(m.Versions, scene.ManifestEntry{
		Version:              v,
		Artifact:             filepath.Base(path),
		StructureFingerprint: fp,
		CreatedAt:            &created,
		Reason:               reason,
	})
	if activate || !hasActive {
		m.ActiveVersion = v
	}
	if err := s.writeManifest(b, m); err != nil {
		return 0, err
	}
	s.log.Info("scene version created", "batch", ref.Batch, "version", v,
		"active", m.ActiveVersion == v, "reason", reason)
	return v, nil
}

// Activate is SceneVersionStore.activate: under the batch lock the version
// must be registered (a flat-only batch is materialized first), its body
// present and its scene_id the batch; then the manifest's active pointer
// moves (the manifest is written even when it already pointed there).
// Errors: ENOTFOUND (not registered, body missing), EMANIFESTIDENTITY,
// EUNSAFEARTIFACT, as Load, EUNAVAILABLE.
func (s *Scenes) Activate(ctx context.Context, ref scene.Ref, version int) error {
	if err := s.writable(ctx); err != nil {
		return err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return err
	}
	l, err := s.lockBatch(ctx, b, false)
	if err == errSceneNoDir {
		return settle.Errorf(settle.ENOTFOUND, "no scene for batch %s: nothing to activate", ref.Batch)
	}
	if err != nil {
		return err
	}
	defer s.unlock(l, b)

	m, _, err := s.files(b).ManifestOrMaterialize()
	if err != nil {
		return err
	}
	path, err := s.artifactPath(b, m, version)
	if err != nil {
		return err
	}
	sc, _, err := sceneLoadBody(path)
	if err != nil {
		return err
	}
	if sc.SceneID != ref.Batch {
		return settle.Errorf(settle.EMANIFESTIDENTITY, "body of v%d carries scene_id %q, not batch %s", version, sc.SceneID, ref.Batch)
	}
	prev := m.ActiveVersion
	m.ActiveVersion = version
	if err := s.writeManifest(b, m); err != nil {
		return fmt.Errorf("activate v%d: %w", version, err)
	}
	s.log.Info("scene version activated", "batch", ref.Batch, "version", version, "previous", prev)
	return nil
}
