package scene

import (
	"fmt"

	settle "github.com/settlehq/settle"
)

// Files is one project's scenes directory as a backend stores it, by bare
// file name (FlatName, VersionName, ManifestName, a manifest's artifact):
// files on disk for package file, rows for package postgres. The engine
// functions of this package (BatchFiles' methods) make every decision of
// the seed's persistence.py through it and nothing else, so both backends
// read and write the same names and bytes. A caller that mutates holds the
// batch's lock over every call for one operation.
type Files interface {
	// ReadFile returns a file's bytes; ok is false (and err nil) when it
	// does not exist.
	ReadFile(name string) (data []byte, ok bool, err error)
	// Exists reports whether a file exists (Python's Path.exists: a
	// backend may count anything under the name).
	Exists(name string) (bool, error)
	// WriteFile creates or replaces a file atomically.
	WriteFile(name string, data []byte) error
}

// Batch is a validated Ref with its canonical episode token.
type Batch struct {
	Ref   Ref
	Token string // canonical episode token ep_NNN
}

// ResolveBatch validates a Ref, in this order: the project
// (ValidateProject, InvalidInput), the episode (CanonicalEpisode,
// InvalidEpisode; CheckEpisodeToken, InvalidInput), the batch id
// (ValidateBatchID, InvalidInput).
func ResolveBatch(ref Ref) (Batch, error) {
	if err := ValidateProject(ref.Project); err != nil {
		return Batch{}, err
	}
	token, err := CanonicalEpisode(ref.Episode)
	if err != nil {
		return Batch{}, err
	}
	if err := CheckEpisodeToken(token); err != nil {
		return Batch{}, err
	}
	if err := ValidateBatchID(ref.Batch); err != nil {
		return Batch{}, err
	}
	return Batch{Ref: ref, Token: token}, nil
}

// Flat is the batch's flat body name.
func (b Batch) Flat() string { return FlatName(b.Token, b.Ref.Batch) }

// Manifest is the batch's manifest name.
func (b Batch) Manifest() string { return ManifestName(b.Token, b.Ref.Batch) }

// Lock is the batch's lock name.
func (b Batch) Lock() string { return LockName(b.Token, b.Ref.Batch) }

// Version is the body name of version v.
func (b Batch) Version(v int) string { return VersionName(b.Token, b.Ref.Batch, v) }

// BatchFiles is one batch in one backend's Files: the engine of the
// seed's load, versioning and status-write orchestration.
type BatchFiles struct {
	Batch Batch
	Files Files
	// Cache, if not nil, keeps the bodies status writes decode and write
	// (a long-running process's), under CacheKey (the Files' identity,
	// such as its directory) and the file name.
	Cache    *BodyCache
	CacheKey string
}

// ReasonMaterializedLegacy is the manifest reason of a flat body
// materialized as version 1.
const ReasonMaterializedLegacy = "materialized-legacy"

// LoadBody is the seed's load_scene on the file name; it also returns the
// bytes read. Errors: NotFound, Corrupt, SchemaMismatch, as Files.ReadFile.
func LoadBody(f Files, name string) (*Scene, []byte, error) {
	data, ok, err := f.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, settle.Errorf(settle.NotFound, "scene body not found: %s", name)
	}
	sc, err := DecodeBody(data)
	if err != nil {
		return nil, nil, fmt.Errorf("scene body %s: %w", name, err)
	}
	return sc, data, nil
}

// LoadManifest is the seed's load_manifest: nil (and no error) when the
// manifest does not exist. Errors: Corrupt, SchemaMismatch, ManifestIdentity.
func (bf BatchFiles) LoadManifest() (*Manifest, error) {
	name := bf.Batch.Manifest()
	data, ok, err := bf.Files.ReadFile(name)
	if err != nil || !ok {
		return nil, err
	}
	m, err := DecodeManifest(data, bf.Batch.Ref.Batch)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	return m, nil
}

// ArtifactName is the seed's manifest_artifact_path: the body name a
// registered version's artifact names. Errors: NotFound (not
// registered), UnsafeArtifact.
func (b Batch) ArtifactName(m *Manifest, v int) (string, error) {
	e, err := m.Entry(v)
	if err != nil {
		return "", err
	}
	if err := CheckArtifact(e.Artifact); err != nil {
		return "", fmt.Errorf("batch %s v%d: %w", b.Ref.Batch, v, err)
	}
	return e.Artifact, nil
}

// LoadRegistered loads version v's body through the manifest and checks
// it against its entry (CheckRegisteredBody: ManifestIdentity, Corrupt).
func (bf BatchFiles) LoadRegistered(m *Manifest, v int) (Loaded, error) {
	name, err := bf.Batch.ArtifactName(m, v)
	if err != nil {
		return Loaded{}, err
	}
	sc, data, err := LoadBody(bf.Files, name)
	if err != nil {
		return Loaded{}, err
	}
	fp := Fingerprint(sc)
	if err := CheckRegisteredBody(bf.Batch.Ref.Batch, m, v, sc.SceneID, fp); err != nil {
		return Loaded{}, err
	}
	return Loaded{Scene: sc, Version: v, Fingerprint: fp, Revision: Revision(data)}, nil
}

