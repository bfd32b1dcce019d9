package writeback

import "fmt"

// Settle is the seed's evaluate_batch_settle. latest returns, for a track
// of the batch, the last durable record in ledger order whose
// writeback_classification is DURABLE_SUCCESS_WRITTEN (nil when there is
// none; MemView.Latest does this). A track is settled when that record's
// terminal_status is COMPLETED and its verdict is terminal; the decision
// is ALL_SETTLED_CONSOLIDATE when every expected track is settled and
// every verdict is AUTHORITATIVE_PASS, else RECORD_AND_DEFER. Nothing here
// depends on a clock. ConsolidatedSummaryCandidatePath is left nil for the
// store to set.
func Settle(batchID string, tracks []TrackTask, thisTrack string, latest func(trackID string) *DurableRecord) SettleResult {
	states := make([]TrackState, 0, len(tracks))
	expected := make([]string, 0, len(tracks))
	settled := []string{}
	allAP := true
	for _, tt := range tracks {
		expected = append(expected, tt.TrackID)
		var rec *DurableRecord
		if latest != nil {
			rec = latest(tt.TrackID)
		}
		present := rec != nil && rec.TerminalStatus == StatusCompleted && contains(TerminalVerdicts, rec.AuthoritativeVerdict)
		st := TrackState{TrackID: tt.TrackID, TaskID: tt.TaskID, TerminalStatus: "PENDING", DurableSuccessPresent: present}
		if rec != nil {
			st.TerminalStatus = rec.TerminalStatus
			v, c := rec.AuthoritativeVerdict, rec.WritebackClassification
			st.AuthoritativeVerdict = &v
			st.WritebackClassification = &c
		}
		if present {
			settled = append(settled, tt.TrackID)
			if rec.AuthoritativeVerdict != AuthoritativePass {
				allAP = false
			}
		} else {
			allAP = false
		}
		states = append(states, st)
	}
	allSettled := len(settled) == len(tracks) && len(tracks) > 0
	consolidate := allSettled && allAP
	decision := RecordAndDefer
	if consolidate {
		decision = AllSettledConsolidate
	}
	reasons := []string{
		"batch settle judged on " + EvaluatedAtBasis + " only — fixed-time / dead-man / fallback are not progress triggers (§3.7); a fallback/dead-man pending state does not block all-settled (§3.6).",
		fmt.Sprintf("%d/%d tracks settled via durable_success_writeback.v1 (COMPLETED).", len(settled), len(tracks)),
	}
	if consolidate {
		reasons = append(reasons, "all tracks settled and every verdict is AUTHORITATIVE_PASS — the last settle collector generates the consolidated summary candidate (§3.5).")
	} else {
		reasons = append(reasons, "not all-settled (or a non-AUTHORITATIVE_PASS verdict present) -> RECORD_AND_DEFER; the last settle track's independent ANU collector consolidates once every track's durable success is recorded.")
	}
	isLast := false
	if thisTrack != "" && allSettled {
		for _, tt := range tracks {
			if tt.TrackID == thisTrack {
				isLast = true
				break
			}
		}
	}
	return SettleResult{
		Schema:                         BatchSettleSchema,
		BatchID:                        batchID,
		EvaluatedAtBasis:               EvaluatedAtBasis,
		TracksExpected:                 expected,
		TracksSettled:                  settled,
		AllSettled:                     allSettled,
		AllAuthoritativePass:           consolidate,
		Decision:                       decision,
		ThisCollectorIsLastSettleTrack: isLast,
		FallbackPendingNonBlocking:     true,
		TrackStates:                    states,
		Reasons:                        reasons,
	}
}
