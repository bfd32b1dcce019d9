package file

import (
	"context"
	"os"
	"path/filepath"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// loadManifest is the seed's load_manifest: nil when the manifest file is
// absent. Errors: Corrupt, SchemaMismatch, ManifestIdentity.
func (s *Scenes) loadManifest(b sceneBatch) (*scene.Manifest, error) {
	return s.files(b).LoadManifest()
}

// artifactPath is the seed's manifest_artifact_path: the body a registered
// version's artifact names. Errors: NotFound (not registered),
// UnsafeArtifact.
func (s *Scenes) artifactPath(b sceneBatch, m *scene.Manifest, v int) (string, error) {
	name, err := b.ArtifactName(m, v)
	if err != nil {
		return "", err
	}
	return b.path(name), nil
}

// sceneLoadBody is the seed's load_scene; it also returns the bytes read.
// Errors: NotFound, Corrupt, SchemaMismatch.
func sceneLoadBody(path string) (*scene.Scene, []byte, error) {
	return scene.LoadBody(sceneDir{dir: filepath.Dir(path)}, filepath.Base(path))
}

// Load is the seed's load_scene_active_with_version: with a manifest, the
// active version's recorded artifact (whose scene_id must be the batch);
// else the flat body as version 1; else NotFound. Errors: NotFound,
// SchemaMismatch, Corrupt, InvalidEpisode, UnsafeArtifact, ManifestIdentity,
// InvalidInput (project or batch name).
func (s *Scenes) Load(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
	if err := s.usable(ctx); err != nil {
		return scene.Loaded{}, err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	return s.loadStamped(b, scene.BatchFiles.LoadActive)
}

// LoadVersion returns a registered version's body; without a manifest only
// version 1, the flat body, exists. Errors: as Load.
func (s *Scenes) LoadVersion(ctx context.Context, ref scene.Ref, version int) (scene.Loaded, error) {
	if err := s.usable(ctx); err != nil {
		return scene.Loaded{}, err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	return s.loadStamped(b, func(bf scene.BatchFiles) (scene.Loaded, error) { return bf.LoadVersion(version) })
}

// Versions lists a batch's registered versions in manifest order. A batch
// with only a flat body lists the version 1 a materialization would record
// (artifact the flat name, reason "materialized-legacy", created_at null).
// Errors: NotFound, as Load.
func (s *Scenes) Versions(ctx context.Context, ref scene.Ref) ([]scene.VersionInfo, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	return s.files(b).Versions()
}

// ActiveBodyPath is the seed's active_scene_body_path: the active version's
// artifact when a manifest exists, else the flat body path (which may not
// exist). Errors: as Load, without NotFound for a missing body.
func (s *Scenes) ActiveBodyPath(ctx context.Context, ref scene.Ref) (string, error) {
	if err := s.usable(ctx); err != nil {
		return "", err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return "", err
	}
	m, err := s.loadManifest(b)
	if err != nil {
		return "", err
	}
	if m != nil {
		return s.artifactPath(b, m, m.ActiveVersion)
	}
	return b.flat(), nil
}

// List is the seed's list_scenes: the sorted names of the episode's flat
// scene files, without manifests, versioned bodies, locks and temporary
// files. A missing directory lists nothing. Errors: InvalidEpisode,
// InvalidInput (project).
func (s *Scenes) List(ctx context.Context, project, episode string) ([]string, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	dir, err := s.Dir(project)
	if err != nil {
		return nil, err
	}
	token, err := scene.CanonicalEpisode(episode)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return []string{}, nil
		}
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return []string{}, nil // the seed: base.is_dir() is false
		}
		return nil, settle.Wrap(settle.Internal, err, "list %s", dir)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return scene.ListedScenes(names, token, func(name string) bool {
		// The seed's is_file() follows a symbolic link; settle never
		// does, so a link is not listed.
		fi, err := os.Lstat(filepath.Join(dir, name))
		return err == nil && fi.Mode().IsRegular()
	}), nil
}

// LoadManifest is the seed's load_manifest: the batch's versions manifest,
// or nil (and no error) when it does not exist. Errors: Corrupt, SchemaMismatch,
// ManifestIdentity, InvalidEpisode, InvalidInput.
func (s *Scenes) LoadManifest(ctx context.Context, ref scene.Ref) (*scene.Manifest, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	b, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	return s.loadManifest(b)
}

// ManifestArtifactPath is the seed's manifest_artifact_path: the body file
// a registered version's artifact names (which may not exist). Errors:
// NotFound (no manifest, or the version is not registered),
// UnsafeArtifact, as LoadManifest.
func (s *Scenes) ManifestArtifactPath(ctx context.Context, ref scene.Ref, version int) (string, error) {
	m, err := s.LoadManifest(ctx, ref)
	if err != nil {
		return "", err
	}
	if m == nil {
		return "", settle.Errorf(settle.NotFound, "batch %s has no versions manifest", ref.Batch)
	}
	b, _ := s.resolve(ref)
	return s.artifactPath(b, m, version)
}

// LoadSceneFile is the seed's load_scene on any body file. Errors:
// NotFound, Corrupt, SchemaMismatch.
func LoadSceneFile(path string) (*scene.Scene, error) {
	sc, _, err := sceneLoadBody(path)
	return sc, err
}
