package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// The workloads.
const (
	Writeback = "writeback"
	Settle    = "settle"
	Status    = "status"
	Ping      = "ping"
)

// Workloads lists the workloads Run accepts.
var Workloads = []string{Writeback, Settle, Status, Ping}

// Target is the server a run talks to.
type Target struct {
	// Name names the target in the result (a URL, or the embedded store).
	Name string
	// URL is the server's base URL, http://host:port or https://...
	URL string
	// Embedded: the server runs in this process, so the CPU per operation
	// covers the clients and the server.
	Embedded bool
	// The bearer token of each role: the writeback workload and ping send
	// CollectorToken, settle OperatorToken, status RunnerToken.
	CollectorToken, OperatorToken, RunnerToken string
	// CollectorKey is the verdicts' collector key, one the server accepts.
	CollectorKey string
	// Setup is an operator client; the status workload creates its scenes
	// with it.
	Setup *httpapi.Client
	// FsyncDir is the directory whose disk's fsync rate is measured.
	FsyncDir string
	// Counters, if set, reads the store's commit counters; they are read
	// before and after the load, so set-up and references do not count.
	Counters func() Counters
}

// Config is one run.
type Config struct {
	Target Target
	// Workload is one of Workloads.
	Workload string
	// Clients is the number of concurrent clients, each on its own
	// keep-alive connection.
	Clients int
	// Requests, if positive, is the number of operations to run;
	// otherwise the load runs for Duration.
	Requests int
	Duration time.Duration
	// Tracks is the number of tracks per batch (settle workload).
	Tracks int
	// Batch is the write-backs per request (writeback workload; 0: one
	// per request, POST /v1/writebacks).
	Batch int
	// Progress is the interval of the progress lines written to Log (0:
	// none).
	Progress time.Duration
	// Log receives the progress lines and the references' announcements;
	// nil discards them.
	Log io.Writer
	// FsyncProbe is how long the disk's single-record fsync rate is
	// measured before the load (0: not measured).
	FsyncProbe time.Duration
	// Ceiling: after the load, run ping with as many clients for as long,
	// for the same-run ping ceiling.
	Ceiling bool
	// SingleClient: after the load, run the workload with one client for
	// as long.
	SingleClient bool
	// CPUProfile, if set, is the file the CPU profile of this process
	// during the load (not the references) is written to.
	CPUProfile string
	// MemProfile, if set, is the file the allocation profile of this
	// process (since it started: the load dominates) is written to after
	// the load.
	MemProfile string
	// CPUs is how many CPUs the process may use, for CPU busy (0: its
	// GOMAXPROCS; a server may run more processors than CPUs).
	CPUs int
	// Trace, if set, is the file the execution trace of the load (not
	// of the references) is written to (runtime/trace; go tool trace).
	Trace string
}

func (cfg *Config) log() io.Writer {
	if cfg.Log == nil {
		return io.Discard
	}
	return cfg.Log
}

func (cfg *Config) check() error {
	if !slices.Contains(Workloads, cfg.Workload) {
		return settle.Errorf(settle.InvalidInput, "loadgen: workload %q: want one of %s", cfg.Workload, strings.Join(Workloads, ", "))
	}
	if cfg.Batch < 0 || cfg.Batch > settle.MaxBatchWritebacks || (cfg.Batch > 0 && cfg.Workload != Writeback) {
		return settle.Errorf(settle.InvalidInput, "loadgen: batch %d: want 0 to %d, with the writeback workload", cfg.Batch, settle.MaxBatchWritebacks)
	}
	if cfg.Clients < 1 || cfg.Tracks < 1 || cfg.Requests < 0 || (cfg.Requests == 0 && cfg.Duration <= 0) {
		return settle.Errorf(settle.InvalidInput, "loadgen: clients and tracks must be positive, and a duration or a number of requests set")
	}
	if cfg.Target.URL == "" || (cfg.Workload == Status && cfg.Target.Setup == nil) {
		return settle.Errorf(settle.InvalidInput, "loadgen: the target needs a URL (and a set-up client for the status workload)")
	}
	return nil
}

