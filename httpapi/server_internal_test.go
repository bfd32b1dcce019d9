package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

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

// TestVerdictSourcePath: a verdict sent without a source path is recorded
// with "api:verdict-sha256:" and its hex sha256, under any root.
func TestVerdictSourcePath(t *testing.T) {
	verdict := json.RawMessage(`{"task_id": "t1", "collector_key": "anu0000000000001", "authoritative_verdict": "AUTHORITATIVE_PASS"}`)
	sum := sha256.Sum256(verdict)
	want := "api:verdict-sha256:" + hex.EncodeToString(sum[:])
	for _, root := range []string{"/ws", "ws", "", "/"} {
		s := &Server{root: root}
		req, err := s.writebackRequest(&WritebackBody{Verdict: verdict, BatchID: "B1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := req.Binding.SourceResultPath; got != want {
			t.Fatalf("root %q: source_result_path %q, want %q", root, got, want)
		}
	}
}

// TestReadAllSized: a body read with room for its declared length is what
// io.ReadAll reads, whatever the declaration says and however the reader
// splits it, errors included.
func TestReadAllSized(t *testing.T) {
	rng := testenv.Rand(t)
	for range 3000 {
		data := []byte(strings.Repeat("x", rng.Intn(3*maxPresize/2)))
		size := int64(len(data)) + int64(rng.Intn(5)) - 2
		if rng.Intn(4) == 0 {
			size = -1
		}
		limit := int64(rng.Intn(2 * maxPresize))
		body := func() io.Reader {
			return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(iotest.HalfReader(bytes.NewReader(data))), limit)
		}
		want, werr := io.ReadAll(body())
		got, gerr := readAllSized(body(), size)
		if !bytes.Equal(got, want) || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("%d bytes declared %d, limit %d: read %d bytes, %v; io.ReadAll %d, %v", len(data), size, limit, len(got), gerr, len(want), werr)
		}
	}
}
