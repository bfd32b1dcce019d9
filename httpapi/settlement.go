package httpapi

import (
	"context"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/writeback"
)

// The event data and keys are derive's: these names keep the API's.
type (
	RecordedData   = derive.RecordedData
	SettledData    = derive.SettledData
	SceneEventData = derive.SceneEventData
	refusedData    = derive.RefusedData
)

// RecordedKey is the key of a durable record's writeback.recorded event.
func RecordedKey(writebackID string) string { return derive.RecordedKey(writebackID) }

// SettledKey is the key of a batch's batch.settled event.
func SettledKey(batchID string) string { return derive.SettledKey(batchID) }

// settleDeclared re-evaluates a declared batch and announces its
// settlement (derive.Deriver.SettleDeclared).
func (s *Server) settleDeclared(ctx context.Context, batchID, thisTrack string) (*writeback.SettleOutcome, error) {
	return s.derive.SettleDeclared(ctx, batchID, thisTrack)
}

// settleAndAnnounce evaluates a batch and announces its settlement
// (derive.Deriver.SettleAndAnnounce).
func (s *Server) settleAndAnnounce(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	return s.derive.SettleAndAnnounce(ctx, batchID, tracks, thisTrack)
}

// Reconcile repairs what a crash can leave between a durable write and
// its consequences (derive.Deriver.Reconcile). Serve runs it at startup
// (/readyz is 503 until it is done), then follows the ledger from where it
// ended; it is idempotent and safe to run while serving.
func (s *Server) Reconcile(ctx context.Context) error {
	st, err := s.derive.Reconcile(ctx)
	s.reconcileMu.Lock()
	s.reconcileErr = err
	if err == nil {
		s.followFrom = st.Cursor
	}
	s.reconcileMu.Unlock()
	if err == nil {
		s.reconciled.Store(true)
	}
	return err
}
