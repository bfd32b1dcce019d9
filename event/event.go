// Package event defines settle's durable event log: the events the server
// streams as Server-Sent Events from /v1/events, with increasing ids that a
// client resumes from with Last-Event-ID, also after a server restart. The
// file store and the PostgreSQL store implement Log.
package event

import (
	"context"
	"encoding/json"
	"time"
)

// Event types.
const (
	WritebackRecorded   = "writeback.recorded"
	WritebackRefused    = "writeback.refused"
	BatchSettled        = "batch.settled"
	SceneVersionCreated = "scene.version_created"
	SceneActivated      = "scene.activated"
	SceneStatusSaved    = "scene.status_saved"
)

// Event is one durable event. IDs start at 1 and increase by one per
// event in the log's order.
type Event struct {
	ID   int64     `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Key, when set, makes the event unique in the log: AppendOnce with a
	// key already present appends nothing (e.g. "batch.settled:<batch>").
	Key  string          `json:"key,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Log is an append-only, durable event log shared by every server on a
// store.
type Log interface {
	// Append appends an event durably and returns it with its id.
	Append(ctx context.Context, typ string, data any) (Event, error)
	// AppendOnce appends an event unless one with the same key exists; it
	// returns the event and whether this call appended it. Of concurrent
	// callers (in any process or server) exactly one appends.
	AppendOnce(ctx context.Context, key, typ string, data any) (Event, bool, error)
	// Since returns up to limit events with ID > after, in order.
	Since(ctx context.Context, after int64, limit int) ([]Event, error)
	// Wait returns a channel closed when an event with ID > after exists
	// (possibly appended by another process or server), or when ctx ends.
	Wait(ctx context.Context, after int64) <-chan struct{}
	Close() error
}

// Poster is implemented by a Log that can queue a keyed event without
// waiting for it to be durable, to take the event's fsync off a request's
// path. PostOnce queues the event (nothing if the key exists) and returns;
// the event becomes visible to Since and Wait once durable, ordered before
// every event appended after PostOnce returned. If the log then fails to
// append it, it is lost: post only events derived from a record that is
// already durable elsewhere, which a reconciliation re-creates.
type Poster interface {
	PostOnce(ctx context.Context, key, typ string, data any) error
}
