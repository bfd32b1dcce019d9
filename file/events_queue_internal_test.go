package file

// QueuedForTest is the number of calls waiting for the next group commit,
// so that a test can wait until they are queued instead of sleeping.
func (e *Events) QueuedForTest() int {
	return e.gc.Queued()
}
