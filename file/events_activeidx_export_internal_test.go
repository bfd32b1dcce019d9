package file

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
