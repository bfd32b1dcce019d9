package writeback

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ConflictID is the id of the writeback_conflict.v1 record of a refused
// candidate: the sha256 hex digest of
// "writeback_conflict|" + writeback_id + "|" + classification, so there is
// one record per distinct candidate and refusal class.
func ConflictID(writebackID, classification string) string {
	sum := sha256.Sum256([]byte("writeback_conflict|" + writebackID + "|" + classification))
	return hex.EncodeToString(sum[:])
}

// NewConflict returns the writeback_conflict.v1 record of a refused
// decision d on binding b. The candidate is the decision's durable record,
// or the binding's record under the decision's classification when the
// decision has none (a self-chain refusal). RecordedAt is the time now in
// UTC, RFC 3339 with nanoseconds.
func NewConflict(d Decision, b Binding, reasons []string, now time.Time) ConflictRecord {
	cand := d.DurableRecord.Clone()
	if cand == nil {
		cand = b.Record(d.Classification)
	}
	wid := b.WritebackID()
	rs := append([]string{}, reasons...)
	return ConflictRecord{
		Schema:         ConflictSchema,
		ConflictID:     ConflictID(wid, d.Classification),
		Classification: d.Classification,
		TaskID:         b.TaskID,
		TrackID:        b.TrackID,
		BatchID:        b.BatchID,
		WritebackID:    wid,
		Candidate:      cand,
		Reasons:        rs,
		RecordedAt:     now.UTC().Format(time.RFC3339Nano),
	}
}
