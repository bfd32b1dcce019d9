package scene

import (
	"context"
	"time"

	"github.com/settlehq/settle/pyjson"
)

// Schema versions (every body and manifest carries "schema_version": 1).
const (
	SceneSchemaVersion    = 1
	ManifestSchemaVersion = 1
	DefaultMaxTakes       = 3
	DefaultStaleAge       = 5 * time.Minute
)

// Take statuses.
const (
	TakePending   = "pending"
	TakeRunning   = "running"
	TakeSucceeded = "succeeded"
	TakeFailed    = "failed"
	TakeStale     = "stale"
)

// Member is an object member the model does not know, kept in order so a
// load and save round trip never drops it.
type Member struct {
	Key   string
	Value any // a pyjson value
}

// Take is one generation attempt of a beat. JSON names are the on-disk
// contract; Receipt is an object or nil.
type Take struct {
	TakeID       string
	Status       string
	CreatedAt    *string
	StartedAt    *string
	FinishedAt   *string
	ArtifactPath *string
	Receipt      any // *pyjson.Object or nil
	Error        *string
	Extra        []Member
}

// Beat is one shot of a scene.
type Beat struct {
	BeatID               string
	MaxTakes             any // pyjson number (usually pyjson.Int("3"))
	BeatMetadata         *pyjson.Object
	Takes                []*Take
	PrimaryTakeID        *string
	PhantomRecoveryCount any // pyjson number
	Board                any // *pyjson.Object or nil
	Approved             bool
	Extra                []Member
}

// Scene is one batch's scene: Scene > Beat > Take.
type Scene struct {
	SceneID       string
	Beats         []*Beat
	SceneMetadata *pyjson.Object
	Locked        bool
	LockReason    *string
	Extra         []Member
}

// ManifestEntry is one registered version of a batch.
type ManifestEntry struct {
	Version              int     `json:"version"`
	Artifact             string  `json:"artifact"`
	StructureFingerprint string  `json:"structure_fingerprint"`
	CreatedAt            *string `json:"created_at"`
	Reason               string  `json:"reason"`
}

// Manifest is a batch's versions manifest (ep_NNN_<batch>.versions.json).
type Manifest struct {
	SchemaVersion int             `json:"schema_version"`
	BatchID       string          `json:"batch_id"`
	ActiveVersion int             `json:"active_version"`
	Versions      []ManifestEntry `json:"versions"`
}

// Ref names a batch's scene: project, episode (any accepted token: an int
// as a string, "1", "ep_001") and batch id.
type Ref struct {
	Project string `json:"project"`
	Episode string `json:"episode"`
	Batch   string `json:"batch"`
}

// Plan is a generation plan: plan["sequences"] maps a sequence (batch) id
// to a spec with a "shots" list. It is kept as decoded JSON so every shot
// field reaches the beat metadata unchanged.
type Plan struct {
	Root *pyjson.Object
}

// Loaded is a scene with the version it was loaded from, the body's
// structure fingerprint and its revision (Revision: what a runner save
// names as the body it was based on).
type Loaded struct {
	Scene       *Scene
	Version     int
	Fingerprint string
	Revision    string
	// Stamp tells apart two saves that wrote the same bytes, where the
	// store can: on the file store the body file's identity (inode,
	// modification time, size; every save renames a new file into
	// place), on PostgreSQL the stamp of the body's row (its
	// transaction's id and the save's place in its group), "" elsewhere. A status_saved event is keyed by the revision
	// and the stamp, so the writer and a follower of the files that sees
	// the same save append one event.
	Stamp string
	// Created says the write created the batch's first body (the seed's
	// cold start of a status write): its writer announces the version
	// as created too.
	Created bool
}

// BodyState is one stored version body as a follower of a store's files
// sees it (the file store's SceneScanner), for writers that are not
// settle.
type BodyState struct {
	Ref         Ref // Episode is the canonical token
	Version     int
	Revision    string
	Stamp       string
	Fingerprint string // the manifest entry's; the body's without manifest
	Reason      string // the manifest entry's ("" without manifest)
	Active      bool   // the manifest's active version (always, without one)
	ModTime     time.Time
}

// ManifestState is a batch's manifest as a follower of a store's files
// sees it: the active version and the manifest file's stamp, which
// changes with every write of the manifest (an activation, a new
// version).
type ManifestState struct {
	Ref    Ref // Episode is the canonical token
	Active int
	Stamp  string
}

// VersionInfo is a version of a batch as listed by Versions.
type VersionInfo struct {
	ManifestEntry
	Active bool `json:"active"`
}

// InitResult is what InitFromPlan did for one sequence.
type InitResult struct {
	Batch   string `json:"batch"`
	Created bool   `json:"created"` // false: existing scene re-stamped
	Scene   *Scene `json:"-"`
}

