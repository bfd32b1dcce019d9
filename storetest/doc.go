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
// open must return a new, empty store each time it is called, and close
// it at the test's cleanup. LedgerTrace and SceneTrace run one fixed
// script of operations and return a normalized transcript of every
// outcome, so two backends can be compared line by line.
package storetest
