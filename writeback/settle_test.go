package writeback_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/settlehq/settle/writeback"
)

func durable(batch, track, verdict, status, class string) *writeback.DurableRecord {
	b := cleanBinding()
	b.BatchID, b.TrackID, b.AuthoritativeVerdict, b.TerminalStatus = batch, track, verdict, status
	return b.Record(class)
}

func TestSettle(t *testing.T) {
	three := []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}, {TrackID: "T2", TaskID: "task-2"}, {TrackID: "T3", TaskID: "task-3"}}
	ap := writeback.AuthoritativePass
	ok := writeback.DurableSuccessWritten
	tests := []struct {
		name        string
		tracks      []writeback.TrackTask
		this        string
		ledger      []any
		decision    string
		settled     []string
		allSettled  bool
		last        bool
		statuses    []string
		present     []bool
		reasonCount string
	}{
		{name: "nothing recorded", tracks: three, this: "T1", decision: writeback.RecordAndDefer, settled: []string{},
			statuses: []string{"PENDING", "PENDING", "PENDING"}, present: []bool{false, false, false}, reasonCount: "0/3"},
		{name: "all authoritative pass", tracks: three, this: "T3",
			ledger:   []any{durable("B1", "T1", ap, "COMPLETED", ok), durable("B1", "T2", ap, "COMPLETED", ok), durable("B1", "T3", ap, "COMPLETED", ok)},
			decision: writeback.AllSettledConsolidate, settled: []string{"T1", "T2", "T3"}, allSettled: true, last: true,
			statuses: []string{"COMPLETED", "COMPLETED", "COMPLETED"}, present: []bool{true, true, true}, reasonCount: "3/3"},
		{name: "settled but a PASS verdict", tracks: three, this: "T9",
			ledger:   []any{durable("B1", "T1", ap, "COMPLETED", ok), durable("B1", "T2", "PASS", "COMPLETED", ok), durable("B1", "T3", "ACCEPTED", "COMPLETED", ok)},
			decision: writeback.RecordAndDefer, settled: []string{"T1", "T2", "T3"}, allSettled: true,
			statuses: []string{"COMPLETED", "COMPLETED", "COMPLETED"}, present: []bool{true, true, true}},
		{name: "last write wins", tracks: three[:1], this: "T1",
			ledger:   []any{durable("B1", "T1", ap, "COMPLETED", ok), durable("B1", "T1", "FAIL", "COMPLETED", ok)},
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{"COMPLETED"}, present: []bool{false}},
		{name: "last write wins back", tracks: three[:1], this: "T1",
			ledger:   []any{durable("B1", "T1", "FAIL", "COMPLETED", ok), durable("B1", "T1", ap, "COMPLETED", ok)},
			decision: writeback.AllSettledConsolidate, settled: []string{"T1"}, allSettled: true, last: true, statuses: []string{"COMPLETED"}, present: []bool{true}},
		{name: "refused records are not settle events", tracks: three[:1],
			ledger:   []any{durable("B1", "T1", ap, "COMPLETED", writeback.WritebackBindingConflict)},
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{"PENDING"}, present: []bool{false}},
		{name: "pending terminal status", tracks: three[:1],
			ledger:   []any{durable("B1", "T1", ap, "PENDING", ok)},
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{"PENDING"}, present: []bool{false}},
		{name: "other batch", tracks: three[:1],
			ledger:   []any{durable("B2", "T1", ap, "COMPLETED", ok)},
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{"PENDING"}, present: []bool{false}},
		{name: "no tracks", tracks: []writeback.TrackTask{}, this: "T1",
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{}, present: []bool{}, reasonCount: "0/0"},
		{name: "duplicate tracks", tracks: []writeback.TrackTask{three[0], three[0]}, this: "T1",
			ledger:   []any{durable("B1", "T1", ap, "COMPLETED", ok)},
			decision: writeback.AllSettledConsolidate, settled: []string{"T1", "T1"}, allSettled: true, last: true,
			statuses: []string{"COMPLETED", "COMPLETED"}, present: []bool{true, true}},
		{name: "missing track_id keys as None", tracks: []writeback.TrackTask{{TrackID: "None", TaskID: "task-1"}},
			ledger:   []any{`{"schema": "durable_success_writeback.v1", "batch_id": "B1", "authoritative_verdict": "AUTHORITATIVE_PASS", "terminal_status": "COMPLETED", "writeback_classification": "DURABLE_SUCCESS_WRITTEN"}`},
			decision: writeback.AllSettledConsolidate, settled: []string{"None"}, allSettled: true, statuses: []string{"COMPLETED"}, present: []bool{true}},
		{name: "numeric track_id keys as its str", tracks: []writeback.TrackTask{{TrackID: "1", TaskID: "task-1"}},
			ledger:   []any{`{"schema": "durable_success_writeback.v1", "batch_id": "B1", "track_id": 1, "authoritative_verdict": "AUTHORITATIVE_PASS", "terminal_status": "COMPLETED", "writeback_classification": "DURABLE_SUCCESS_WRITTEN"}`},
			decision: writeback.AllSettledConsolidate, settled: []string{"1"}, allSettled: true, statuses: []string{"COMPLETED"}, present: []bool{true}},
		{name: "missing batch_id is no batch", tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}},
			ledger:   []any{`{"schema": "durable_success_writeback.v1", "track_id": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "terminal_status": "COMPLETED", "writeback_classification": "DURABLE_SUCCESS_WRITTEN"}`},
			decision: writeback.RecordAndDefer, settled: []string{}, statuses: []string{"PENDING"}, present: []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := viewOf(t, tt.ledger...)
			batch := "B1"
			if strings.HasPrefix(tt.name, "missing batch") {
				// The record has no batch: neither "B1" nor "" finds it.
				if r := writeback.Settle("", tt.tracks, tt.this, v.LatestFunc("")); r.Decision != writeback.RecordAndDefer {
					t.Errorf("batch \"\" matched a record without batch_id")
				}
			}
			r := writeback.Settle(batch, tt.tracks, tt.this, v.LatestFunc(batch))
			if r.Decision != tt.decision || r.AllSettled != tt.allSettled || r.ThisCollectorIsLastSettleTrack != tt.last {
				t.Fatalf("got %s all_settled=%v last=%v", r.Decision, r.AllSettled, r.ThisCollectorIsLastSettleTrack)
			}
			if r.AllAuthoritativePass != (tt.decision == writeback.AllSettledConsolidate) {
				t.Errorf("all_authoritative_pass %v", r.AllAuthoritativePass)
			}
			if !reflect.DeepEqual(r.TracksSettled, tt.settled) {
				t.Errorf("settled %v, want %v", r.TracksSettled, tt.settled)
			}
			var statuses []string
			var present []bool
			for _, s := range r.TrackStates {
				statuses = append(statuses, s.TerminalStatus)
				present = append(present, s.DurableSuccessPresent)
				if (s.AuthoritativeVerdict == nil) != (s.TerminalStatus == "PENDING" && s.WritebackClassification == nil) {
					t.Errorf("state %+v", s)
				}
			}
			if statuses == nil {
				statuses = []string{}
				present = []bool{}
			}
			if !reflect.DeepEqual(statuses, tt.statuses) || !reflect.DeepEqual(present, tt.present) {
				t.Errorf("states %v %v, want %v %v", statuses, present, tt.statuses, tt.present)
			}
			if r.Schema != writeback.BatchSettleSchema || r.EvaluatedAtBasis != writeback.EvaluatedAtBasis || !r.FallbackPendingNonBlocking || r.ConsolidatedSummaryCandidatePath != nil {
				t.Errorf("header %+v", r)
			}
			if len(r.Reasons) != 3 || !strings.Contains(r.Reasons[1], tt.reasonCount) {
				t.Errorf("reasons %q", r.Reasons)
			}
		})
	}
}