// Run measures the disk's fsync rate (unless cfg.FsyncProbe is 0), runs
// the load, then the references cfg asks for, and returns the figures and
// the same-run ratios. A run whose operations failed returns a Result
// with Errors > 0 and no error; the error is for a run that could not be
// made.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tg := &cfg.Target
	res := &Result{Workload: cfg.Workload, Clients: cfg.Clients, Target: tg.Name, Embedded: tg.Embedded, FsyncDir: tg.FsyncDir}
	if cfg.FsyncProbe > 0 {
		rate, p50, err := fsyncRate(tg.FsyncDir, cfg.FsyncProbe)
		if err != nil {
			return nil, err
		}
		res.FsyncPerSec, res.FsyncP50ms = rate, p50
		fmt.Fprintf(cfg.log(), "disk fsync rate in %s: %.0f fsync/s (single-record append+fsync, p50 %.2f ms)\n", tg.FsyncDir, rate, p50)
	}
	stopProfiles, err := startProfiles(cfg)
	if err != nil {
		return nil, err
	}
	var before Counters
	if tg.Counters != nil {
		before = tg.Counters()
	}
	err = runLoad(ctx, cfg, res)
	stopProfiles()
	if err != nil {
		return nil, err
	}
	if tg.Counters != nil {
		res.setCounters(before, tg.Counters())
	}
	if res.Workload == Writeback {
		res.Batch = cfg.Batch
		res.Writebacks = res.Ops * int64(max(cfg.Batch, 1))
		res.WritebacksPerSec = float64(res.Writebacks) / res.Seconds
	}
	if res.FsyncPerSec > 0 {
		res.RequestsPerFsync = res.RequestsPerSec / res.FsyncPerSec
		res.OpsPerFsync = res.OpsPerSec / res.FsyncPerSec
		res.WritebacksPerFsync = res.WritebacksPerSec / res.FsyncPerSec
	}
	if err := references(ctx, cfg, res); err != nil {
		return nil, err
	}
	return res, nil
}

// startProfiles starts the profiles cfg asks for; the returned function
// stops them and writes them. They cover the load alone, not the
// references measured after it.
func startProfiles(cfg Config) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	// profile creates path and starts what into it; end writes it out.
	profile := func(path, what string, start func(io.Writer) error, end func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			stop()
			return settle.Wrap(settle.InvalidInput, err, "%s", what)
		}
		if err := start(f); err != nil {
			f.Close()
			stop()
			return settle.Wrap(settle.Internal, err, "%s", what)
		}
		stops = append(stops, func() {
			err := end(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				fmt.Fprintf(cfg.log(), "%s: %v\n", what, err)
			}
		})
		return nil
	}
	none := func(io.Writer) error { return nil }
	if err := profile(cfg.CPUProfile, "cpu profile", pprof.StartCPUProfile, func(io.Writer) error { pprof.StopCPUProfile(); return nil }); err != nil {
		return nil, err
	}
	if err := profile(cfg.Trace, "execution trace", trace.Start, func(io.Writer) error { trace.Stop(); return nil }); err != nil {
		return nil, err
	}
	if err := profile(cfg.MemProfile, "memory profile", none, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) }); err != nil {
		return nil, err
	}
	return stop, nil
}

// Counters are a store's commit counters.
type Counters struct {
	LedgerCommits, LedgerGroups, LedgerGrouped, LedgerMax int64
	EventCommits, EventGroups, EventGrouped               int64
	SceneGroups, SceneGrouped, SceneMax                   int64
}

// setCounters writes the counters' growth from before to after into r.
func (r *Result) setCounters(before, after Counters) {
	avg := func(grouped, groups int64) float64 {
		if groups <= 0 {
			return 0
		}
		return float64(grouped) / float64(groups)
	}
	r.LedgerFsyncs = after.LedgerCommits - before.LedgerCommits
	r.LedgerAvgGroup = avg(after.LedgerGrouped-before.LedgerGrouped, after.LedgerGroups-before.LedgerGroups)
	r.LedgerMaxGroup = after.LedgerMax
	r.EventFsyncs = after.EventCommits - before.EventCommits
	r.EventAvgGroup = avg(after.EventGrouped-before.EventGrouped, after.EventGroups-before.EventGroups)
	r.SceneCommits = after.SceneGroups - before.SceneGroups
	r.SceneAvgGroup = avg(after.SceneGrouped-before.SceneGrouped, after.SceneGroups-before.SceneGroups)
	r.SceneMaxGroup = after.SceneMax
}

// referenceRun runs the reference load c and sets *ops to its operations
// per second and *ratio to opsPerSec over them (unset when it did none);
// any failed operation fails it.
func referenceRun(ctx context.Context, c Config, what string, opsPerSec float64, ops, ratio *float64) error {
	var r Result
	if err := runLoad(ctx, c, &r); err != nil {
		return err
	}
	if r.Errors > 0 {
		return fmt.Errorf("bench: %s: %d errors, first: %s", what, r.Errors, r.FirstError)
	}
	*ops = r.OpsPerSec
	if r.OpsPerSec > 0 {
		*ratio = opsPerSec / r.OpsPerSec
	}
	return nil
}

