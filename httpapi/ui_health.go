package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Health sampling: a sample of the server's own counters every
// uiSampleEvery, the last uiSamples kept (ten minutes).
const (
	uiSampleEvery = 5 * time.Second
	uiSamples     = 120
)

// uiSample is a reading of the server's cumulative counters.
type uiSample struct {
	at                    time.Time
	ready                 bool
	writebacks            uint64
	fsyncSum              float64
	fsyncCount            uint64
	groupSum              float64
	groupCount            uint64
	ledgerFsyncs, grouped int64
	ledgerLast            time.Duration
}

// uiHealth keeps the samples; its goroutine starts with the first
// dashboard request and ends with the server's streams.
type uiHealth struct {
	s       *Server
	once    sync.Once
	mu      sync.Mutex
	samples []uiSample
}

func newUIHealth(s *Server) *uiHealth { return &uiHealth{s: s} }

func (h *uiHealth) start() {
	h.once.Do(func() {
		h.add(h.read())
		go func() {
			t := time.NewTicker(uiSampleEvery)
			defer t.Stop()
			for {
				select {
				case <-h.s.streams.Done():
					return
				case <-t.C:
					h.add(h.read())
				}
			}
		}()
	})
}

func (h *uiHealth) add(s uiSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if len(h.samples) > uiSamples+1 {
		h.samples = append(h.samples[:0:0], h.samples[len(h.samples)-uiSamples-1:]...)
	}
}

func histogramOf(hist prometheus.Histogram) (float64, uint64) {
	var m dto.Metric
	if err := hist.Write(&m); err != nil || m.Histogram == nil {
		return 0, 0
	}
	return m.Histogram.GetSampleSum(), m.Histogram.GetSampleCount()
}

func (h *uiHealth) read() uiSample {
	s := uiSample{at: time.Now(), ready: h.s.notReadyReason() == ""}
	_, s.writebacks = histogramOf(h.s.met.storeWriteback)
	s.fsyncSum, s.fsyncCount = histogramOf(h.s.met.eventFsync)
	s.groupSum, s.groupCount = histogramOf(h.s.met.eventGroup)
	h.s.met.mu.Lock()
	stats := h.s.met.ledgerStats
	h.s.met.mu.Unlock()
	if stats != nil {
		ls := stats()
		s.ledgerFsyncs, s.grouped, s.ledgerLast = ls.Fsyncs, ls.GroupedRequests, ls.LastFsync
	}
	return s
}

// uiSeries is one chart: a polyline over the sampled interval.
type uiSeries struct {
	Title, Unit string
	Points      string // SVG polyline points in a 300×80 box
	Last, Max   string
	Empty       bool
}

type uiHealthPage struct {
	Ready   bool
	Reason  string
	Window  string
	Charts  []uiSeries
	Samples int
}

// series turns per-interval values into a chart.
func series(title, unit string, vals []float64) uiSeries {
	c := uiSeries{Title: title, Unit: unit, Empty: len(vals) == 0}
	if c.Empty {
		return c
	}
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	scale := top
	if scale == 0 {
		scale = 1
	}
	var b strings.Builder
	n := len(vals)
	for i, v := range vals {
		x := 300.0
		if n > 1 {
			x = 300 * float64(i) / float64(n-1)
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x, 78-74*v/scale)
	}
	c.Points = strings.TrimSpace(b.String())
	c.Last = strconv.FormatFloat(vals[n-1], 'f', 2, 64)
	c.Max = strconv.FormatFloat(top, 'f', 2, 64)
	return c
}

func (u *uiState) healthPage(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	h := u.health
	// A view adds a fresh sample unless the last one is recent, so the
	// charts reach the present without views crowding out the history.
	h.mu.Lock()
	fresh := len(h.samples) == 0 || time.Since(h.samples[len(h.samples)-1].at) >= time.Second
	h.mu.Unlock()
	if fresh {
		h.add(h.read())
	}
	h.mu.Lock()
	samples := append([]uiSample(nil), h.samples...)
	h.mu.Unlock()
	reason := u.s.notReadyReason()
	d := uiHealthPage{Ready: reason == "", Reason: reason, Samples: len(samples)}
	var rate, fsync, group []float64
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		rate = append(rate, float64(b.writebacks-a.writebacks)/dt)
		switch {
		case b.fsyncCount > a.fsyncCount:
			fsync = append(fsync, 1000*(b.fsyncSum-a.fsyncSum)/float64(b.fsyncCount-a.fsyncCount))
		default:
			fsync = append(fsync, float64(b.ledgerLast.Microseconds())/1000)
		}
		switch {
		case b.ledgerFsyncs > a.ledgerFsyncs:
			group = append(group, float64(b.grouped-a.grouped)/float64(b.ledgerFsyncs-a.ledgerFsyncs))
		case b.groupCount > a.groupCount:
			group = append(group, (b.groupSum-a.groupSum)/float64(b.groupCount-a.groupCount))
		default:
			group = append(group, 0)
		}
	}
	if len(samples) > 1 {
		d.Window = time.Since(samples[0].at).Round(time.Second).String()
	}
	d.Charts = []uiSeries{
		series("Write-back rate", "per s", rate),
		series("fsync latency", "ms", fsync),
		series("Group commit size", "requests", group),
	}
	return u.render(w, r, ss, http.StatusOK, "health", d)
}

// eventStream is /v1/events for a signed-in browser: the same stream,
// authenticated by the session cookie (EventSource sends no bearer
// token). It only reads.
func (u *uiState) eventStream(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	w.Header().Del("Cache-Control")
	return u.s.handleEvents(w, r)
}
