package writeback_test

import (
	"encoding/json"
	"math/rand"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// answerPieces make random strings: plain ASCII and everything
// encoding/json escapes or replaces.
var answerPieces = []string{"a", "Z", "0", "-", "é", "😀", "\u2028", "<", ">", "&", "\"", "\\", "\n", "\x00", "\x7f", "\xff"}

func answerString(rng *rand.Rand) string {
	s := ""
	for range rng.Intn(8) {
		if rng.Intn(3) == 0 {
			s += answerPieces[rng.Intn(len(answerPieces))]
		} else {
			s += answerPieces[rng.Intn(3)]
		}
	}
	return s
}

// RandomDecision returns a decision with random fields, nil pointers and
// slices included.
func randomDecision(rng *rand.Rand) *writeback.Decision {
	s := func() string { return answerString(rng) }
	d := &writeback.Decision{Schema: s(), Verdict: s(), Classification: s(), TaskID: s(), TrackID: s(), BatchID: s(), Appended: rng.Intn(2) == 0}
	if rng.Intn(4) > 0 {
		d.Reasons = []string{}
		for range rng.Intn(3) {
			d.Reasons = append(d.Reasons, s())
		}
	}
	if rng.Intn(4) > 0 {
		r := &writeback.DurableRecord{Schema: s(), TaskID: s(), TrackID: s(), DispatchID: s(), DispatchIDSource: s(),
			NormalCollectorCronID: s(), NormalCollectorCronIDSource: s(), CollectorKey: s(), CollectorRole: s(),
			AuthoritativeVerdict: s(), TerminalStatus: s(), CompletedAt: s(), SourceResultPath: s(), BatchID: s(),
			ExecutorKey: s(), ChatID: s(), WritebackClassification: s(), WritebackID: s()}
		if rng.Intn(2) == 0 {
			f := s()
			r.FallbackCallbackCronID = &f
		}
		d.DurableRecord = r
	}
	return d
}

// TestDecisionAppendJSON: a decision's and a durable record's AppendJSON
// give json.Marshal's bytes.
func TestDecisionAppendJSON(t *testing.T) {
	rng := testenv.Rand(t)
	for range 5000 {
		d := randomDecision(rng)
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("decision %+v:\ngot  %s\nwant %s", d, got, want)
		}
		want, _ = json.Marshal(d.DurableRecord)
		if got := d.DurableRecord.AppendJSON([]byte{}); string(got) != string(want) {
			t.Fatalf("record %+v:\ngot  %s\nwant %s", d.DurableRecord, got, want)
		}
	}
	if got := (*writeback.Decision)(nil).AppendJSON(nil); string(got) != "null" {
		t.Fatalf("nil decision: %s", got)
	}
}