// references runs the same-run references cfg asks for after its load:
// the same workload with one client and the ping ceiling with the run's
// clients, each for as long as the load ran, and sets the ratios of res
// to them.
func references(ctx context.Context, cfg Config, res *Result) error {
	ref := cfg
	ref.Requests = 0
	ref.Duration = time.Duration(res.Seconds * float64(time.Second))
	if cfg.SingleClient {
		one := ref
		one.Clients = 1
		fmt.Fprintf(cfg.log(), "single-client reference: workload=%s for %s\n", cfg.Workload, one.Duration.Round(time.Millisecond))
		if err := referenceRun(ctx, one, "single-client reference", res.OpsPerSec, &res.SingleClientOpsPerSec, &res.OpsPerSingleClient); err != nil {
			return err
		}
	}
	if cfg.Ceiling {
		ping := ref
		ping.Workload = Ping
		ping.Batch = 0
		fmt.Fprintf(cfg.log(), "ping ceiling: %d clients for %s\n", ping.Clients, ping.Duration.Round(time.Millisecond))
		if err := referenceRun(ctx, ping, "ping ceiling", res.OpsPerSec, &res.PingOpsPerSec, &res.OpsPerPingCeiling); err != nil {
			return err
		}
	}
	return nil
}

// RandomHex is n random bytes in hex, for names a run makes unique.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fsyncRate measures the disk's single-record fsync rate in dir: append
// one ~100-byte line and fsync, in a loop, for d.
func fsyncRate(dir string, d time.Duration) (rate, p50ms float64, err error) {
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, settle.Wrap(settle.InvalidInput, err, "fsync probe directory")
	}
	path := filepath.Join(dir, ".settle-bench-fsync-probe-"+RandomHex(6))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return 0, 0, settle.Wrap(settle.InvalidInput, err, "fsync probe file")
	}
	defer os.Remove(path)
	defer f.Close()
	line := []byte(`{"schema":"fsync_probe","pad":"` + strings.Repeat("x", 80) + `"}` + "\n")
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		if err := durable.Append(f, line); err != nil {
			return 0, 0, settle.Wrap(settle.Internal, err, "fsync probe")
		}
		lats = append(lats, time.Since(t))
	}
	el := time.Since(start)
	slices.Sort(lats)
	return float64(len(lats)) / el.Seconds(), ms(lats[len(lats)/2]), nil
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// benchOp is one operation of client c; it returns the requests it made.
type benchOp func(ctx context.Context, c, i int) (requests int, err error)

// wantStatus checks a response's status; what names the request in the
// error and is only called on a mismatch.
func wantStatus(r *benchResponse, want int, what func() string) error {
	if r.status == want {
		return nil
	}
	body := r.body
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Errorf("%s: HTTP %d (want %d): %s", what(), r.status, want, body)
}

// benchScratch is one client's reused buffers.
type benchScratch struct {
	prefix         []byte // bench-<run>-c<client>-
	id, path, body []byte
}

