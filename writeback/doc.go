// Package writeback is the pure domain of settle's durable-success
// write-back ledger: binding extraction from a collector's verdict file, the
// fail-closed evaluation pipeline, the batch settle evaluator, the callback
// 4-tuple registry's validation and classification, the authoritative
// verdict selector and the guards. It is a port of the seed module
// batch_settle_writeback.py and the modules it imports (see
// docs/contracts.md §1).
//
// Nothing here does I/O: stores (package file, package postgres, the HTTP
// client) implement Store and give the evaluator a View of their index.
package writeback
