package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/writeback"
)

// TestRequestIDKey: the request id header read and written by its map key
// is what Header.Get and Header.Set read and write.
func TestRequestIDKey(t *testing.T) {
	set, direct := http.Header{}, http.Header{}
	set.Set(HeaderRequestID, "abc")
	direct[requestIDKey] = []string{"abc"}
	if !reflect.DeepEqual(set, direct) {
		t.Fatalf("Set gives %v, the map key %v", set, direct)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(HeaderRequestID, "client-id.1")
	if id := requestID(r); id != "client-id.1" {
		t.Fatalf("requestID %q", id)
	}
}

// TestWriteJSONDecisionBuffers: answers written one after another from
// the pooled buffers are each json.Marshal's bytes, a long answer (not
// pooled again) among them.
func TestWriteJSONDecisionBuffers(t *testing.T) {
	rng := testenv.Rand(t)
	for i := range 200 {
		d := &writeback.Decision{Schema: "s", Verdict: "PASS", Classification: "C", TaskID: testenv.RandString(rng, []string{"a", "é", "\n", "<"}, 40)}
		if i%50 == 7 {
			d.Reasons = []string{strings.Repeat("r", maxPooledDecision)}
		}
		w := httptest.NewRecorder()
		writeJSON(w, http.StatusCreated, d)
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != string(want)+"\n" || w.Code != http.StatusCreated {
			t.Fatalf("answer %d: %d %s\nwant %s", i, w.Code, got, want)
		}
	}
}
