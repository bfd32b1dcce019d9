package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/writeback"
)

// TestWritebackWithoutCollectorKey: a verdict that names no collector key
// is a 400 INVALID_INPUT naming collector_key, for a collector (before its
// own-key check, which would answer 403 about key "") and for an operator,
// and nothing is recorded.
func TestWritebackWithoutCollectorKey(t *testing.T) {
	e := startEnv(t, envOptions{})
	noKey := `{"task_id": "task-nk", "track": "T1", "authoritative_verdict": "PASS", "ts_kst": "2026-01-01T00:00:00+09:00"}`
	for _, c := range []struct {
		token string
		body  httpapi.WritebackBody
	}{
		{"tok-collector-a", httpapi.WritebackBody{Verdict: json.RawMessage(`{}`), BatchID: "B1"}},
		{"tok-collector-a", httpapi.WritebackBody{Verdict: json.RawMessage(noKey), BatchID: "B1"}},
		{"tok-operator", httpapi.WritebackBody{Verdict: json.RawMessage(noKey), BatchID: "B1"}},
		{"tok-operator", httpapi.WritebackBody{Binding: &writeback.Binding{TaskID: "task-nk", TrackID: "T1", BatchID: "B1", AuthoritativeVerdict: "PASS", CollectorRole: "ANU"}}},
	} {
		a := e.do(call{method: "POST", path: "/v1/writebacks", token: c.token, body: mustJSON(c.body)})
		var eb httpapi.ErrorBody
		a.json(t, &eb)
		if a.status != 400 || eb.Error.Code != string(settle.InvalidInput) || !strings.Contains(eb.Error.Message, "collector_key") {
			t.Fatalf("%s: got %d %s, want 400 INVALID_INPUT naming collector_key", c.token, a.status, a.body)
		}
	}
	recs, err := e.ledger.Records(context.Background(), writeback.RecordQuery{After: -1})
	if err != nil || len(recs.Records) != 0 {
		t.Fatalf("a refused input wrote %d records (%v)", len(recs.Records), err)
	}
}
