// Package scene is the pure domain of settle's versioned scene store, a port
// of the seed module persistence.py: the Scene > Beat > Take models with
// their on-disk JSON names, canonical episode tokens and file names, the
// structure fingerprint (byte-identical to the seed's), the structure guard,
// the writer-1 overlay and JSON Patch status writes. Nothing here does I/O;
// package file and package postgres implement Store.
//
// # The engine
//
// The seed's orchestration is here once, for both backends. BatchFiles is
// one batch (Batch, from ResolveBatch) over a backend's Files, a project's
// scenes directory by bare file name: the load ladder (LoadActive: manifest,
// then the active version's body, then the flat body), Versions, and, with
// the backend holding the batch lock over the call, the mutations
// (UpdateStatus, UpdateStatusIf, PatchStatusIf, SaveRunner, SaveFlat,
// CreateFlat, WriteCandidate, Activate), which write bodies before the
// manifest that registers them. A BatchFiles with a BodyCache keeps the
// bodies its status writes decode and write, for the next write of the
// same bytes.
// RecoverStale and InitFromPlan drive a backend's own Load and UpdateStatus
// (StatusStore, PlanStore). A backend keeps only its storage: package file
// maps names to files written through internal/durable under a flock;
// package postgres maps them to rows of one transaction under an advisory
// lock.
//
// # Files
//
// Under <root>/projects/<project>/orchestration/scenes/, for episode token
// ep_NNN (CanonicalEpisode) and batch B (ValidateBatchID):
//
//	ep_NNN_B.json            flat body (FlatName): implicit version 1
//	ep_NNN_B.vNNN.json       versioned body (VersionName)
//	ep_NNN_B.versions.json   manifest (ManifestName)
//	ep_NNN_B.versions.lock   batch lock (LockName), never renamed or deleted
//
// A body is json.dumps({"schema_version": 1, **scene.to_dict()}, indent=2)
// (EncodeBody), a manifest json.dumps(m, indent=2, sort_keys=True)
// (EncodeManifest), both ASCII with \u escapes, byte-identical to the seed.
//
// # Python semantics
//
// Decisions follow the seed on json.loads values: Python's == (1 == 1.0 ==
// true; the NaN json.loads returns is one object, so it equals itself
// inside a list or dict but not compared directly), truthiness (`or {}`),
// `in` on lists and strings, str() of any value, whitespace and decimal
// digits as Python 3.11's Unicode 14 database defines them.
//
// # Deliberate differences from the seed
//
//   - A wrong JSON type in a known model field is Corrupt (FromTree); the
//     seed hydrates it and crashes or writes it back later. Unknown members
//     are kept (after the known ones), where the seed drops them.
//   - Project and batch names are validated (ValidateProject,
//     ValidateBatchID: settle.CheckName, see docs/names.md), including
//     batch ids whose flat body would read as another batch's manifest or
//     version body; an episode token longer than settle.MaxEpisodeBytes is
//     InvalidInput (CheckEpisodeToken), where the seed fails on the file name.
//   - InitFromPlan refuses a plan without sequences (InvalidInput); the seed
//     returns an empty result. RecoverStale refuses a negative age.
//   - Where the seed raises on a malformed shape (a beat that is not an
//     object, beat_metadata that is a number, ...), the *Strict functions
//     return Corrupt (disk) or InvalidInput (runner) and StructuralMutations
//     fails closed. Writer1Overlay replaces a null disk beat_metadata that
//     must receive a key by an object instead of raising TypeError.
//   - A manifest's schema_version of 1.0 or true is read as 1 and written
//     back as 1; unknown manifest members are not kept.
//   - Status writes take an RFC 6902 JSON Patch (ApplyPatch) instead of a
//     Python closure.
//   - A runner save (SaveRunner, the seed's save_active_scene) names the
//     body its scene was based on: Cond.Revision, the Revision (sha256 of
//     the stored bytes) that Loaded carries, "" for a batch with no body.
//     The seed checks only the active version, which a status save does
//     not move, so two runners saving from one body both succeed and the
//     second replaces the takes the first saved. Here the second is
//     refused with VersionConflict and writes nothing; it loads the body
//     again and retries. Status patches keep the seed's merge onto the
//     latest body of the expected version (concurrent patches to
//     different takes all land), unless a Cond names a revision.
//   - Cond.NoCreate refuses a status write or runner save to a batch
//     without a scene (NotFound) instead of the seed's cold start: the
//     HTTP server's runners may not create scenes. The library's
//     PatchStatus and SaveRunner and the command line keep the cold
//     start (Case A).
//   - A refusal of a batch without a scene writes nothing at all: the file
//     store takes (and so creates) a batch's lock file only for a write
//     that will find a scene or create one.
//   - Every body written is held to the limits of docs/limits.md
//     (EncodeBodyTree: nesting, beats, takes, size), so that Python's
//     json.load can read it back; the seed writes any depth, and a body it
//     wrote past json.load's recursion limit is one no Python tool reads.
//   - A registered body is checked against its manifest entry by
//     CheckRegisteredBody on reads and on status writes alike (the seed
//     checks the identity on reads only): an edited scene_id is
//     ManifestIdentity, an edited structure (the entry's
//     structure_fingerprint no longer matches) Corrupt. settle fsck
//     applies the same check.
package scene
