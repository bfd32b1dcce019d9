package httpapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricChildrenCached: the children observeRequest and decision keep
// are the vectors' own (WithLabelValues of the same labels counts what
// they counted), and only the label sets observed are series, as when
// every call went through WithLabelValues.
func TestMetricChildrenCached(t *testing.T) {
	m := NewMetrics()
	type req struct {
		route, method string
		status        int
	}
	reqs := []req{
		{"/v1/writebacks", "POST", 201}, {"/v1/writebacks", "POST", 201}, {"/v1/writebacks", "POST", 409},
		{"/v1/writebacks", "GET", 405}, {"/healthz", "GET", 200}, {"/healthz", "BREW", 200}, {"/healthz", "OTHER", 200},
	}
	for _, r := range reqs {
		m.observeRequest(r.route, r.method, r.status, time.Millisecond)
	}
	for _, c := range []string{"DURABLE_SUCCESS_WRITTEN", "DURABLE_SUCCESS_WRITTEN", "WRITEBACK_IDEMPOTENT_SKIP"} {
		m.decision(c)
	}
	counter := func(c prometheus.Counter) float64 {
		var d dto.Metric
		if err := c.Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	want := map[[3]string]float64{
		{"/v1/writebacks", "POST", "201"}: 2, {"/v1/writebacks", "POST", "409"}: 1,
		{"/v1/writebacks", "GET", "405"}: 1, {"/healthz", "GET", "200"}: 1, {"/healthz", "OTHER", "200"}: 2,
	}
	for l, n := range want {
		if got := counter(m.requests.WithLabelValues(l[0], l[1], l[2])); got != n {
			t.Errorf("requests %v: %v, want %v", l, got, n)
		}
	}
	for cls, n := range map[string]float64{"DURABLE_SUCCESS_WRITTEN": 2, "WRITEBACK_IDEMPOTENT_SKIP": 1} {
		if got := counter(m.decisions.WithLabelValues(cls)); got != n {
			t.Errorf("decisions %s: %v, want %v", cls, got, n)
		}
	}
	for l, n := range map[[2]string]uint64{{"/v1/writebacks", "POST"}: 3, {"/v1/writebacks", "GET"}: 1, {"/healthz", "GET"}: 1, {"/healthz", "OTHER"}: 2} {
		var d dto.Metric
		if err := m.latency.WithLabelValues(l[0], l[1]).(prometheus.Metric).Write(&d); err != nil {
			t.Fatal(err)
		}
		if got := d.GetHistogram().GetSampleCount(); got != n {
			t.Errorf("latency %v: %d observations, want %d", l, got, n)
		}
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	for name, n := range map[string]int{"settle_http_requests_total": len(want), "settle_http_request_duration_seconds": 4, "settle_writeback_decisions_total": 2} {
		if series[name] != n {
			t.Errorf("%s: %d series, want %d", name, series[name], n)
		}
	}
}