func TestSettleNilLatest(t *testing.T) {
	r := writeback.Settle("B", []writeback.TrackTask{{TrackID: "T"}}, "", nil)
	if r.Decision != writeback.RecordAndDefer || r.TrackStates[0].TerminalStatus != "PENDING" {
		t.Errorf("got %+v", r)
	}
}

func TestNewConflict(t *testing.T) {
	b := cleanBinding()
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: b, Expected: map[string]any{"task_id": "x"}}, testConfig, writeback.NewMemView())
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("KST", 9*3600))
	c := writeback.NewConflict(d, b, d.Reasons, now)
	if c.Schema != writeback.ConflictSchema || c.Classification != writeback.TrackMismatch || c.WritebackID != b.WritebackID() ||
		c.TaskID != "task-1" || c.TrackID != "T1" || c.BatchID != "B1" || c.RecordedAt != "2025-01-01T18:04:05.000000006Z" {
		t.Errorf("conflict %+v", c)
	}
	if c.ConflictID != writeback.ConflictID(b.WritebackID(), writeback.TrackMismatch) || len(c.ConflictID) != 64 {
		t.Errorf("conflict id %s", c.ConflictID)
	}
	if c.Candidate == d.DurableRecord || c.Candidate.WritebackClassification != writeback.TrackMismatch || len(c.Reasons) != len(d.Reasons) {
		t.Errorf("candidate %+v", c.Candidate)
	}
	// A self-chain refusal has no record: the candidate is the binding's.
	b.CollectorKey = "rogue"
	d = writeback.Evaluate(writeback.WritebackRequest{Binding: b}, testConfig, writeback.NewMemView())
	c = writeback.NewConflict(d, b, nil, now)
	if c.Candidate == nil || c.Candidate.WritebackClassification != writeback.SelfChainNoWriteback || c.Reasons == nil {
		t.Errorf("self-chain conflict %+v", c)
	}
}

func TestConflictID(t *testing.T) {
	// sha256("writeback_conflict|abc|TRACK_MISMATCH"), from Python's hashlib.
	if got := writeback.ConflictID("abc", writeback.TrackMismatch); got != "e255dce9112c58cf68b0fe81f8b27bb396f8a62cfb99dbf16d3ec6171d46fa85" {
		t.Errorf("ConflictID = %s", got)
	}
}
