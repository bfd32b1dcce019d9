package writeback

import (
	"crypto/sha256"
	"encoding/hex"
)

// WritebackID is the seed's writeback_id: the sha256 hex digest of
// task|track|dispatch|collector|verdict|batch.
func (b Binding) WritebackID() string {
	return writebackID(b.TaskID, b.TrackID, b.DispatchID, b.CollectorKey, b.AuthoritativeVerdict, b.BatchID)
}

func writebackID(task, track, dispatch, collector, verdict, batch string) string {
	var buf [256]byte
	b := buf[:0]
	if n := len(task) + len(track) + len(dispatch) + len(collector) + len(verdict) + len(batch) + 5; n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = append(b, task...)
	b = append(b, '|')
	b = append(b, track...)
	b = append(b, '|')
	b = append(b, dispatch...)
	b = append(b, '|')
	b = append(b, collector...)
	b = append(b, '|')
	b = append(b, verdict...)
	b = append(b, '|')
	b = append(b, batch...)
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// Identity returns the binding's idempotency identity.
func (b Binding) Identity() IdentityKey {
	return IdentityKey{TaskID: b.TaskID, TrackID: b.TrackID, DispatchID: b.DispatchID, CollectorKey: b.CollectorKey, BatchID: b.BatchID}
}

// Record is the seed's to_record: the durable_success_writeback.v1 record
// of the binding with the given classification.
func (b Binding) Record(classification string) *DurableRecord {
	return b.record(classification, b.WritebackID())
}

// record is Record with the binding's writeback_id already computed.
func (b *Binding) record(classification, writebackID string) *DurableRecord {
	var fb *string
	if b.FallbackCallbackCronID != nil {
		s := *b.FallbackCallbackCronID
		fb = &s
	}
	return &DurableRecord{
		Schema:                      DurableSchema,
		TaskID:                      b.TaskID,
		TrackID:                     b.TrackID,
		DispatchID:                  b.DispatchID,
		DispatchIDSource:            b.DispatchIDSource,
		NormalCollectorCronID:       b.NormalCollectorCronID,
		NormalCollectorCronIDSource: b.NormalCollectorCronIDSource,
		CollectorKey:                b.CollectorKey,
		CollectorRole:               b.CollectorRole,
		AuthoritativeVerdict:        b.AuthoritativeVerdict,
		TerminalStatus:              b.TerminalStatus,
		CompletedAt:                 b.CompletedAt,
		SourceResultPath:            b.SourceResultPath,
		BatchID:                     b.BatchID,
		ExecutorKey:                 b.ExecutorKey,
		ChatID:                      b.ChatID,
		FallbackCallbackCronID:      fb,
		WritebackClassification:     classification,
		WritebackID:                 writebackID,
	}
}

// Identity returns the record's idempotency identity.
func (r *DurableRecord) Identity() IdentityKey {
	return IdentityKey{TaskID: r.TaskID, TrackID: r.TrackID, DispatchID: r.DispatchID, CollectorKey: r.CollectorKey, BatchID: r.BatchID}
}

// Clone returns a deep copy of the record (nil for nil).
func (r *DurableRecord) Clone() *DurableRecord {
	if r == nil {
		return nil
	}
	c := *r
	if r.FallbackCallbackCronID != nil {
		s := *r.FallbackCallbackCronID
		c.FallbackCallbackCronID = &s
	}
	return &c
}

// field returns the named string field of the record ("" for an unknown
// name): the seed reads records as dicts.
func (r *DurableRecord) field(name string) string {
	if f := r.strField(name); f != nil {
		return *f
	}
	return ""
}

// strField returns the string field of the record that the ledger key
// names (nil for fallback_callback_cron_id, a *string, and unknown keys).
func (r *DurableRecord) strField(key string) *string {
	switch key {
	case "schema":
		return &r.Schema
	case "task_id":
		return &r.TaskID
	case "track_id":
		return &r.TrackID
	case "dispatch_id":
		return &r.DispatchID
	case "dispatch_id_source":
		return &r.DispatchIDSource
	case "normal_collector_cron_id":
		return &r.NormalCollectorCronID
	case "normal_collector_cron_id_source":
		return &r.NormalCollectorCronIDSource
	case "collector_key":
		return &r.CollectorKey
	case "collector_role":
		return &r.CollectorRole
	case "authoritative_verdict":
		return &r.AuthoritativeVerdict
	case "terminal_status":
		return &r.TerminalStatus
	case "completed_at":
		return &r.CompletedAt
	case "source_result_path":
		return &r.SourceResultPath
	case "batch_id":
		return &r.BatchID
	case "executor_key":
		return &r.ExecutorKey
	case "chat_id":
		return &r.ChatID
	case "writeback_classification":
		return &r.WritebackClassification
	case "writeback_id":
		return &r.WritebackID
	}
	return nil
}

// field returns the named identity field of the binding.
func (b *Binding) field(name string) string {
	switch name {
	case "task_id":
		return b.TaskID
	case "track_id":
		return b.TrackID
	case "collector_key":
		return b.CollectorKey
	case "dispatch_id":
		return b.DispatchID
	case "authoritative_verdict":
		return b.AuthoritativeVerdict
	}
	return ""
}
