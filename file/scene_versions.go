package file

import (
	"context"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// WriteCandidate is SceneVersionStore.write_scene_candidate. The identity
// guard runs first: a scene whose scene_id is not ref.Batch is refused with
// IdentityMismatch and nothing is written, not even the lock file. Under the batch
// lock, a missing manifest over a flat body is materialized as v1 (active);
// a candidate whose structure fingerprint equals a registered version's
// returns that version (activating it if asked; the materialized manifest
// is written only then); otherwise the body is written as .vNNN.json
// (NNN = highest registered + 1), then the manifest. A new batch's first
// version is active. Errors: IdentityMismatch, InvalidInput (no scene), as Load,
// Unavailable.
func (s *Scenes) WriteCandidate(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, error) {
	v, _, err := s.WriteCandidateStamped(ctx, ref, sc, reason, activate)
	return v, err
}

// WriteCandidateStamped is WriteCandidate, returning the stamp of the
// manifest after the write, read under the batch lock
// (scene.StampedActivator).
func (s *Scenes) WriteCandidateStamped(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, string, error) {
	if err := scene.CheckCandidate(ref.Batch, sc); err != nil {
		return 0, "", err
	}
	if err := s.writable(ctx); err != nil {
		return 0, "", err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return 0, "", err
	}
	body, fp, err := scene.EncodeCandidate(sc)
	if err != nil {
		return 0, "", err
	}

	l, err := s.lockBatch(ctx, b)
	if err != nil {
		return 0, "", err
	}
	defer s.unlock(l, b)

	c, err := s.files(b).WriteCandidate(body, fp, reason, activate, s.now())
	if err != nil {
		return 0, "", err
	}
	if msg, args := c.LogEvent(ref.Batch, reason); msg != "" {
		s.log.Info(msg, args...)
	}
	return c.Version, pathStamp(b.manifest()), nil
}

// Activate is SceneVersionStore.activate: under the batch lock the version
// must be registered (a flat-only batch is materialized first), its body
// present and its scene_id the batch; then the manifest's active pointer
// moves (the manifest is written even when it already pointed there).
// Errors: NotFound (not registered, body missing), ManifestIdentity,
// UnsafeArtifact, as Load, Unavailable.
func (s *Scenes) Activate(ctx context.Context, ref scene.Ref, version int) error {
	return s.ActivateIf(ctx, ref, version, 0)
}

// ActivateIf implements scene.CondActivator: Activate, refused with
// VERSION_CONFLICT under the batch lock when expected > 0 and the active
// version is not expected.
func (s *Scenes) ActivateIf(ctx context.Context, ref scene.Ref, version, expected int) error {
	_, err := s.ActivateStamped(ctx, ref, version, expected)
	return err
}

// ActivateStamped is ActivateIf, returning the stamp of the manifest it
// wrote, read under the batch lock (scene.StampedActivator).
func (s *Scenes) ActivateStamped(ctx context.Context, ref scene.Ref, version, expected int) (string, error) {
	if err := s.writable(ctx); err != nil {
		return "", err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return "", err
	}
	// A batch without a scene now is refused as of now, without creating
	// its lock file.
	exists, err := s.files(b).Exists()
	if err != nil {
		return "", err
	}
	if !exists {
		return "", settle.Errorf(settle.NotFound, "no scene for batch %s: nothing to activate", ref.Batch)
	}
	l, err := s.lockBatch(ctx, b)
	if err != nil {
		return "", err
	}
	defer s.unlock(l, b)

	prev, err := s.files(b).ActivateIf(version, expected)
	if err != nil {
		return "", err
	}
	s.log.Info("scene version activated", "batch", ref.Batch, "version", version, "previous", prev)
	return pathStamp(b.manifest()), nil
}

var (
	_ scene.CondActivator    = (*Scenes)(nil)
	_ scene.StampedActivator = (*Scenes)(nil)
)
