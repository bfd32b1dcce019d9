package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LedgerStats are the ledger store's figures exported on /metrics (the
// file store's Stats, adapted by the caller so this package does not
// depend on a backend).
type LedgerStats struct {
	// Records counts the indexed records by kind (durable, registry,
	// conflict).
	Records map[string]int64
	// IndexBytes estimates the memory of the in-memory index.
	IndexBytes int64
	// Fsyncs and FsyncErrors count appends (one write + one fsync each).
	Fsyncs, FsyncErrors int64
	// LastFsync is the latency of the last append's write + fsync.
	LastFsync time.Duration
	// GroupBuckets are the upper bounds of the group commit size
	// histogram; GroupCounts has one more entry (larger groups);
	// GroupedRequests is the sum of the group sizes.
	GroupBuckets    []int
	GroupCounts     []int64
	GroupedRequests int64
	TornRepairs     int64
	Poisoned        bool
}

// Metrics is the server's Prometheus registry.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	inFlight        prometheus.Gauge
	decisions       *prometheus.CounterVec
	forged          prometheus.Counter
	settled         prometheus.Counter
	eventFsync      prometheus.Histogram
	eventGroup      prometheus.Histogram
	sseClients      prometheus.Gauge
	postProcessFail prometheus.Counter
	storeWriteback  prometheus.Histogram

	mu          sync.Mutex
	ledgerStats func() LedgerStats

	// The children of the vectors above, by their labels, made on first
	// use as WithLabelValues makes them: a request then costs a map
	// lookup instead of hashing its labels and formatting its status.
	requestsBy  childCache[requestLabels, prometheus.Counter]
	latencyBy   childCache[[2]string, prometheus.Observer]
	decisionsBy childCache[string, prometheus.Counter]

	scrape http.Handler
}

// NewMetrics returns a registry with the server's metrics and the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "settle_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "settle_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "settle_http_requests_in_flight", Help: "HTTP requests being served.",
	})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "settle_writeback_decisions_total", Help: "Write-back decisions by classification (dry runs included).",
	}, []string{"classification"})
	m.forged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "settle_writeback_forbidden_total", Help: "Write-backs refused because the verdict named another collector key than the caller's.",
	})
	m.settled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "settle_batch_settled_total", Help: "batch.settled events appended by this server.",
	})
	m.eventFsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "settle_events_fsync_seconds", Help: "Event log group commit latency (one write + one fsync).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.eventGroup = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "settle_events_group_commit_size", Help: "Events written per event log group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
	})
	m.sseClients = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "settle_sse_clients", Help: "Connected event stream clients.",
	})
	m.postProcessFail = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "settle_writeback_followup_failures_total", Help: "Recorded write-backs whose event or batch settlement failed (answered 503; a retry completes them).",
	})
	m.storeWriteback = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "settle_store_writeback_seconds", Help: "Ledger store write-back latency: the wait for its group commit, the write and the fsync (dry runs excluded).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.reg.MustRegister(m.requests, m.storeWriteback, m.latency, m.inFlight, m.decisions, m.forged, m.settled,
		m.eventFsync, m.eventGroup, m.sseClients, m.postProcessFail,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&ledgerCollector{m: m})
	m.scrape = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Registry returns the Prometheus registry (to add collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveEventCommit records one event log group commit: its write+fsync
// latency and how many events it wrote (wire it to file.EventsOptions.OnCommit).
func (m *Metrics) ObserveEventCommit(d time.Duration, events int) {
	m.eventFsync.Observe(d.Seconds())
	m.eventGroup.Observe(float64(events))
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "OTHER" // a client's method must not mint label values
	}
	m.requestsBy.get(requestLabels{route, method, status}, func() prometheus.Counter {
		return m.requests.WithLabelValues(route, method, strconv.Itoa(status))
	}).Inc()
	m.latencyBy.get([2]string{route, method}, func() prometheus.Observer {
		return m.latency.WithLabelValues(route, method)
	}).Observe(d.Seconds())
}

// decision counts a write-back decision of classification cls.
func (m *Metrics) decision(cls string) {
	m.decisionsBy.get(cls, func() prometheus.Counter { return m.decisions.WithLabelValues(cls) }).Inc()
}

type requestLabels struct {
	route, method string
	status        int
}

// childCache holds the children of a metric vector by their labels.
type childCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// get returns the child of k, made by mk on its first use.
func (c *childCache[K, V]) get(k K, mk func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	v = mk()
	c.m[k] = v
	return v
}

func (m *Metrics) setLedgerStats(f func() LedgerStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ledgerStats = f
}

var (
	descRecords     = prometheus.NewDesc("settle_ledger_records", "Ledger records in the index by kind.", []string{"kind"}, nil)
	descIndexBytes  = prometheus.NewDesc("settle_ledger_index_bytes", "Estimated memory held by the ledger index.", nil, nil)
	descFsyncs      = prometheus.NewDesc("settle_ledger_fsyncs_total", "Ledger appends (one write and one fsync each).", nil, nil)
	descFsyncErrors = prometheus.NewDesc("settle_ledger_fsync_errors_total", "Failed ledger appends.", nil, nil)
	descLastFsync   = prometheus.NewDesc("settle_ledger_last_fsync_seconds", "Latency of the last ledger append's write + fsync.", nil, nil)
	descGroup       = prometheus.NewDesc("settle_ledger_group_commit_size", "Requests per ledger group commit.", nil, nil)
	descTorn        = prometheus.NewDesc("settle_ledger_torn_repairs_total", "Torn last lines repaired before an append.", nil, nil)
	descPoisoned    = prometheus.NewDesc("settle_ledger_poisoned", "1 when the ledger refuses writes after a failed write or fsync.", nil, nil)
)

// ledgerCollector exports LedgerStats at scrape time.
type ledgerCollector struct{ m *Metrics }

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descIndexBytes, descFsyncs, descFsyncErrors, descLastFsync, descGroup, descTorn, descPoisoned} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	f := c.m.ledgerStats
	c.m.mu.Unlock()
	if f == nil {
		return
	}
	st := f()
	for kind, n := range st.Records {
		ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(descIndexBytes, prometheus.GaugeValue, float64(st.IndexBytes))
	ch <- prometheus.MustNewConstMetric(descFsyncs, prometheus.CounterValue, float64(st.Fsyncs))
	ch <- prometheus.MustNewConstMetric(descFsyncErrors, prometheus.CounterValue, float64(st.FsyncErrors))
	ch <- prometheus.MustNewConstMetric(descLastFsync, prometheus.GaugeValue, st.LastFsync.Seconds())
	ch <- prometheus.MustNewConstMetric(descTorn, prometheus.CounterValue, float64(st.TornRepairs))
	poisoned := 0.0
	if st.Poisoned {
		poisoned = 1
	}
	ch <- prometheus.MustNewConstMetric(descPoisoned, prometheus.GaugeValue, poisoned)
	if len(st.GroupBuckets) > 0 && len(st.GroupCounts) == len(st.GroupBuckets)+1 {
		buckets := map[float64]uint64{}
		var cum uint64
		for i, ub := range st.GroupBuckets {
			cum += uint64(st.GroupCounts[i])
			buckets[float64(ub)] = cum
		}
		total := cum + uint64(st.GroupCounts[len(st.GroupBuckets)])
		ch <- prometheus.MustNewConstHistogram(descGroup, total, float64(st.GroupedRequests), buckets)
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.met.scrape.ServeHTTP(w, r)
	return nil
}
