// Package postgres is settle's PostgreSQL store: one Store implements
// writeback.Store (the write-back ledger, batches, summaries),
// scene.Store (the versioned scene store) and event.Log (the server's
// event stream) on a pgx connection pool. Any number of settle servers may
// share one database: every decision is made by the same pure functions
// as the file store's (writeback.Evaluate, writeback.Settle, the scene
// guards), inside a transaction that holds the locks that make it safe.
//
// Select it with --store postgres://user:pass@host:5432/db (or "store" in
// the config file). A search_path parameter of the URL, or
// Options.Schema, names the schema that holds the tables; it is created
// if missing.
//
// # Tables
//
//	schema_migrations  version, name, checksum, applied_at of each applied migration
//	ledger             one row per ledger record: seq (0-based append position),
//	                   kind, task_id, track_id, batch_id, writeback_id,
//	                   conflict_id, classification, line (bytea)
//	ledger_head        the next seq (one row)
//	batches            batch_id, data: the batch declaration file's bytes
//	summaries          batch_id, data: the consolidated summary file's bytes
//	scene_files        project, name, data: every file of a project's scenes
//	                   directory (flat bodies, .vNNN bodies, manifests);
//	                   xid, stamp: the last write's transaction and stamp
//	events             id (from 1), type, time, key (unique when set), data
//	event_head         the last event id (one row)
//
// A ledger row's line is the record's exact JSON line without its '\n'
// (writeback.EncodeLine, the bytes the file store writes), and every
// other document is kept as the exact bytes of the file the file store
// would write, so moving data between stores (settle migrate) changes no
// byte and no fingerprint. bytea is used rather than jsonb, which would
// rewrite number literals and key order.
//
// The ledger's other columns are derived from the line for the indexes.
// text cannot hold U+0000, which JSON and the file store allow in a task,
// track or batch id, nor a byte that is not UTF-8 (a lone surrogate of a
// foreign ledger line), so these columns hold their strings escaped
// (U+0001 is the escape character: U+0001 U+0001 for U+0001, U+0001 '0'
// for U+0000, U+0001 'x' and two hex digits for such a byte; other
// strings unchanged; see text.go). The escape is injective, so a query
// on an escaped column finds exactly the records of the string; every
// query parameter is escaped the same way. Both stores therefore accept
// the same strings, and settle migrate moves any valid workspace.
//
// # Concurrency
//
// Write-back: a store gathers concurrent write-backs and registry appends
// into groups of up to MaxGroup requests (durable.GroupCommitter in its
// parallel form, the primitive the file store's ledger commits through);
// two group transactions run at
// once, so one is evaluated while the other waits for its commit, and
// requests arriving meanwhile gather into the next. One read-committed transaction
// per group takes a shared advisory lock on the ledger (held exclusively
// only by an import), then the advisory lock of every task of the group
// in task order (pg_advisory_xact_lock of a key derived from the schema
// and the task id; the fixed order rules out deadlocks between servers),
// reads the tasks' durable and registry records into writeback.MemViews,
// evaluates each request in arrival order (a request sees what the
// earlier ones staged), and appends. Every lookup the evaluator makes is
// scoped to the task (a writeback_id hashes the task id; the idempotency
// identity and the registry history name it), so per-task serialization
// makes idempotency, the binding guard and the append one atomic step
// across servers: no duplicate record, a conflict recorded once. No call
// returns before its group commits.
//
// Append order: an appender takes its sequence numbers by updating the one
// row of ledger_head and keeps that row locked until it commits, so seqs
// are contiguous and commit in order: a reader that sees seq n sees every
// seq below n, and a Records cursor never skips a record committed later.
// The critical section is the insert and the commit only; evaluation runs
// before it under the task locks, so different servers evaluate in
// parallel, and each commit carries a whole group.
//
// Settle reads the batch's durable successes on one snapshot and, on
// ALL_SETTLED_CONSOLIDATE, inserts the summary with ON CONFLICT DO
// NOTHING: exactly one evaluation on any server gets FirstConsolidation.
//
// Scenes: every mutation of a batch is one transaction holding the
// batch's advisory lock (the key of its ep_NNN_<batch>.versions.lock
// name), so a status save's compare-and-set of the active version, its
// structure guard and its write are atomic, and a candidate's body and
// manifest commit together. Reads use one repeatable-read snapshot.
// Status saves by patch are gathered into groups like ledger appends: one
// statement tries every batch lock of the group without waiting (a save
// whose batch another transaction holds leaves the group and waits for the
// lock on its own, within its caller's context), the batches' files are
// read in two queries and the bodies written in one statement, and each
// save keeps its own version check and error: one commit for many saves.
//
// Scene events: the event of a scene write is appended after its commit,
// so a writer that dies in between would lose it. Every write of a
// scene_files row stores a stamp, "<xid>.<n>" (the transaction's id; n
// the save's place in a status save group, 0 outside one), and the
// writer gets it back (scene.Loaded.Stamp, scene.StampedActivator):
// scene.status_saved and scene.activated are keyed by it as on the file
// store, and every server runs derive.Deriver.FollowScenes over a
// SceneScanner of the rows, which derives the event of a write that has
// none under the same key. A write's event is thus appended once, by its
// writer, by the follower of any server, or by several of them. This was
// chosen over a transactional outbox (a row of what to announce written
// in the scene write's transaction, consumed after the commit): the
// stamps reuse the file store's keys, its follower and its tests, need no
// table to consume and clean up, and keep the writer's event, with its
// principal and the kind of save the store does not know, the one that
// is normally appended (the follower leaves a write SceneGrace to its
// writer, which may be another server). A scan reads the rows whose xid is not below the
// oldest transaction running at its previous scan (pg_snapshot_xmin), so
// a transaction that took its id before another's and commits after it
// is not skipped; rows read again are recognized by xid and stamp. Rows
// written before stamps, or copied in by a migration, have stamp "": the
// follower derives no save or activation from them.
//
// Events: appends are gathered into groups like ledger appends, one group
// transaction at a time. It locks event_head, answers keys already in the
// log (or earlier in the group) with their event, gives the others the
// next ids, inserts, and NOTIFYs the schema's channel, so ids commit in
// order without gaps, AppendOnce appends once across servers, and
// Last-Event-ID resume works from any server. PostOnce (event.Poster)
// queues an event into the next group without waiting for it, in order
// with the appends after it; Close commits what is queued. Each Store runs one
// listener connection (LISTEN) that wakes its Wait callers when any
// server appends; it also re-reads event_head every EventPoll in case a
// notification was lost with its connection.
//
// # Migrations
//
// The SQL files of migrations/ are embedded in the binary and applied at
// Open, each in its own transaction, recorded in schema_migrations with
// their checksum, while the opener holds a session advisory lock on the
// schema: several servers starting at once apply each migration once. A
// recorded migration whose checksum differs from the binary's (CORRUPT)
// or a schema newer than the binary (UNAVAILABLE) stops Open.
//
// # Errors
//
// Coded as the file store's are; a lost connection, a done context or a
// server that refuses work is UNAVAILABLE, a failed commit too (its
// outcome is unknown: every write is idempotent or checked, so a retry is
// safe).
package postgres
