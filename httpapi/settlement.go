package httpapi

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/writeback"
)

// Event keys: a keyed event is appended at most once per log (event.Log's
// AppendOnce), whatever the concurrency and across restarts.
const (
	recordedKeyPrefix = "writeback.recorded:"
	settledKeyPrefix  = "batch.settled:"
)

// RecordedKey is the key of a durable record's writeback.recorded event.
func RecordedKey(writebackID string) string { return recordedKeyPrefix + writebackID }

// SettledKey is the key of a batch's batch.settled event.
func SettledKey(batchID string) string { return settledKeyPrefix + batchID }

// RecordedData is the data of a writeback.recorded event.
type RecordedData struct {
	WritebackID          string `json:"writeback_id"`
	TaskID               string `json:"task_id"`
	TrackID              string `json:"track_id"`
	BatchID              string `json:"batch_id"`
	DispatchID           string `json:"dispatch_id"`
	CollectorKey         string `json:"collector_key"`
	AuthoritativeVerdict string `json:"authoritative_verdict"`
	CompletedAt          string `json:"completed_at"`
	// Principal is who wrote it back ("" when found by the startup
	// reconciliation: written by another tool or before a crash).
	Principal string `json:"principal,omitempty"`
}

// SettledData is the data of a batch.settled event.
type SettledData struct {
	BatchID       string   `json:"batch_id"`
	Decision      string   `json:"decision"`
	TracksSettled []string `json:"tracks_settled"`
	SummaryPath   *string  `json:"summary_path"`
}

// emitRecorded appends a durable record's writeback.recorded event once.
// With post set and a log that can (event.Poster), the event is queued
// without waiting for its fsync: the record it announces is durable in the
// ledger already, and Reconcile re-creates the event if a crash or a failed
// append loses it.
func (s *Server) emitRecorded(ctx context.Context, rec *writeback.DurableRecord, principal string, post bool) error {
	data := RecordedData{
		WritebackID:          rec.WritebackID,
		TaskID:               rec.TaskID,
		TrackID:              rec.TrackID,
		BatchID:              rec.BatchID,
		DispatchID:           rec.DispatchID,
		CollectorKey:         rec.CollectorKey,
		AuthoritativeVerdict: rec.AuthoritativeVerdict,
		CompletedAt:          rec.CompletedAt,
		Principal:            principal,
	}
	raw := json.RawMessage(appendRecorded(make([]byte, 0, 512), &data))
	if p, ok := s.events.(event.Poster); ok && post {
		return p.PostOnce(ctx, RecordedKey(rec.WritebackID), event.WritebackRecorded, raw)
	}
	_, _, err := s.events.AppendOnce(ctx, RecordedKey(rec.WritebackID), event.WritebackRecorded, raw)
	return err
}

// settleDeclared re-evaluates a declared batch (nil, nil when the batch
// is not declared) and announces its settlement.
func (s *Server) settleDeclared(ctx context.Context, batchID, thisTrack string) (*writeback.SettleOutcome, error) {
	if batchID == "" {
		return nil, nil
	}
	b, err := s.ledger.GetBatch(ctx, batchID)
	switch settle.ErrorCode(err) {
	case settle.ENOTFOUND, settle.EINVALID:
		// Not declared, or a batch id that cannot be declared (the
		// ledger takes any batch id; declarations need a file name).
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	so, err := s.settleAndAnnounce(ctx, batchID, b.Tracks, thisTrack)
	if err != nil {
		return nil, err
	}
	return &so, nil
}

// settleAndAnnounce evaluates a batch (the store writes the consolidated
// summary on its first consolidation) and, when it is
// ALL_SETTLED_CONSOLIDATE, appends its batch.settled event unless the
// log already has it. Settlement is judged on the event of a write-back
// or a declaration, never on a clock; the keyed append makes the event
// exactly-once across concurrent requests, servers and restarts (a crash
// between the summary and the event is repaired by the next evaluation).
func (s *Server) settleAndAnnounce(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	so, err := s.ledger.Settle(ctx, batchID, tracks, thisTrack)
	if err != nil {
		return so, err
	}
	if so.Result.Decision != writeback.AllSettledConsolidate {
		return so, nil
	}
	settled := so.Result.TracksSettled
	if settled == nil {
		settled = []string{}
	}
	// The summary is written: announce it even if the caller goes away.
	_, appended, err := s.events.AppendOnce(context.WithoutCancel(ctx), SettledKey(batchID), event.BatchSettled, SettledData{
		BatchID:       batchID,
		Decision:      so.Result.Decision,
		TracksSettled: settled,
		SummaryPath:   so.Result.ConsolidatedSummaryCandidatePath,
	})
	if err != nil {
		return so, err
	}
	if appended {
		s.met.settled.Inc()
		s.log.Info("batch settled", "batch_id", batchID, "tracks", len(settled))
	}
	return so, nil
}

// Reconcile repairs what a crash can leave between a durable write and
// its consequences: every durable-success record of the ledger gets its
// writeback.recorded event, and every declared batch that reached
// ALL_SETTLED_CONSOLIDATE gets its summary and its batch.settled event.
// Serve runs it at startup (/readyz is 503 until it is done); it is
// idempotent and safe to run while serving.
func (s *Server) Reconcile(ctx context.Context) error {
	err := s.reconcile(ctx)
	s.reconcileMu.Lock()
	s.reconcileErr = err
	s.reconcileMu.Unlock()
	if err == nil {
		s.reconciled.Store(true)
	}
	return err
}

func (s *Server) reconcile(ctx context.Context) error {
	// What the event log already has.
	haveRecorded := map[string]bool{}
	haveSettled := map[string]bool{}
	var after int64
	for {
		evs, err := s.events.Since(ctx, after, 5000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			switch {
			case strings.HasPrefix(ev.Key, recordedKeyPrefix):
				haveRecorded[ev.Key] = true
			case strings.HasPrefix(ev.Key, settledKeyPrefix):
				haveSettled[ev.Key] = true
			}
			after = ev.ID
		}
	}

	// The ledger's durable successes.
	var missing []*writeback.DurableRecord
	batches := map[string]bool{}
	cursor := int64(-1)
	for {
		page, err := s.ledger.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, After: cursor, Limit: 1000})
		if err != nil {
			return err
		}
		for _, lr := range page.Records {
			d := lr.Durable
			if d == nil || d.WritebackClassification != writeback.DurableSuccessWritten {
				continue
			}
			if !haveRecorded[RecordedKey(d.WritebackID)] {
				haveRecorded[RecordedKey(d.WritebackID)] = true
				missing = append(missing, d)
			}
			if d.BatchID != "" && !haveSettled[SettledKey(d.BatchID)] {
				batches[d.BatchID] = true
			}
		}
		if page.Next < 0 || len(page.Records) == 0 {
			break
		}
		cursor = page.Next
	}

	// Missing events are appended concurrently so the log's group commit
	// writes them in few fsyncs.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 64)
	for _, d := range missing {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.emitRecorded(ctx, d, "", false); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}

	ids := make([]string, 0, len(batches))
	for b := range batches {
		ids = append(ids, b)
	}
	sort.Strings(ids)
	settledNow := 0
	for _, b := range ids {
		so, err := s.settleDeclared(ctx, b, "")
		if err != nil {
			return err
		}
		if so != nil && so.Result.Decision == writeback.AllSettledConsolidate {
			settledNow++
		}
	}
	s.log.Info("startup reconciliation done", "recorded_events_added", len(missing), "batches_checked", len(ids), "batches_settled", settledNow)
	return nil
}
