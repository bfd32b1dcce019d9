package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
)

// TestRunReferences runs the writeback workload against a stand-in server
// that answers 201 to write-backs and 200 to /healthz: Run counts the
// operations, measures the fsync rate and the ping ceiling, sets both
// ratios, and the text output prints them.
func TestRunReferences(t *testing.T) {
	var writebacks, pings atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer coll" {
			http.Error(w, "token", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/writebacks":
			var body struct {
				Verdict json.RawMessage `json:"verdict"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Verdict) == 0 {
				http.Error(w, "body", http.StatusBadRequest)
				return
			}
			writebacks.Add(1)
			w.WriteHeader(http.StatusCreated)
		case r.Method == "GET" && r.URL.Path == "/healthz":
			pings.Add(1)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var log bytes.Buffer
	res, err := Run(context.Background(), Config{
		Target:   Target{Name: "stand-in", URL: srv.URL, CollectorToken: "coll", CollectorKey: "anu-bench-0001", FsyncDir: t.TempDir()},
		Workload: Writeback, Clients: 3, Requests: 30, Tracks: 1,
		FsyncProbe: 50 * time.Millisecond, Ceiling: true, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 30 || res.Errors != 0 || res.Writebacks != 30 || writebacks.Load() != 30 {
		t.Fatalf("result %+v, %d write-backs served", res, writebacks.Load())
	}
	if res.FsyncPerSec <= 0 || res.OpsPerFsync <= 0 || pings.Load() == 0 || res.PingOpsPerSec <= 0 || res.OpsPerPingCeiling <= 0 {
		t.Fatalf("references not measured: %+v, %d pings served", res, pings.Load())
	}
	if res.CPUBusy <= 0 || res.CPUBusy > 1.05 {
		t.Fatalf("CPU busy %.3f: not CPU time over wall time times CPUs", res.CPUBusy)
	}
	if !strings.Contains(log.String(), "ping ceiling: 3 clients") {
		t.Fatalf("log: %s", log.String())
	}
	var text bytes.Buffer
	res.WriteText(&text)
	for _, want := range []string{"30 write-backs (30 requests)", "operations/s over the fsync rate: ", "operations/s over the same-run ping ceiling ("} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

// TestRunErrors: a failing operation is counted, not returned as an error.
func TestRunErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		Target:   Target{URL: srv.URL, CollectorKey: "k"},
		Workload: Ping, Clients: 2, Requests: 6, Tracks: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors != 6 || !strings.Contains(res.FirstError, "HTTP 503") {
		t.Fatalf("result %+v", res)
	}
}

func TestRunRefusesConfig(t *testing.T) {
	ok := Config{Target: Target{URL: "http://127.0.0.1:1"}, Workload: Ping, Clients: 1, Requests: 1, Tracks: 1}
	for name, mut := range map[string]func(*Config){
		"workload":         func(c *Config) { c.Workload = "nope" },
		"clients":          func(c *Config) { c.Clients = 0 },
		"tracks":           func(c *Config) { c.Tracks = 0 },
		"no length":        func(c *Config) { c.Requests, c.Duration = 0, 0 },
		"batch over limit": func(c *Config) { c.Workload, c.Batch = Writeback, settle.MaxBatchWritebacks+1 },
		"batch not write":  func(c *Config) { c.Workload, c.Batch = Settle, 2 },
		"no url":           func(c *Config) { c.Target.URL = "" },
		"status no setup":  func(c *Config) { c.Workload = Status },
	} {
		c := ok
		mut(&c)
		_, err := Run(context.Background(), c)
		var se *settle.Error
		if !errors.As(err, &se) || se.Code != settle.InvalidInput {
			t.Errorf("%s: %v, want %s", name, err, settle.InvalidInput)
		}
	}
}
