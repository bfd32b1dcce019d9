// Package durable is settle's durable-write toolkit. Nothing else in the
// tree calls os.Rename, os.Link or writes a ledger:
//
//   - WriteFile: tmp (a name no other process can pick) + write + fsync +
//     close + rename + fsync of the directory; the tmp is removed on error.
//     WriteFileFunc streams the contents instead of holding them.
//   - CreateFile: the same, but never replaces: the final name is linked,
//     so exactly one of several racing writers creates the file.
//   - Append: one write of whole lines + fsync, for a file whose exclusive
//     lock the caller holds; AppendWrite and AppendSync are its two halves,
//     for a pipelined writer.
//   - GroupCommitter: concurrent submissions committed in groups, one
//     write and (at most) one fsync per group, pipelined: group N+1 is
//     staged and written while group N is fsynced. See below.
//   - Poison and RepairTorn: the state of an appender whose write or fsync
//     failed (refuse until reopened; the unacknowledged bytes cut back),
//     and the repair of a torn last line (saved to a sidecar, cut, fsync).
//   - Lock: an exclusive flock on a file that is never renamed or deleted,
//     and FlockContext, the one bounded, cancellable lock wait.
//   - Open, ReadFile, CheckUnder, MkdirUnder: opens that never follow a
//     symbolic link as the final component, and a walk below the
//     workspace root that refuses one anywhere (ErrSymlink).
//
// Every error from write, fsync, close or rename is returned, never
// swallowed. Failpoints (see failpoint.go) let crash tests stop a writer
// between any two steps.
//
// # Group commit
//
// A store gives a GroupCommitter six hooks. Begin starts a run (takes the
// file's flock, catches up with other writers, repairs a torn tail); Stage
// evaluates a group against the store plus the run's earlier groups that
// may not be durable yet, and writes it without fsync; Sync fsyncs every
// group written so far at once; Publish indexes a durable group; Fail
// answers the items of a group that failed; End releases the flock.
//
// The committer runs a stager goroutine (Begin, Stage, End) and a syncer
// goroutine (Sync, Publish, Fail). At most Depth groups (default 2) are in
// flight: one being fsynced and the next written meanwhile. Groups are
// published, or failed, in the order they were taken: a group whose Stage
// fails while earlier groups are in flight is answered after them, so a
// barrier never returns before an earlier item's answer. A caller's Submit
// returns after
// its group's Publish or Fail, never before the fsync that covers it. The
// items of one Submit land in the same group.
//
// NewParallelCommitter is the form for a database (the PostgreSQL store's
// ledger, event and status-save groups): each group is one transaction
// that the database serializes itself, so there is no lock, no run and no
// order between groups. Up to Depth workers each take everything queued
// (up to MaxItems) and Stage, Sync and Publish it alone; while one
// transaction waits for its commit the next is evaluated. Post queues
// items without waiting (the hooks answer them) and DrainTimeout waits,
// bounded, until everything queued or posted is answered.
//
// A failed Sync fails its groups and every later group of the run: they
// were written after the failed fsync's data, and the hook has cut the
// file back and poisoned the store, so nothing is acknowledged that a
// crash could lose. The run then ends, and the next Begin sees the poison.
//
// A run holds the flock for at most MaxRun groups (default 64); End is
// called between runs, so other processes get the lock even while this
// one has a queue. The run also ends before the answer of its last group
// when nothing else is queued, so a caller that reads right after its
// write finds the lock free.
//
// Failpoint "group-overlap" is reached when a group is staged while an
// earlier one is not yet synced: crash tests stop a child process there.
package durable
