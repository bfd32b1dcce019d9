package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

const benchAbout = `A load generator for a settle server, like pgbench: N concurrent clients
repeat one workload for --duration (or until --requests operations are
done), with a progress line every --progress, then report the throughput,
the p50/p99/p99.9 latency, and the disk's single-record fsync rate measured
in the same run (an append+fsync loop on a file in the store's directory),
so the group commit's gain is visible.

Workloads:
  writeback  one operation = one write-back of a distinct verdict (201)
  settle     one operation = declare a batch of --tracks tracks, write back
             each track; the last one must settle the batch (its summary and
             batch.settled event are written in that request)
  status     one operation = one scene status save (a JSON Patch with
             If-Match) on the client's own scene
  ping       one operation = one GET /healthz: no store work, no fsync; the
             HTTP round trip alone, the ceiling any workload can reach on
             this machine with this many clients

Against a running server give --url and --token (writeback: a collector or
operator token and --collector-key, a key the server accepts; settle and
status: an operator token). With --embedded the command starts a server on a
temporary file store of its own (on 127.0.0.1, in --dir) and runs there;
with a postgres:// --store, on a PostgreSQL store in a fresh schema.

--single-client and --ceiling run same-run references after the load: the
workload with one client, and ping with as many clients; the ratios to them
(and to the fsync rate) are printed and in --json.`

// benchResult is what a run measured.
type benchResult struct {
	Workload       string  `json:"workload"`
	Clients        int     `json:"clients"`
	Target         string  `json:"target"`
	Embedded       bool    `json:"embedded"`
	Seconds        float64 `json:"seconds"`
	Ops            int64   `json:"ops"`
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	P999ms         float64 `json:"p999_ms"`
	MaxMs          float64 `json:"max_ms"`
	MeanMs         float64 `json:"mean_ms"`
	FsyncDir       string  `json:"fsync_dir"`
	FsyncPerSec    float64 `json:"fsync_per_sec"`
	FsyncP50ms     float64 `json:"fsync_p50_ms"`
	// RequestsPerFsync is the throughput in requests/s over the disk's
	// single-record fsync rate.
	RequestsPerFsync float64 `json:"requests_per_fsync_rate"`
	// Batch is the write-backs per request (writeback workload; 0: one
	// per request, POST /v1/writebacks). WritebacksPerSec counts verdicts,
	// OpsPerSec requests; WritebacksPerFsync is the verdicts' rate over
	// the disk's single-record fsync rate.
	Batch              int     `json:"batch,omitempty"`
	Writebacks         int64   `json:"writebacks,omitempty"`
	WritebacksPerSec   float64 `json:"writebacks_per_sec,omitempty"`
	WritebacksPerFsync float64 `json:"writebacks_per_fsync_rate,omitempty"`
	// Embedded runs also report the stores' commit counters.
	LedgerFsyncs    int64   `json:"ledger_fsyncs,omitempty"`
	LedgerAvgGroup  float64 `json:"ledger_avg_group,omitempty"`
	LedgerMaxGroup  int64   `json:"ledger_max_group,omitempty"`
	EventFsyncs     int64   `json:"event_fsyncs,omitempty"`
	EventAvgGroup   float64 `json:"event_avg_group,omitempty"`
	BatchesSettled  int64   `json:"batches_settled,omitempty"`
	BatchesExpected int64   `json:"batches_expected,omitempty"`
	// CPUPerOpUs is this process's CPU time (user + system) per operation
	// during the load, in microseconds: with --embedded it covers the
	// clients and the server, and bounds the throughput at
	// cores / CPU per operation whatever the disk does.
	CPUPerOpUs float64 `json:"cpu_per_op_us"`
	CPUs       int     `json:"cpus"`
	// Same-run ratios: operations/s over the disk's fsync rate, over the
	// ping ceiling with as many clients (--ceiling) and over the same
	// workload with one client (--single-client).
	OpsPerFsync           float64 `json:"ops_per_fsync_rate,omitempty"`
	PingOpsPerSec         float64 `json:"ping_ops_per_sec,omitempty"`
	OpsPerPingCeiling     float64 `json:"ops_per_ping_ceiling,omitempty"`
	SingleClientOpsPerSec float64 `json:"single_client_ops_per_sec,omitempty"`
	OpsPerSingleClient    float64 `json:"ops_per_single_client,omitempty"`
	// Scene status saves grouped into one transaction (PostgreSQL).
	SceneCommits  int64   `json:"scene_commits,omitempty"`
	SceneAvgGroup float64 `json:"scene_avg_group,omitempty"`
	SceneMaxGroup int64   `json:"scene_max_group,omitempty"`
}

