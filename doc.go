// Package settle is the root of the settle module: the error codes shared by
// every layer (Go errors, CLI JSON and HTTP statuses) live here.
//
// settle keeps the record of what a pipeline of agents did and who vouched
// for it: a durable write-back ledger with its batch settle evaluator, and a
// versioned scene store (Scene > Beat > Take), both stored on the local
// filesystem in the same formats as the Python seed modules, or in
// PostgreSQL, and served over HTTP.
//
// Every refusal carries exactly one Code (see errors.go and
// docs/errors.md). The contract, file formats included, is in docs/:
// docs/contracts.md is its index.
//
// # Package map
//
// The packages form layers. The import rule: a package imports only
// packages of lower layers (its tests excepted), so the domain core imports
// no store, the stores import the core, and httpapi and cmd/settle sit on
// top. TestPackageMap keeps this list complete and TestImportRule enforces
// the rule. Packages under internal/ are not part of the API: no exported
// name of another package mentions them (TestPublicAPIWithoutInternal), so a
// program importing settle can name every type it is given.
//
// Layer 1, JSON primitives (no settle import):
//
//   - pyjson: JSON read and written exactly as CPython's json module
//     does, for byte-compatible files and hashes, and the Python operations
//     (==, str(), truthiness) the seed modules apply to it; the free-form
//     members of scenes and write-back records are its values.
//   - internal/jsonw: json.Marshal's exact bytes for strings, booleans and
//     integers without reflection, for the write-back answers' encoders.
//
// Layer 2, the codes:
//
//   - .: this package, the error codes and the input limits.
//
// Layer 3, the domain core (pure, no store) and the write primitive:
//
//   - event: the durable event log's types and the event.Log interface.
//   - writeback: the write-back ledger's domain and the batch settle
//     evaluator; the writeback.Store interface.
//   - scene: the versioned scene store's domain, the structure guard and
//     JSON Patch status writes; the scene.Store interface.
//   - internal/durable: the one durable-write helper (tmp, fsync, rename,
//     fsync of the directory; locked appends) and its failpoints.
//
// Layer 4, on the core (no store):
//
//   - derive: the consequences of a write, the same for every writer.
//   - storetest: the conformance suite every store runs.
//
// Layer 5, the stores:
//
//   - file: the filesystem store (ledger, scenes, event log, index).
//   - postgres: the PostgreSQL store.
//
// Layer 6, over the stores:
//
//   - httpapi: the HTTP API (settle serve) and its Go client, over the
//     store interfaces.
//   - migrate: copies a store's data to another store.
//
// Layer 7, over the HTTP API:
//
//   - internal/loadgen: the load generator of settle bench and its
//     same-run references.
//
// Layer 8, the command:
//
//   - cmd/settle: the command-line tool.
//
// Test only (imported by no package's code):
//
//   - internal/testenv: what tests need from outside (PostgreSQL, python3,
//     the seed reference, seeds), and the rules when it is missing.
package settle
