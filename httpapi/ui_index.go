package httpapi

import (
	"context"
	"encoding/json"
	"sync"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
)

// uiIndex is what the dashboard knows from the event log, read once and
// then followed: the batches with a batch.settled event, each batch's
// events, and every writeback.refused event. It saves the board from
// evaluating every declared batch per request and the batch page from
// scanning the log.
type uiIndex struct {
	mu      sync.Mutex
	after   int64
	settled map[string]bool
	byBatch map[string][]event.Event
	refused []event.Event
	loading sync.Mutex // one reader of the log at a time
}

// uiBatchEvents caps the events kept per batch (the newest are kept).
const uiBatchEvents = 200

func newUIIndex() *uiIndex {
	return &uiIndex{settled: map[string]bool{}, byBatch: map[string][]event.Event{}}
}

// refresh reads the events appended since the last refresh.
func (x *uiIndex) refresh(ctx context.Context, log event.Log) error {
	x.loading.Lock()
	defer x.loading.Unlock()
	x.mu.Lock()
	after := x.after
	x.mu.Unlock()
	for {
		evs, err := log.Since(ctx, after, 2000)
		if settle.ErrorCode(err) == settle.Compacted {
			// The log removed events the index has not read: go on
			// from its retention floor. A batch settled before it is
			// then not known settled here; its row is evaluated
			// instead (and shown settled).
			f, ok := log.(event.Floorer)
			if !ok {
				return err
			}
			floor, ferr := f.Floor(ctx)
			if ferr != nil {
				return ferr
			}
			if floor <= after {
				return err
			}
			after = floor
			continue
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		x.mu.Lock()
		for _, ev := range evs {
			x.add(ev)
		}
		after = evs[len(evs)-1].ID
		x.after = after
		x.mu.Unlock()
		if len(evs) < 2000 {
			return nil
		}
	}
}

// add indexes one event (x.mu held).
func (x *uiIndex) add(ev event.Event) {
	var d struct {
		BatchID string `json:"batch_id"`
	}
	switch ev.Type {
	case event.WritebackRecorded, event.WritebackRefused, event.BatchSettled:
	default:
		return
	}
	_ = json.Unmarshal(ev.Data, &d)
	if ev.Type == event.WritebackRefused {
		x.refused = append(x.refused, ev)
	}
	if d.BatchID == "" {
		return
	}
	if ev.Type == event.BatchSettled {
		x.settled[d.BatchID] = true
	}
	l := append(x.byBatch[d.BatchID], ev)
	if len(l) > uiBatchEvents {
		l = append([]event.Event(nil), l[len(l)-uiBatchEvents:]...)
	}
	x.byBatch[d.BatchID] = l
}

func (x *uiIndex) isSettled(batch string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.settled[batch]
}

func (x *uiIndex) lastID() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.after
}

func (x *uiIndex) batchEvents(batch string) []event.Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]event.Event(nil), x.byBatch[batch]...)
}

func (x *uiIndex) refusedEvents() []event.Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]event.Event(nil), x.refused...)
}
