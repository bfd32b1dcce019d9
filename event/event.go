package event

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"time"

	settle "github.com/settlehq/settle"
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
	// Since returns up to limit events with ID > after, in order; below a
	// retention floor (Floorer) it fails with COMPACTED.
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

// Floorer is implemented by a Log with a retention policy: Floor is the id
// of the last event it removed (0: none). Since with after < Floor fails
// with COMPACTED: the client re-syncs from the ledger and the batch
// statuses instead of silently missing the removed events.
type Floorer interface {
	Floor(ctx context.Context) (int64, error)
}

// Retention is how much of a log Compact keeps: events younger than MaxAge
// (0: any age) and at most the newest MaxEvents (0: any number). An event
// goes when either says so.
type Retention struct {
	MaxAge    time.Duration `json:"max_age"`
	MaxEvents int64         `json:"max_events"`
}

// CompactResult says what a Compact did.
type CompactResult struct {
	// Floor is the id of the last removed event (0: none ever).
	Floor int64 `json:"floor"`
	// Removed counts the events this call removed.
	Removed int64 `json:"removed"`
	// Retained counts the events the log holds now.
	Retained int64 `json:"retained"`
}

// Compactor is implemented by a Log that can remove its oldest events. The
// keys of removed events stay known: an AppendOnce of one appends nothing,
// so a keyed event is still appended at most once. Ids go on from where
// they were; Since below the new floor fails with COMPACTED.
type Compactor interface {
	Floorer
	Compact(ctx context.Context, r Retention) (CompactResult, error)
}

// KeyHash identifies the key of an event a compaction removed: the first
// 16 bytes of the key's sha256. Every store keeps these, so a migration
// copies them whatever the stores.
func KeyHash(key string) [16]byte {
	sum := sha256.Sum256([]byte(key))
	return [16]byte(sum[:16])
}

// LogState is what a migration copies of a log besides its events.
type LogState struct {
	// Floor is the id of the last event a compaction removed (0: none).
	Floor int64 `json:"floor"`
	// Last is the last id given to an event (some ids after Floor may
	// hold no readable event).
	Last int64 `json:"last"`
	// RemovedKeys are the KeyHash of the removed events' keys, sorted.
	RemovedKeys [][16]byte `json:"-"`
}

// Porter is implemented by a Log that a migration copies from and into.
// Import writes a log's state and its events (ids in (st.Floor, st.Last],
// in order) into an empty log, keeping every id; of concurrent imports
// and appends the first wins and the others fail.
type Porter interface {
	State(ctx context.Context) (LogState, error)
	Import(ctx context.Context, st LogState, evs []Event) error
}

// CompactedError is the COMPACTED refusal of a resume point below a
// retention floor: it says how to re-sync.
func CompactedError(after, floor int64) error {
	return settle.Errorf(settle.Compacted,
		"events up to id %d were removed by the retention policy (resume point %d): re-sync from the ledger (records, registry) and the batch statuses, then follow the events from id %d", floor, after, floor)
}
