// Package durable is settle's one durable-write helper. Nothing else in the
// tree calls os.Rename, os.Link or writes a ledger:
//
//   - WriteFile: tmp (a name no other process can pick) + write + fsync +
//     close + rename + fsync of the directory; the tmp is removed on error.
//   - CreateFile: the same, but never replaces: the final name is linked,
//     so exactly one of several racing writers creates the file.
//   - Append: one write of whole lines + fsync, for a file whose exclusive
//     lock the caller holds.
//   - Lock: an exclusive flock on a file that is never renamed or deleted,
//     and FlockContext, the one bounded, cancellable lock wait.
//   - Open, ReadFile, CheckUnder, MkdirUnder: opens that never follow a
//     symbolic link as the final component, and a walk below the
//     workspace root that refuses one anywhere (ErrSymlink).
//
// Every error from write, fsync, close or rename is returned, never
// swallowed. Failpoints (see failpoint.go) let crash tests stop a writer
// between any two steps.
package durable
