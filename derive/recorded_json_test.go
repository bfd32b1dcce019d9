package derive_test

import (
	"encoding/json"
	"testing"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/internal/testenv"
)

// TestRecordedDataAppendJSON: the event data's AppendJSON gives
// json.Marshal's bytes (a log encodes it with AppendJSON, a PostgreSQL log
// with json.Marshal: both must write the same event).
func TestRecordedDataAppendJSON(t *testing.T) {
	rng := testenv.Rand(t)
	pieces := []string{"a", "Z", "0", "-", "é", "😀", "\u2028", "<", ">", "&", "\"", "\\", "\n", "\x00", "\xff"}
	s := func() string { return testenv.RandString(rng, pieces, 6) }
	for range 5000 {
		r := derive.RecordedData{WritebackID: s(), TaskID: s(), TrackID: s(), BatchID: s(), DispatchID: s(),
			CollectorKey: s(), AuthoritativeVerdict: s(), CompletedAt: s(), Principal: s()}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("%+v:\ngot  %s\nwant %s", r, got, want)
		}
	}
}