func runLoad(ctx context.Context, cfg Config, res *Result) error {
	tg := &cfg.Target
	run := RandomHex(4)
	var settledBatches atomic.Int64
	conns := make([]*benchConn, cfg.Clients)
	scratch := make([]benchScratch, cfg.Clients)
	token := map[string]string{"writeback": tg.CollectorToken, "settle": tg.OperatorToken, "status": tg.RunnerToken, "ping": tg.CollectorToken}[cfg.Workload]
	// The settle workload reads these response headers.
	const hdrDecision, hdrFirst = 0, 1
	for c := range conns {
		bcn, err := newBenchConn(tg.URL, token, httpapi.HeaderBatchDecision, httpapi.HeaderFirstConsolidation)
		if err != nil {
			return err
		}
		defer bcn.close()
		conns[c] = bcn
		scratch[c].prefix = fmt.Appendf(nil, "bench-%s-c%d-", run, c)
	}
	wb := newWritebackTemplate(tg.CollectorKey)
	var op benchOp
	switch cfg.Workload {
	case "ping":
		path := []byte("/healthz")
		op = func(ctx context.Context, c, i int) (int, error) {
			r, err := conns[c].do("GET", path, nil, nil)
			if err != nil {
				return 1, err
			}
			return 1, wantStatus(r, 200, func() string { return "GET /healthz" })
		}
	case "writeback":
		if cfg.Batch > 0 {
			op = batchWritebackOp(conns, scratch, wb, run, cfg.Batch)
			break
		}
		batch, track, path := []byte("bench-"+run), []byte("T1"), []byte("/v1/writebacks")
		op = func(ctx context.Context, c, i int) (int, error) {
			s := &scratch[c]
			s.id = strconv.AppendInt(append(s.id[:0], s.prefix...), int64(i), 10)
			s.body = wb.append(s.body[:0], s.id, track, batch)
			r, err := conns[c].do("POST", path, nil, s.body)
			if err != nil {
				return 1, err
			}
			// 201 is DURABLE_SUCCESS_WRITTEN and nothing else.
			return 1, wantStatus(r, 201, func() string { return "write-back " + string(s.id) })
		}
	case "settle":
		tracks := make([][]byte, cfg.Tracks)
		for t := range tracks {
			tracks[t] = []byte("T" + strconv.Itoa(t+1))
		}
		wbPath := []byte("/v1/writebacks")
		op = func(ctx context.Context, c, i int) (int, error) {
			s := &scratch[c]
			// s.id holds the batch id, then <batch>-t<k> after it.
			s.id = strconv.AppendInt(append(s.id[:0], s.prefix...), int64(i), 10)
			batch := s.id
			s.path = append(append(s.path[:0], "/v1/batches/"...), batch...)
			s.body = appendDeclareBody(s.body[:0], batch, tracks)
			r, err := conns[c].do("PUT", s.path, nil, s.body)
			if err == nil {
				err = wantStatus(r, 200, func() string { return "declare " + string(batch) })
			}
			if err != nil {
				return 1, err
			}
			for k, track := range tracks {
				// batch keeps its bytes if the append moves s.id.
				task := strconv.AppendInt(append(s.id[:len(batch)], "-t"...), int64(k+1), 10)
				s.id = task
				s.body = wb.append(s.body[:0], task, track, batch)
				r, err := conns[c].do("POST", wbPath, nil, s.body)
				if err == nil {
					err = wantStatus(r, 201, func() string { return "write-back " + string(batch) + "/" + string(track) })
				}
				if err != nil {
					return 2 + k, err
				}
				last := k == len(tracks)-1
				if d := r.header(hdrDecision); last != (string(d) == writeback.AllSettledConsolidate) {
					return 2 + k, fmt.Errorf("batch %s after track %d/%d: decision %q", batch, k+1, len(tracks), d)
				}
				if last && string(r.header(hdrFirst)) == "true" {
					settledBatches.Add(1)
				}
			}
			return 1 + len(tracks), nil
		}
	case "status":
		ifMatch := make([][]string, cfg.Clients)
		for c := range scratch {
			ref := scene.Ref{Project: "bench", Episode: "1", Batch: fmt.Sprintf("bench-%s-s%d", run, c)}
			sc := &scene.Scene{SceneID: ref.Batch, Beats: []*scene.Beat{{BeatID: "b1", Takes: []*scene.Take{{TakeID: "t1", Status: scene.TakePending}}}}}
			v, err := tg.Setup.WriteCandidate(ctx, ref, sc, "bench", true)
			if err != nil {
				return fmt.Errorf("bench: create scene %s: %w", ref.Batch, err)
			}
			scratch[c].path = []byte("/v1/projects/bench/episodes/1/scenes/" + ref.Batch)
			ifMatch[c] = []string{"If-Match", httpapi.ETag(v)}
		}
		var patches [2][]byte
		for k, st := range []string{scene.TakeRunning, scene.TakeSucceeded} {
			patches[k] = []byte(`[{"op":"replace","path":"/beats/0/takes/0/status","value":` + jsonString(st) + `}]`)
		}
		op = func(ctx context.Context, c, i int) (int, error) {
			r, err := conns[c].do("PATCH", scratch[c].path, ifMatch[c], patches[i%2])
			if err != nil {
				return 1, err
			}
			return 1, wantStatus(r, 200, func() string { return "status save" })
		}
	}

	var (
		ops, reqs, errs atomic.Int64
		latSum          atomic.Int64
		issued          atomic.Int64
		firstErr        atomic.Value
		wg              sync.WaitGroup
	)
	lats := make([][]time.Duration, cfg.Clients)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Requests == 0 {
		var tcancel context.CancelFunc
		lctx, tcancel = context.WithTimeout(lctx, cfg.Duration)
		defer tcancel()
	}
	cpu0 := cpuTime()
	start := time.Now()
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if lctx.Err() != nil {
					return
				}
				if cfg.Requests > 0 && issued.Add(1) > int64(cfg.Requests) {
					return
				}
				t := time.Now()
				n, err := op(lctx, c, i)
				d := time.Since(t)
				if err != nil && lctx.Err() != nil {
					return // cut by the end of the run
				}
				reqs.Add(int64(n))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ops.Add(1)
				latSum.Add(int64(d))
				lats[c] = append(lats[c], d)
			}
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress <= 0 {
			<-stopProgress
			return
		}
		tick := time.NewTicker(cfg.Progress)
		defer tick.Stop()
		var lastOps, lastLat int64
		last := start
		for {
			select {
			case <-stopProgress:
				return
			case now := <-tick.C:
				o, l := ops.Load(), latSum.Load()
				dOps := o - lastOps
				mean := 0.0
				if dOps > 0 {
					mean = ms(time.Duration((l - lastLat) / dOps))
				}
				fmt.Fprintf(cfg.log(), "progress: %.1f s, %.1f ops/s, lat mean %.2f ms, %d ops, %d errors\n",
					now.Sub(start).Seconds(), float64(dOps)/now.Sub(last).Seconds(), mean, o, errs.Load())
				lastOps, lastLat, last = o, l, now
			}
		}
	}()
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	close(stopProgress)
	<-progressDone

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	res.Seconds = el.Seconds()
	res.Ops, res.Requests, res.Errors = ops.Load(), reqs.Load(), errs.Load()
	if v, ok := firstErr.Load().(string); ok {
		res.FirstError = v
	}
	res.OpsPerSec = float64(res.Ops) / el.Seconds()
	res.CPUs = cfg.CPUs
	if res.CPUs <= 0 {
		res.CPUs = runtime.GOMAXPROCS(0)
	}
	if res.Ops > 0 {
		res.CPUPerOpUs = float64(cpu.Microseconds()) / float64(res.Ops)
	}
	if el > 0 {
		res.CPUBusy = cpu.Seconds() / (el.Seconds() * float64(res.CPUs))
	}
	res.RequestsPerSec = float64(res.Requests) / el.Seconds()
	if len(all) > 0 {
		pct := func(p float64) float64 {
			i := int(math.Ceil(p*float64(len(all)))) - 1
			return ms(all[max(0, min(i, len(all)-1))])
		}
		res.P50ms, res.P99ms, res.P999ms = pct(0.50), pct(0.99), pct(0.999)
		res.MaxMs = ms(all[len(all)-1])
		res.MeanMs = ms(time.Duration(latSum.Load() / int64(len(all))))
	}
	if cfg.Workload == "settle" {
		res.BatchesExpected = res.Ops
		res.BatchesSettled = settledBatches.Load()
		if res.BatchesSettled != res.BatchesExpected {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("%d batches completed but %d first consolidations seen", res.BatchesExpected, res.BatchesSettled)
			}
		}
	}
	return nil
}

