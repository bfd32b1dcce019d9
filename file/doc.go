// Package file is settle's filesystem store. The ledger part (ledger*.go)
// implements writeback.Store on the seed's append-only JSONL ledger; the
// scene part (scene*.go) implements the scene version store.
//
// # Ledger file
//
// One file, by default <root>/memory/events/callback_4tuple_index.jsonl,
// holds one JSON object per line, UTF-8, each line terminated by '\n'.
// Three schemas live in it, told apart by their "schema" member:
//
//	durable_success_writeback.v1      a durable-success write-back (the seed's record)
//	callback_4tuple_ledger_record.v1  a callback 4-tuple registry record
//	writeback_conflict.v1             a refused candidate, recorded once per conflict_id
//
// Lines are written as Python's json.dumps(rec, ensure_ascii=False,
// sort_keys=True) + "\n", so the seed and its Python tools read the file
// unchanged. Lines that are blank, not JSON objects, or of another schema
// are skipped by every reader and counted (Stats.Skipped); they are never
// rewritten. A record's sequence number (Seq) is its 0-based position among
// the records of the three schemas, in file order.
//
// A ledger path is accepted only if it is the default path under the root
// or its file name is callback_4tuple_index.jsonl (the seed's allowlist);
// any other path is refused with PATH_REFUSED.
//
// # Appends
//
// Every append takes an exclusive flock on the ledger file itself (the
// Python registry locks the same file, so the two exclude each other),
// catches up on what other writers appended, and writes all the lines of
// one group commit in one write(2) followed by one fsync. A write-back
// success and its registry COMPLETED mirror always share that write. The
// directory is fsynced when the file is created.
//
// A torn last line (bytes after the last '\n', left by a writer that died
// mid-write) is never glued to: before the next append, under the lock, the
// torn bytes are copied durably to <ledger>.torn-<offset>, the ledger is
// truncated to the last '\n' and fsynced, and the repair is logged and
// counted (Stats.TornRepairs, Stats.LastTorn; Check lists the sidecars).
// Readers only ever consume '\n'-terminated lines, and read new bytes under
// a shared flock, so that a repair in progress is never seen half done.
// (The seed's own apply_durable_success_writeback writes its durable line
// without any lock; such a writer is not excluded.)
//
// Every wait for a flock (the ledger's, a scene batch's, the event log's)
// goes through durable.FlockContext: it polls, so it ends with UNAVAILABLE
// after LockTimeout (default 30s) while another process keeps the lock,
// when the caller's context is done (a SIGTERM'd command, a client gone),
// and, for the ledger, when Close starts; it is logged at info level when
// the lock is found held. A group commit's wait ends early only when every
// caller of the group has given up, so one cancelled request does not fail
// the others.
//
// LedgerOptions.ReadOnly opens the file read-only and never creates or
// repairs anything: reads (and a dry-run write-back) work on a read-only
// filesystem, every write is refused with UNAVAILABLE. A writable store
// whose file cannot be opened for writing (permission, read-only
// filesystem) opens it read-only too, and its appends fail.
//
// If a write or an fsync fails, every request of that group gets an
// UNAVAILABLE error, the bytes are truncated away when possible, nothing of
// the group enters the index, and the store refuses every further ledger
// operation with UNAVAILABLE until it is closed and reopened.
//
// # Index
//
// OpenLedger reads the file once (in parallel chunks) into an in-memory
// writeback.MemView plus a per-record offset table. Before each operation
// the store stats the file: new bytes (from this process or another) are
// read incrementally; a replaced file (another inode), a shrunk file, or a
// file whose byte before the remembered offset is not '\n' is re-read from
// scratch. Evaluation never re-reads the whole ledger. Records pages by
// Seq through the offset table; its task and batch filters use posting
// lists built by one re-read on the first filtered query and kept current
// afterwards.
//
// # Other files
//
//	<root>/memory/events/batch_summaries/<batch>.json  consolidated summary, created once
//	<root>/memory/events/batches/<batch>.json          batch declaration
//
// Both are written through internal/durable (tmp + fsync + rename or link +
// fsync of the directory). A batch id used as a file name must not be
// empty, ".", "..", or contain '/' or NUL (INVALID_INPUT).
package file
