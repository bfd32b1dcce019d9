// Package settle is the root of the settle module: the error codes shared by
// every layer (Go errors, CLI JSON and HTTP statuses) live here.
//
// settle keeps the record of what a pipeline of agents did and who vouched
// for it:
//
//   - package writeback is the pure domain of the durable-success write-back
//     ledger and the batch settle evaluator (no I/O);
//   - package scene is the pure domain of the versioned scene store
//     (Scene > Beat > Take, structure fingerprints, the structure guard);
//   - package file stores both on the local filesystem in the same formats as
//     the Python seed modules;
//   - cmd/settle is the command-line tool.
//
// Every refusal carries exactly one Code (see errors.go and
// docs/errors.md). The contract, file formats included, is in docs/:
// docs/contracts.md is its index.
package settle
