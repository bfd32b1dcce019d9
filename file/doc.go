// Package file is settle's filesystem store. The ledger part (ledger*.go)
// implements writeback.Store on the seed's append-only JSONL ledger; the
// scene part (scene*.go) implements the scene version store; its
// SceneScanner finds the version bodies other tools wrote, for a server's
// follower, by the stamp (inode, modification time, size) of each file.
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
// one group commit in one write(2); an fsync follows before any of them is
// answered. A write-back success and its registry COMPLETED mirror always
// share that write. The directory is fsynced when the file is created.
//
// The group commit is durable.GroupCommitter's, pipelined: the next group
// is evaluated (against the index plus the groups written and not yet
// fsynced) and written while the previous one is fsynced, and one fsync
// may cover several written groups. A run of groups holds the flock for at
// most 64 groups and is ended before the answer of its last group, so other
// processes get the lock between runs. If an fsync fails, the ledger is cut
// back to before the first group it covered, that group and every group
// written after it fail with UNAVAILABLE, and the store refuses operations
// until reopened (durable.Poison). The index files are saved once per run.
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
// goes through durable.FlockContext (the ledger and the event log through
// one durable.Locker): it polls, so it ends with UNAVAILABLE after
// LockTimeout (default 30s) while another process keeps the lock, when the
// caller's context is done (a SIGTERM'd command, a client gone), and, for
// the ledger and the event log, when Close starts; the ledger and the
// event log log it at info level when the lock is found held. A group commit's wait ends early only when every
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
// The index is persistent (Index, index.go) and lives beside the ledger:
//
//	<ledger>.idx     base: header, one row per record (offset, length,
//	                 kind), key entries (64-bit hash, record number)
//	                 sorted by hash behind a 65536-bucket fan-out (each
//	                 slot: the bucket's first entry and its CRC);
//	                 written by tmp + fsync + rename
//	<ledger>.idxlog  frames appended after the base (rows and entries of
//	                 the records since the last checkpoint, CRC each)
//
// The keys are those writeback.View needs (writeback_id, binding
// identity, registry task, conflict id, latest success of a batch and
// track) and Records' task and batch filters. A lookup reads one fan-out
// slot and one bucket (a store that has looked up more than 32 times keeps
// the 512 KiB fan-out table in memory and reads only the bucket), scans the
// entries of the log (a map of them after 32 lookups), and then reads the
// records they name from the ledger, keeping only those that really have
// the key: memory does not grow with the ledger and a hash collision costs
// one read. A record not where the index says (a
// corrupt bucket or row, a ledger changed behind its back) makes the
// store drop the index, re-read the ledger and answer again.
//
// At open the base and log are checked against the ledger: its identity
// (device, inode), the checkpoint offset within its size, and SHA-256 of
// the ledger's first and last 4 KiB before the checkpoint. A missing,
// stale or corrupt index is rebuilt from the ledger, never trusted;
// whatever was appended after the checkpoint (by settle or another tool,
// torn tail included) is read from the ledger as before. Every settle
// writer adds its group's records to the log under the ledger's exclusive
// flock after the group's fsync, and folds the log into a new base past
// 8192 records (streaming the old base through a few MB of buffers, and
// checking it as it goes). A busy store (past 256 lookups: a server)
// folds in the background (index_merge.go): a goroutine merges a snapshot
// into tmp files (<ledger>.idx.tmp-<pid>-<random> and the new log's
// header) off the lock while the runs keep appending frames, and a later
// save renames both in, with one directory fsync, if the base on disk is
// still the one merged; the lock is held for the renames and one frame,
// not for the rewrite (2 ms against 170 ms at 1M records in
// BenchmarkIndexMergePause). The tmp files of a process that died before
// its install are removed by the next merge. Opening reads the log in 64 KiB chunks and
// keeps its rows and entries as they are encoded (about 60 bytes per
// record), decoding nothing. A crash while the index is updated leaves a torn frame
// (ignored by its CRC) or an old base (the log names the base it follows):
// it costs a re-read of ledger bytes, never an answer. Frames are not
// fsynced, for that reason.
//
// Before each operation the store stats the file: new bytes (from this
// process or another) are read incrementally; a replaced file (another
// inode), a shrunk file, or a file whose last 64 bytes before the
// remembered offset changed is re-read from scratch. Evaluation never
// re-reads the whole ledger. A rewrite in the middle of the ledger that
// keeps its size, its inode and the bytes at the checkpoint is not
// detected at open; a lookup that reads a changed record is.
//
// # Other files
//
//	<root>/memory/events/batch_summaries/<batch>.json  consolidated summary, created once
//	<root>/memory/events/batches/<batch>.json          batch declaration
//
// Both are written through internal/durable (tmp + fsync + rename or link +
// fsync of the directory).
//
// The event log (events.go, events_segments.go) keeps beside its active
// file a key index of it, <events>.keyidx (events_activeidx.go): the
// bytes of a segment .idx (header "SETLIDX1", sorted 16-byte key hashes
// with their ids, every line's offset; no Bloom filter), the ids of lines
// that do not decode, and a trailer "SETLAIX1" naming the file's inode,
// the offsets of its first event line and of the checkpoint, its floor,
// SHA-256 of its first and last 4 KiB before the checkpoint, and a CRC-32C
// of the whole. Writers rewrite it (tmp + fsync + rename) under the log's
// exclusive flock once 256 events were appended after the one they know,
// from durable lines only; a process opening the log takes it only if it
// names the file it opened and every checksum holds, and reads the lines
// after the checkpoint from the file. A missing, stale or damaged one
// costs a read of the whole active file, never an answer. A batch id used as a file name follows
// settle.CheckName (INVALID_INPUT naming batch_id; docs/names.md).
//
// # Symbolic links
//
// The workspace root may be a symbolic link; below it, the store never
// follows one. Every directory it walks or creates (MkdirUnder,
// CheckUnder) and every file it opens (durable.Open, O_NOFOLLOW) is
// refused with PATH_REFUSED when it is a link: scene directories and
// files, locks, the ledger, batch declarations, summaries and the event
// log. A link in a scenes directory is not listed. A ledger or event log
// path configured outside the root is used as given, but its final
// component must not be a link. Verdict files given to the CLI are inputs
// the operator names and are read wherever they are.
package file
