// Package migrate copies a settle store's data to another store: a file
// workspace to PostgreSQL and back (settle migrate --from URL --to URL).
//
// What is copied, byte for byte:
//
//   - the ledger: every record (durable successes, registry records,
//     refusals) in append order, as its exact JSON line;
//   - batch declarations and consolidated summaries, as their exact files;
//   - every scene file: flat bodies, versioned bodies and manifests, so
//     every version keeps its bytes and its structure fingerprint.
//
// History is copied, never rewritten. The target's ledger must be a
// prefix of the source's (compared record by record by sha256); only the
// source's records after it are appended, so a re-run copies nothing
// twice and an interrupted run resumes. A target ledger with a record the
// source does not have at that position is refused, before anything is
// written. Summaries are written once: one that differs on the target is
// refused. Batch declarations and scene files that differ on the target
// (they are mutable state) are refused unless Options.Overwrite is set;
// identical ones are skipped, missing ones copied. Files the target has
// and the source lacks are left alone.
//
// At the end every copied item is verified: the target's ledger must hold
// the source's records at the same positions with the same sha256, and
// every batch, summary and scene file of the source must be on the target
// with the same sha256. The report carries the counts and a digest of
// each side's ledger (sha256 over the records' sha256s, in order).
//
// Lines of the file ledger that are not records (blank lines, other
// schemas, which every reader skips) are not records and are not copied;
// the event log (/v1/events) is not copied either: a server's event ids
// start again on the new store. Run a migration while no server writes
// the target; a source that keeps changing can be caught up by running it
// again.
package migrate
