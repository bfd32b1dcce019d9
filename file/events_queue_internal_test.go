package file

// QueuedForTest is the number of calls waiting for the next group commit,
// so that a test can wait until they are queued instead of sleeping.
func (e *Events) QueuedForTest() int {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	return len(e.queue)
}
