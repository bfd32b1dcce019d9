// Package storetest is the conformance suite of settle's store interfaces:
// every backend (the file store, the PostgreSQL store, the HTTP client)
// runs the same cases and must behave the same.
//
//	RunLedger(t, open)  writeback.Store: every write-back classification,
//	                    idempotent skip, conflict recorded once, registry
//	                    mirror, dry run, settle (last write wins, summary
//	                    exactly once), batches, registry, records paging
//	RunScenes(t, open)  scene.Store: every error code, candidates, dedupe,
//	                    legacy v1, activation, status writes, runner saves,
//	                    init from plan, stale recovery, list
//	RunEvents(t, open)  event.Log: ids, AppendOnce, Since paging, Wait
//
// RunLedgerShared and RunEventsShared run the cases that need several
// stores on one backend (several servers or processes): concurrent
// settles give one first consolidation, concurrent write-backs one record,
// AppendOnce one event, and each store sees the others' writes.
//
// open must return a new, empty store each time it is called, and close
// it at the test's cleanup. Optional interfaces widen the scene suite: a
// store with SceneFiles lets it plant broken files for the error codes
// scene.Store cannot reach and compare the store byte for byte before and
// after a refusal; StatusUpdater and GuardedSaver add the closure and
// SCENE_LOCKED cases. Cases that need one are skipped without it.
//
// LedgerTrace and SceneTrace run one fixed script of operations and
// return a normalized transcript of every outcome (decisions, record
// lines, settle results, bodies, versions, error codes), so two backends
// can be compared line by line with CompareTraces.
package storetest
