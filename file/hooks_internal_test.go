package file

// What the external tests (package file_test) reach inside the package:
// knobs, counters and helpers the internal tests share with them.

import (
	"os"
	"path/filepath"
	"testing"
)

// SetActiveIdxEvery sets how many events are appended between two
// rewrites of the active file's key index and returns a function that
// restores the default (tests only).
func SetActiveIdxEvery(n int64) (restore func()) {
	old := activeIdxEvery
	activeIdxEvery = n
	return func() { activeIdxEvery = old }
}

// LookupKey is the event log's key lookup: the key's event id (0 if a
// compaction removed it) and whether it exists.
func LookupKey(e *Events, key string) (int64, bool, error) { return e.lookupKey(key, false) }

// ActiveIdxTaken says whether the log took its active file's key index
// when it opened the file.
func ActiveIdxTaken(e *Events) bool {
	e.imu.RLock()
	defer e.imu.RUnlock()
	return e.aidxLines > 0 && len(e.offs) > 0
}

// QueuedForTest is the number of calls waiting for the next group commit,
// so that a test can wait until they are queued instead of sleeping.
func (e *Events) QueuedForTest() int {
	return e.gc.Queued()
}

// BenchIndexFormat names the index's on-disk format, so that benchmark
// ledgers cached across runs are kept apart per format.
const BenchIndexFormat = idxMagic

// BenchMergeRows is how many records the index log holds before a merge.
func BenchMergeRows() int { return mergeRows }

// AppendRawForTest appends data to the file at path, creating it and its
// directories, without any locking, as a foreign writer would.
func AppendRawForTest(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