// Store is a scene store: the file store, the PostgreSQL store and the HTTP
// client implement it. Every mutation of a batch is serialized by the
// batch's lock.
type Store interface {
	// Load returns the active scene and its version (the TOCTOU-safe
	// load_scene_active_with_version). Errors: NotFound, SchemaMismatch,
	// Corrupt, InvalidEpisode, UnsafeArtifact, ManifestIdentity.
	Load(ctx context.Context, ref Ref) (Loaded, error)
	// LoadVersion returns a registered version's body. Errors: as Load.
	LoadVersion(ctx context.Context, ref Ref, version int) (Loaded, error)
	// Versions lists a batch's versions; a batch with only a flat body
	// lists one implicit version 1. Errors: NotFound, as Load.
	Versions(ctx context.Context, ref Ref) ([]VersionInfo, error)
	// List returns the flat scene file names of an episode, sorted,
	// without the versioning sidecars (the seed's list_scenes).
	List(ctx context.Context, project, episode string) ([]string, error)

	// PatchStatus applies an RFC 6902 patch to the latest active body if
	// the active version is expectedVersion, then holds it to the
	// structure guard (the seed's save_active_scene_status). Patches merge:
	// concurrent patches to different takes all land. A batch with no
	// body is cold-started from an empty scene. Errors: VersionConflict,
	// StructureImmutable, InvalidInput (malformed or failing patch), NotFound.
	PatchStatus(ctx context.Context, ref Ref, expectedVersion int, patch []byte) (Loaded, error)
	// SaveRunner overlays a runner's scene on the active body (the seed's
	// writer-1 save_active_scene) if the active version is
	// expectedVersion and the body is still the one the runner's scene
	// was based on: expectedRevision is its Loaded.Revision, "" for a
	// batch with no body (a cold start creates it). A runner save
	// replaces a beat's takes, so one based on an older body would erase
	// takes saved since; it is refused instead. Errors: VersionConflict
	// (version or revision moved), StructureImmutable, NotFound.
	SaveRunner(ctx context.Context, ref Ref, expectedVersion int, expectedRevision string, runner *Scene) (Loaded, error)
	// WriteCandidate stores a candidate version (write_scene_candidate)
	// and returns its version (an existing one when the structure is
	// equal). Errors: IdentityMismatch (nothing written).
	WriteCandidate(ctx context.Context, ref Ref, sc *Scene, reason string, activate bool) (int, error)
	// Activate moves the active pointer. Errors: NotFound,
	// ManifestIdentity.
	Activate(ctx context.Context, ref Ref, version int) error
	// RecoverStale marks takes running since before now-olderThan stale
	// through a status write and returns how many changed.
	RecoverStale(ctx context.Context, ref Ref, olderThan time.Duration, now time.Time) (int, error)
	// InitFromPlan creates a flat scene for every plan sequence without
	// one and re-stamps max_takes on existing ones (init_scenes_from_plan).
	// DryRun writes nothing.
	InitFromPlan(ctx context.Context, project, episode string, plan Plan, maxTakes int, dryRun bool) ([]InitResult, error)

	Close() error
}

// CondWriter is a Store whose status writes and runner saves take a Cond:
// a revision check for a patch, and NoCreate, a refusal instead of the
// seed's cold start (the file and PostgreSQL stores; the HTTP server
// needs it for runners, who may not create scenes). A refusal of a batch
// without a scene creates nothing, not even its lock file. Errors: as
// PatchStatus and SaveRunner.
type CondActivator interface {
	// ActivateIf is Activate refused with VERSION_CONFLICT, writing
	// nothing, when the active version is not expected (checked under
	// the batch lock, with the move).
	ActivateIf(ctx context.Context, ref Ref, version, expected int) error
}

// StampedActivator is a Store whose manifest writes report the stamp of
// the manifest they wrote (the file store: its file's identity, read
// under the batch lock; PostgreSQL: its row's stamp), so the scene.activated event of an activation
// is keyed by the very write a follower of the files sees.
type StampedActivator interface {
	// ActivateStamped is ActivateIf, returning the manifest's stamp.
	ActivateStamped(ctx context.Context, ref Ref, version, expected int) (stamp string, err error)
	// WriteCandidateStamped is WriteCandidate, returning the stamp of the
	// manifest after the write.
	WriteCandidateStamped(ctx context.Context, ref Ref, sc *Scene, reason string, activate bool) (version int, stamp string, err error)
}

// CondWriter is implemented by stores whose status writes take a Cond.
type CondWriter interface {
	PatchStatusIf(ctx context.Context, ref Ref, c Cond, patch []byte) (Loaded, error)
	SaveRunnerIf(ctx context.Context, ref Ref, c Cond, runner *Scene) (Loaded, error)
}