type benchConfig struct {
	url, token, collectorKey string
	embedded, keep           bool
	dir                      string
	clients, requests        int
	duration, progress       time.Duration
	probe                    time.Duration
	fsyncDir                 string
	workload                 string
	tracks                   int
	batch                    int
	cpuProfile               string
	store                    string
	ceiling, singleClient    bool
}

func runBench(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("bench", "bench (--url URL --token T | --embedded) [--clients N] [--duration D | --requests N] [--workload writeback|settle|status|ping]", benchAbout, &g)
	var bc benchConfig
	fs.StringVar(&bc.url, "url", "", "server URL, http://host:port")
	fs.StringVar(&bc.token, "token", os.Getenv("SETTLE_TOKEN"), "bearer token (SETTLE_TOKEN)")
	fs.StringVar(&bc.collectorKey, "collector-key", "", "collector key of the verdicts (writeback, settle; default: the first --collector-keys)")
	fs.BoolVar(&bc.embedded, "embedded", false, "start an in-process server on a temporary file store")
	fs.StringVar(&bc.dir, "dir", "", "directory for the embedded store (default: the system's temporary directory)")
	fs.BoolVar(&bc.keep, "keep", false, "keep the embedded store's directory (PostgreSQL: its schema)")
	fs.IntVar(&bc.clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&bc.duration, "duration", 10*time.Second, "how long to run (unless --requests)")
	fs.IntVar(&bc.requests, "requests", 0, "total operations to run (instead of --duration)")
	fs.StringVar(&bc.workload, "workload", "writeback", "writeback, settle, status or ping")
	fs.IntVar(&bc.tracks, "tracks", 2, "tracks per batch (settle)")
	fs.IntVar(&bc.batch, "batch", 0, "write-backs per request (writeback: POST /v1/writebacks/batch; 0: one per request)")
	fs.DurationVar(&bc.progress, "progress", time.Second, "progress line interval (0: none)")
	fs.DurationVar(&bc.probe, "fsync-probe", 1500*time.Millisecond, "how long to measure the disk's fsync rate (0: skip)")
	fs.StringVar(&bc.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (with --embedded: client and server) to FILE")
	fs.BoolVar(&bc.ceiling, "ceiling", false, "after the load, measure the ping ceiling with as many clients, and report the ratio")
	fs.BoolVar(&bc.singleClient, "single-client", false, "after the load, run the workload with one client, and report the ratio")
	fs.StringVar(&bc.fsyncDir, "fsync-dir", "", "directory whose disk's fsync rate is measured (default: the embedded store's, else --root)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("bench: unexpected arguments %v", fs.Args())
	}
	switch bc.workload {
	case "writeback", "settle", "status", "ping":
	default:
		return usageErr("bench: --workload %q: want writeback, settle, status or ping", bc.workload)
	}
	if bc.batch < 0 || bc.batch > settle.MaxBatchWritebacks || (bc.batch > 0 && bc.workload != "writeback") {
		return usageErr("bench: --batch %d: want 0 to %d, with --workload writeback", bc.batch, settle.MaxBatchWritebacks)
	}
	if bc.embedded == (bc.url != "") {
		return usageErr("bench: give exactly one of --url or --embedded")
	}
	if bc.clients < 1 || bc.tracks < 1 || bc.requests < 0 || (bc.requests == 0 && bc.duration <= 0) {
		return usageErr("bench: --clients and --tracks must be positive, and --duration or --requests set")
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	if bc.embedded && isPostgres(cfg.Store) {
		// The embedded server runs on a fresh schema of this database.
		bc.store = cfg.Store
	}
	res, err := bench(ctx, m, cfg, bc)
	if err != nil {
		return m.refuse(cfg, err)
	}
	if cfg.JSON {
		if err := m.printJSON(res); err != nil {
			return err
		}
	} else {
		printBench(m.Stdout, res)
	}
	if res.Errors > 0 {
		return errFail()
	}
	return nil
}

// benchTarget is the server a run talks to, the token of each role, and
// a Go client for the set-up.
type benchTarget struct {
	name                        string
	url                         string
	tokCollector, tokOp, tokRun string
	setup                       *httpapi.Client // operator: creates the status workload's scenes
	collectorKey                string
	fsyncDir                    string
	stop                        func() error
	stats                       func(*benchResult)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func bench(ctx context.Context, m *Main, cfg *Config, bc benchConfig) (*benchResult, error) {
	var tg *benchTarget
	var err error
	if bc.embedded {
		tg, err = startEmbedded(ctx, m, bc)
	} else {
		tg, err = remoteTarget(cfg, bc)
	}
	if err != nil {
		return nil, err
	}
	defer tg.stop()

	res := &benchResult{Workload: bc.workload, Clients: bc.clients, Target: tg.name, Embedded: bc.embedded, FsyncDir: tg.fsyncDir}
	if bc.probe > 0 {
		rate, p50, err := fsyncRate(tg.fsyncDir, bc.probe)
		if err != nil {
			return nil, err
		}
		res.FsyncPerSec, res.FsyncP50ms = rate, p50
		fmt.Fprintf(m.Stderr, "disk fsync rate in %s: %.0f fsync/s (single-record append+fsync, p50 %.2f ms)\n", tg.fsyncDir, rate, p50)
	}
	if bc.cpuProfile != "" {
		f, err := os.Create(bc.cpuProfile)
		if err != nil {
			return nil, settle.Wrap(settle.EINVALID, err, "cpu profile")
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, settle.Wrap(settle.EINTERNAL, err, "cpu profile")
		}
		defer pprof.StopCPUProfile()
	}
	if err := runLoad(ctx, m, bc, tg, res); err != nil {
		return nil, err
	}
	if tg.stats != nil {
		tg.stats(res)
	}
	if res.Workload == "writeback" {
		res.Batch = bc.batch
		res.Writebacks = res.Ops * int64(max(bc.batch, 1))
		res.WritebacksPerSec = float64(res.Writebacks) / res.Seconds
	}
	if res.FsyncPerSec > 0 {
		res.RequestsPerFsync = res.RequestsPerSec / res.FsyncPerSec
		res.OpsPerFsync = res.OpsPerSec / res.FsyncPerSec
		res.WritebacksPerFsync = res.WritebacksPerSec / res.FsyncPerSec
	}
	if err := benchReferences(ctx, m, bc, tg, res); err != nil {
		return nil, err
	}
	return res, nil
}

func remoteTarget(cfg *Config, bc benchConfig) (*benchTarget, error) {
	c, err := httpapi.NewClient(bc.url, bc.token, httpapi.ClientOptions{})
	if err != nil {
		return nil, err
	}
	key := bc.collectorKey
	if key == "" && len(cfg.CollectorKeys) > 0 {
		key = cfg.CollectorKeys[0]
	}
	if key == "" && bc.workload != "status" {
		return nil, settle.Errorf(settle.EINVALID, "bench: --collector-key is required against a server (a key the server accepts)")
	}
	dir := bc.fsyncDir
	if dir == "" {
		dir = cfg.Root
	}
	return &benchTarget{name: bc.url, url: bc.url, tokCollector: bc.token, tokOp: bc.token, tokRun: bc.token,
		setup: c, collectorKey: key, fsyncDir: dir, stop: c.Close}, nil
}

// startEmbedded starts a server on a temporary file store.
func startEmbedded(ctx context.Context, m *Main, bc benchConfig) (*benchTarget, error) {
	dir, err := os.MkdirTemp(bc.dir, "settle-bench-")
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "bench directory")
	}
	cleanup := func() {
		if !bc.keep {
			os.RemoveAll(dir)
		}
	}
	key := bc.collectorKey
	if key == "" {
		key = "anu-bench-0001"
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	met := httpapi.NewMetrics()
	wcfg := writeback.Config{CollectorKeys: []string{key}, DefaultChatID: "chat-bench"}
	var st *serveStores
	var counters func() benchCounters
	name := "embedded file store in " + dir
	if bc.store != "" {
		st, counters, name, err = openBenchPostgres(ctx, bc.store, bc.keep, wcfg, log, m.Stderr)
	} else {
		st, err = openFileStores(dir, "", "", wcfg, 0, 0, log, met)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	if counters == nil {
		led, ev := st.ledger.(*file.Ledger), st.events.(*file.Events)
		counters = func() benchCounters {
			ls, es := led.Stats(), ev.Stats()
			return benchCounters{ledgerCommits: ls.Fsyncs, ledgerGroups: ls.Groups, ledgerGrouped: ls.GroupedRequests, ledgerMax: ls.MaxGroup,
				eventCommits: es.Fsyncs, eventGroups: es.Groups, eventGrouped: es.Grouped}
		}
	}
	tok := map[httpapi.Role]string{httpapi.RoleCollector: randomHex(16), httpapi.RoleOperator: randomHex(16), httpapi.RoleRunner: randomHex(16)}
	tokens := []httpapi.Token{
		{TokenSHA256: httpapi.HashToken(tok[httpapi.RoleCollector]), Principal: "bench-collector", Role: httpapi.RoleCollector, CollectorKey: key},
		{TokenSHA256: httpapi.HashToken(tok[httpapi.RoleOperator]), Principal: "bench-operator", Role: httpapi.RoleOperator},
		{TokenSHA256: httpapi.HashToken(tok[httpapi.RoleRunner]), Principal: "bench-runner", Role: httpapi.RoleRunner},
	}
	srv, err := httpapi.New(httpapi.Options{
		Ledger: st.ledger, Scenes: st.scenes, Events: st.events,
		Config: wcfg, Root: dir, Tokens: tokens, Logger: log, Metrics: met,
		LedgerStats: st.stats, Health: st.health,
	})
	if err != nil {
		st.close(log)
		cleanup()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.close(log)
		cleanup()
		return nil, settle.Wrap(settle.EUNAVAILABLE, err, "listen")
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	url := "http://" + ln.Addr().String()
	clients := map[httpapi.Role]*httpapi.Client{}
	for role, t := range tok {
		c, err := httpapi.NewClient(url, t, httpapi.ClientOptions{})
		if err != nil {
			cancel()
			<-done
			st.close(log)
			cleanup()
			return nil, err
		}
		clients[role] = c
	}
	stop := func() error {
		for _, c := range clients {
			c.Close()
		}
		cancel()
		serr := <-done
		cerr := st.close(log)
		cleanup()
		return errors.Join(serr, cerr)
	}
	if err := waitReady(ctx, clients[httpapi.RoleOperator], 30*time.Second); err != nil {
		stop()
		return nil, err
	}
	before := counters()
	return &benchTarget{
		name:         name,
		url:          url,
		tokCollector: tok[httpapi.RoleCollector],
		tokOp:        tok[httpapi.RoleOperator],
		tokRun:       tok[httpapi.RoleRunner],
		setup:        clients[httpapi.RoleOperator],
		collectorKey: key,
		fsyncDir:     filepath.Join(dir, "memory", "events"),
		stop:         stop,
		stats:        func(r *benchResult) { r.setCounters(before, counters()) },
	}, nil
}

// fsyncRate measures the disk's single-record fsync rate in dir: append
// one ~100-byte line and fsync, in a loop, for d.
func fsyncRate(dir string, d time.Duration) (rate, p50ms float64, err error) {
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, settle.Wrap(settle.EINVALID, err, "fsync probe directory")
	}
	path := filepath.Join(dir, ".settle-bench-fsync-probe-"+randomHex(6))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return 0, 0, settle.Wrap(settle.EINVALID, err, "fsync probe file")
	}
	defer os.Remove(path)
	defer f.Close()
	line := []byte(`{"schema":"fsync_probe","pad":"` + strings.Repeat("x", 80) + `"}` + "\n")
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		if err := durable.Append(f, line); err != nil {
			return 0, 0, settle.Wrap(settle.EINTERNAL, err, "fsync probe")
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

func runLoad(ctx context.Context, m *Main, bc benchConfig, tg *benchTarget, res *benchResult) error {
	run := randomHex(4)
	var settledBatches atomic.Int64
	conns := make([]*benchConn, bc.clients)
	scratch := make([]benchScratch, bc.clients)
	token := map[string]string{"writeback": tg.tokCollector, "settle": tg.tokOp, "status": tg.tokRun, "ping": tg.tokCollector}[bc.workload]
	// The settle workload reads these response headers.
	const hdrDecision, hdrFirst = 0, 1
	for c := range conns {
		bcn, err := newBenchConn(tg.url, token, httpapi.HeaderBatchDecision, httpapi.HeaderFirstConsolidation)
		if err != nil {
			return err
		}
		defer bcn.close()
		conns[c] = bcn
		scratch[c].prefix = fmt.Appendf(nil, "bench-%s-c%d-", run, c)
	}
	wb := newWritebackTemplate(tg.collectorKey)
	var op benchOp
	switch bc.workload {
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
		if bc.batch > 0 {
			op = batchWritebackOp(conns, scratch, wb, run, bc.batch)
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
		tracks := make([][]byte, bc.tracks)
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
		ifMatch := make([][]string, bc.clients)
		for c := range scratch {
			ref := scene.Ref{Project: "bench", Episode: "1", Batch: fmt.Sprintf("bench-%s-s%d", run, c)}
			sc := &scene.Scene{SceneID: ref.Batch, Beats: []*scene.Beat{{BeatID: "b1", Takes: []*scene.Take{{TakeID: "t1", Status: scene.TakePending}}}}}
			v, err := tg.setup.WriteCandidate(ctx, ref, sc, "bench", true)
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
	lats := make([][]time.Duration, bc.clients)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if bc.requests == 0 {
		var tcancel context.CancelFunc
		lctx, tcancel = context.WithTimeout(lctx, bc.duration)
		defer tcancel()
	}
	cpu0 := cpuTime()
	start := time.Now()
	for c := range bc.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if lctx.Err() != nil {
					return
				}
				if bc.requests > 0 && issued.Add(1) > int64(bc.requests) {
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
		if bc.progress <= 0 {
			<-stopProgress
			return
		}
		tick := time.NewTicker(bc.progress)
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
				fmt.Fprintf(m.Stderr, "progress: %.1f s, %.1f ops/s, lat mean %.2f ms, %d ops, %d errors\n",
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
	res.CPUs = runtime.GOMAXPROCS(0)
	if res.Ops > 0 {
		res.CPUPerOpUs = float64(cpu.Microseconds()) / float64(res.Ops)
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
	if bc.workload == "settle" {
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

func printBench(w io.Writer, r *benchResult) {
	unit := "write-backs"
	switch r.Workload {
	case "settle":
		unit = "batches"
	case "status":
		unit = "status saves"
	case "ping":
		unit = "pings"
	}
	if r.Batch > 0 {
		unit = "batches"
	}
	fmt.Fprintf(w, "settle bench: workload=%s clients=%d target=%s\n", r.Workload, r.Clients, r.Target)
	fmt.Fprintf(w, "  %d %s (%d requests) in %.2f s, %d errors\n", r.Ops, unit, r.Requests, r.Seconds, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "  throughput: %.1f %s/s (%.1f requests/s)\n", r.OpsPerSec, unit, r.RequestsPerSec)
	if r.Batch > 0 {
		fmt.Fprintf(w, "  write-backs: %d in batches of %d, %.1f write-backs/s\n", r.Writebacks, r.Batch, r.WritebacksPerSec)
	}
	fmt.Fprintf(w, "  latency per operation: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, mean %.2f ms\n", r.P50ms, r.P99ms, r.P999ms, r.MaxMs, r.MeanMs)
	switch {
	case r.CPUPerOpUs > 0 && r.Embedded:
		fmt.Fprintf(w, "  CPU per operation (clients and server): %.0f µs, so at most ~%.0f %s/s on %d CPUs\n",
			r.CPUPerOpUs, float64(r.CPUs)*1e6/r.CPUPerOpUs, unit, r.CPUs)
	case r.CPUPerOpUs > 0:
		fmt.Fprintf(w, "  CPU per operation of the load generator: %.0f µs\n", r.CPUPerOpUs)
	}
	if r.FsyncPerSec > 0 {
		fmt.Fprintf(w, "  disk fsync rate: %.0f fsync/s (single-record append+fsync in %s, p50 %.2f ms)\n", r.FsyncPerSec, r.FsyncDir, r.FsyncP50ms)
		fmt.Fprintf(w, "  requests/s over the fsync rate: %.1fx\n", r.RequestsPerFsync)
		if r.Batch > 0 {
			fmt.Fprintf(w, "  write-backs/s over the fsync rate: %.1fx\n", r.WritebacksPerFsync)
		}
	}
	if r.LedgerFsyncs > 0 || r.EventFsyncs > 0 {
		fmt.Fprintf(w, "  group commit: ledger %d fsyncs (avg group %.1f, max %d), event log %d fsyncs (avg group %.1f)\n",
			r.LedgerFsyncs, r.LedgerAvgGroup, r.LedgerMaxGroup, r.EventFsyncs, r.EventAvgGroup)
	}
	printBenchRatios(w, r)
	if r.Workload == "settle" {
		fmt.Fprintf(w, "  batches settled by their last write-back: %d of %d\n", r.BatchesSettled, r.BatchesExpected)
	}
}
