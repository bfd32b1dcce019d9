// Package derive computes the consequences of a write, in one place for
// every writer: the server's handlers, the settle CLI and the follower that
// picks up what other tools wrote.
//
// A write's consequences are:
//
//   - the event it announces: writeback.recorded for a durable success (keyed
//     by its writeback_id, so appended once whoever derives it),
//     writeback.refused for a refusal, and the scene.* events of scene
//     writes;
//   - for a durable success, the re-evaluation of its declared batch; the
//     store writes the consolidated summary once, on the batch's first
//     ALL_SETTLED_CONSOLIDATE, and the single batch.settled event follows
//     (keyed by the batch id).
//
// Every keyed event is appended with event.Log's AppendOnce, so deriving the
// same consequence twice (two servers, a CLI and a server, a retry after a
// crash) appends it once. Reconcile derives everything the ledger implies
// from a full scan; Follow derives, as the ledger grows, what any writer
// appended, including tools that write the ledger file directly (the seed's
// Python code), which know nothing of events. FollowScenes does the same
// for the scene bodies other tools write (the file store's SceneScanner):
// scene.version_created keyed by version, scene.status_saved keyed by the
// save (StatusSavedKey: the body's revision and its file's stamp) and
// scene.activated keyed by the activation (ActivatedKey: the version and
// the manifest's stamp), the keys settle's own scene writers use.
//
// The package holds no transport: the HTTP layer decodes, authorizes, calls
// the store and then a Deriver, and encodes; the CLI does the same without a
// server.
package derive