// batchWritebackOp is the writeback workload with n distinct verdicts per
// request (POST /v1/writebacks/batch): one operation is one request, each
// of its items must be written (201).
func batchWritebackOp(conns []*benchConn, scratch []benchScratch, wb *writebackTemplate, run string, n int) benchOp {
	batch, track, path := []byte("bench-"+run), []byte("T1"), []byte("/v1/writebacks/batch")
	return func(ctx context.Context, c, i int) (int, error) {
		s := &scratch[c]
		s.body = append(s.body[:0], `{"writebacks":[`...)
		for k := range n {
			if k > 0 {
				s.body = append(s.body, ',')
			}
			s.id = strconv.AppendInt(append(append(strconv.AppendInt(append(s.id[:0], s.prefix...), int64(i), 10), '-'), 'b'), int64(k), 10)
			s.body = wb.append(s.body, s.id, track, batch)
		}
		s.body = append(s.body, "]}"...)
		r, err := conns[c].do("POST", path, nil, s.body)
		if err != nil {
			return 1, err
		}
		if err := wantStatus(r, 200, func() string { return "write-back batch " + string(s.id) }); err != nil {
			return 1, err
		}
		if got := bytes.Count(r.body, []byte(`"status":201`)); got != n {
			body := r.body[:min(len(r.body), 300)]
			return 1, fmt.Errorf("write-back batch %s: %d of %d items written: %s", s.id, got, n, body)
		}
		return 1, nil
	}
}
