package event

import "context"

// WaitUntil returns once reached reports true, ctx ends or closed is
// closed: the loop of a Log's Wait. notify returns the channel that is
// closed at the log's next change; it is taken before each check, so a
// change between the check and the wait is not missed.
func WaitUntil(ctx context.Context, closed <-chan struct{}, notify func() <-chan struct{}, reached func() bool) {
	for {
		n := notify()
		if reached() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-n:
		}
	}
}
