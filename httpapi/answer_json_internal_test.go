package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// TestBatchResponseAppendJSON: the batch answer's encoder gives
// json.Marshal's bytes, every optional member present or not.
func TestBatchResponseAppendJSON(t *testing.T) {
	rng := testenv.Rand(t)
	pieces := []string{"a", "Z", "0", "-", "é", "\u2028", "<", "&", "\"", "\\", "\n", "\xff"}
	s := func() string { return testenv.RandString(rng, pieces, 6) }
	for range 2000 {
		var resp WritebackBatchResponse
		if rng.Intn(10) > 0 {
			resp.Results = []WritebackBatchResult{}
		}
		for range rng.Intn(4) {
			r := WritebackBatchResult{Status: rng.Intn(600), ConflictRecorded: rng.Intn(2) == 0, FirstConsolidation: rng.Intn(2) == 0}
			if rng.Intn(2) == 0 {
				r.BatchDecision = s()
			}
			if rng.Intn(3) == 0 {
				r.Error = &APIError{Code: s(), Message: s()}
			}
			if rng.Intn(3) > 0 {
				d := &writeback.Decision{Schema: s(), Verdict: s(), Classification: s(), TaskID: s(), TrackID: s(), BatchID: s(), Appended: rng.Intn(2) == 0}
				if rng.Intn(2) == 0 {
					d.Reasons = []string{s(), s()}
				}
				if rng.Intn(2) == 0 {
					f := s()
					d.DurableRecord = &writeback.DurableRecord{TaskID: s(), WritebackID: s(), ChatID: s(), FallbackCallbackCronID: &f}
				}
				r.Decision = d
			}
			resp.Results = append(resp.Results, r)
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}