// CheckRegisteredBody decides whether version v's body, of scene_id
// sceneID and structure fingerprint fp, is the body manifest m registers
// for batch: its scene_id must be the batch (ManifestIdentity) and its
// structure the one the manifest recorded (Corrupt; an entry without a
// fingerprint records none). Reading (show), status writes (patch, runner
// saves) and fsck all decide with it, so they agree on what is corrupt. The
// seed checks only the identity, on reads only; a body whose structure was
// edited behind the manifest's back is refused here because status writes
// would otherwise carry the edit forward under the old fingerprint.
func CheckRegisteredBody(batch string, m *Manifest, v int, sceneID, fp string) error {
	if sceneID != batch {
		return settle.Errorf(settle.ManifestIdentity,
			"scene body identity mismatch for batch %s v%d: loaded scene_id %q", batch, v, sceneID)
	}
	e, err := m.Entry(v)
	if err != nil {
		return err
	}
	if e.StructureFingerprint != "" && fp != e.StructureFingerprint {
		return settle.Errorf(settle.Corrupt,
			"scene body of batch %s v%d: structure fingerprint %s differs from the manifest's %s (the body was edited)",
			batch, v, short(fp), short(e.StructureFingerprint))
	}
	return nil
}

// short is a fingerprint's first 12 characters, for messages.
func short(fp string) string { return fp[:min(12, len(fp))] }

// LoadActive is the seed's load_scene_active_with_version: with a
// manifest, the active version's registered body (whose scene_id must be
// the batch); else the flat body as version 1; else NotFound. Errors:
// NotFound, SchemaMismatch, Corrupt, UnsafeArtifact, ManifestIdentity.
func (bf BatchFiles) LoadActive() (Loaded, error) {
	m, err := bf.LoadManifest()
	if err != nil {
		return Loaded{}, err
	}
	if m != nil {
		return bf.LoadRegistered(m, m.ActiveVersion)
	}
	ref := bf.Batch.Ref
	sc, data, err := LoadBody(bf.Files, bf.Batch.Flat())
	if settle.ErrorCode(err) == settle.NotFound {
		return Loaded{}, settle.Errorf(settle.NotFound,
			"no scene for batch %s (episode %s): neither a versions manifest nor a flat body", ref.Batch, ref.Episode)
	}
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Scene: sc, Version: 1, Fingerprint: Fingerprint(sc), Revision: Revision(data)}, nil
}

// LoadVersion returns a registered version's body; without a manifest
// only version 1, the flat body, exists. Errors: as LoadActive.
func (bf BatchFiles) LoadVersion(version int) (Loaded, error) {
	m, err := bf.LoadManifest()
	if err != nil {
		return Loaded{}, err
	}
	if m != nil {
		return bf.LoadRegistered(m, version)
	}
	if version != 1 {
		return Loaded{}, settle.Errorf(settle.NotFound,
			"version %d of batch %s not registered (no manifest: only the flat v1 exists)", version, bf.Batch.Ref.Batch)
	}
	sc, data, err := LoadBody(bf.Files, bf.Batch.Flat())
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Scene: sc, Version: 1, Fingerprint: Fingerprint(sc), Revision: Revision(data)}, nil
}

// LegacyManifest is the manifest that materializes the flat body flat as
// version 1 (active, reason ReasonMaterializedLegacy, created_at null).
func (b Batch) LegacyManifest(flat *Scene) *Manifest {
	return &Manifest{
		SchemaVersion: ManifestSchemaVersion,
		BatchID:       b.Ref.Batch,
		ActiveVersion: 1,
		Versions: []ManifestEntry{{
			Version:              1,
			Artifact:             b.Flat(),
			StructureFingerprint: Fingerprint(flat),
			CreatedAt:            nil,
			Reason:               ReasonMaterializedLegacy,
		}},
	}
}

// Versions lists the batch's registered versions in manifest order. A
// batch with only a flat body lists the version 1 a materialization would
// record (LegacyManifest). Errors: NotFound, as LoadActive.
func (bf BatchFiles) Versions() ([]VersionInfo, error) {
	m, err := bf.LoadManifest()
	if err != nil {
		return nil, err
	}
	if m == nil {
		sc, _, err := LoadBody(bf.Files, bf.Batch.Flat())
		if settle.ErrorCode(err) == settle.NotFound {
			return nil, settle.Errorf(settle.NotFound, "no scene for batch %s: no manifest and no flat body", bf.Batch.Ref.Batch)
		}
		if err != nil {
			return nil, err
		}
		m = bf.Batch.LegacyManifest(sc)
	}
	out := make([]VersionInfo, 0, len(m.Versions))
	for _, e := range m.Versions {
		out = append(out, VersionInfo{ManifestEntry: e, Active: e.Version == m.ActiveVersion})
	}
	return out, nil
}

// ManifestOrMaterialize is the seed's _manifest_or_materialize, called
// under the batch lock: the stored manifest, else one that registers an
// existing flat body as v1 (active), else an empty one. hasActive is false
// only for the empty one (the seed's active_version None).
func (bf BatchFiles) ManifestOrMaterialize() (m *Manifest, hasActive bool, err error) {
	m, err = bf.LoadManifest()
	if err != nil {
		return nil, false, err
	}
	if m != nil {
		return m, true, nil
	}
	flat, _, err := LoadBody(bf.Files, bf.Batch.Flat())
	if settle.ErrorCode(err) == settle.NotFound {
		return &Manifest{
			SchemaVersion: ManifestSchemaVersion,
			BatchID:       bf.Batch.Ref.Batch,
			Versions:      []ManifestEntry{},
		}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return bf.Batch.LegacyManifest(flat), true, nil
}
