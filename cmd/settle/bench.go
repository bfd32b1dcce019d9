package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/loadgen"
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

Every run measures two same-run references: the disk's fsync rate before
the load, and the ping ceiling (ping with as many clients, for as long)
after it; the ratios to them are printed and in --json. --no-reference
skips both. --single-client also runs the workload with one client after
the load, and reports the ratio to it.`

// benchResult is the result settle bench prints (--json: its JSON form).
type benchResult = loadgen.Result

type benchConfig struct {
	url, token, collectorKey string
	embedded, keep           bool
	dir                      string
	store                    string
	fsyncDir                 string
	noReference              bool
	run                      loadgen.Config
}

func runBench(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("bench", "bench (--url URL --token T | --embedded) [--clients N] [--duration D | --requests N] [--workload writeback|settle|status|ping]", benchAbout, &g)
	var bc benchConfig
	lc := &bc.run
	fs.StringVar(&bc.url, "url", "", "server URL, http://host:port")
	fs.StringVar(&bc.token, "token", os.Getenv("SETTLE_TOKEN"), "bearer token (SETTLE_TOKEN)")
	fs.StringVar(&bc.collectorKey, "collector-key", "", "collector key of the verdicts (writeback, settle; default: the first --collector-keys)")
	fs.BoolVar(&bc.embedded, "embedded", false, "start an in-process server on a temporary file store")
	fs.StringVar(&bc.dir, "dir", "", "directory for the embedded store (default: the system's temporary directory)")
	fs.BoolVar(&bc.keep, "keep", false, "keep the embedded store's directory (PostgreSQL: its schema)")
	fs.IntVar(&lc.Clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&lc.Duration, "duration", 10*time.Second, "how long to run (unless --requests)")
	fs.IntVar(&lc.Requests, "requests", 0, "total operations to run (instead of --duration)")
	fs.StringVar(&lc.Workload, "workload", "writeback", "writeback, settle, status or ping")
	fs.IntVar(&lc.Tracks, "tracks", 2, "tracks per batch (settle)")
	fs.IntVar(&lc.Batch, "batch", 0, "write-backs per request (writeback: POST /v1/writebacks/batch; 0: one per request)")
	fs.DurationVar(&lc.Progress, "progress", time.Second, "progress line interval (0: none)")
	fs.DurationVar(&lc.FsyncProbe, "fsync-probe", 1500*time.Millisecond, "how long to measure the disk's fsync rate (0: skip)")
	fs.StringVar(&lc.MemProfile, "memprofile", "", "write an allocation profile of this process (with --embedded: client and server) to FILE")
	fs.StringVar(&lc.CPUProfile, "cpuprofile", "", "write a CPU profile of this process during the load (with --embedded: client and server) to FILE")
	fs.StringVar(&lc.Trace, "trace", "", "write an execution trace of the load (go tool trace) to FILE")
	fs.BoolVar(&lc.Ceiling, "ceiling", true, "after the load, measure the ping ceiling with as many clients, and report the ratio (--no-reference skips it)")
	fs.BoolVar(&bc.noReference, "no-reference", false, "skip the same-run references: the fsync probe and the ping ceiling")
	fs.BoolVar(&lc.SingleClient, "single-client", false, "after the load, run the workload with one client, and report the ratio")
	fs.StringVar(&bc.fsyncDir, "fsync-dir", "", "directory whose disk's fsync rate is measured (default: the embedded store's, else --root)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("bench: unexpected arguments %v", fs.Args())
	}
	if !slices.Contains(loadgen.Workloads, lc.Workload) {
		return usageErr("bench: --workload %q: want writeback, settle, status or ping", lc.Workload)
	}
	if lc.Batch < 0 || lc.Batch > settle.MaxBatchWritebacks || (lc.Batch > 0 && lc.Workload != loadgen.Writeback) {
		return usageErr("bench: --batch %d: want 0 to %d, with --workload writeback", lc.Batch, settle.MaxBatchWritebacks)
	}
	if bc.embedded == (bc.url != "") {
		return usageErr("bench: give exactly one of --url or --embedded")
	}
	if lc.Clients < 1 || lc.Tracks < 1 || lc.Requests < 0 || (lc.Requests == 0 && lc.Duration <= 0) {
		return usageErr("bench: --clients and --tracks must be positive, and --duration or --requests set")
	}
	if bc.noReference {
		lc.FsyncProbe, lc.Ceiling = 0, false
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
		res.WriteText(m.Stdout)
	}
	if res.Errors > 0 {
		return errFail()
	}
	return nil
}

// bench starts or names the target, and runs the load generator on it.
func bench(ctx context.Context, m *Main, cfg *Config, bc benchConfig) (*loadgen.Result, error) {
	var tg *loadgen.Target
	var stop func() error
	var err error
	if bc.embedded {
		tg, stop, err = startEmbedded(ctx, m, bc)
	} else {
		tg, stop, err = remoteTarget(cfg, bc)
	}
	if err != nil {
		return nil, err
	}
	defer stop()
	lc := bc.run
	lc.Target = *tg
	lc.Log = m.Stderr
	lc.CPUs = cpus
	return loadgen.Run(ctx, lc)
}

func remoteTarget(cfg *Config, bc benchConfig) (*loadgen.Target, func() error, error) {
	c, err := httpapi.NewClient(bc.url, bc.token, httpapi.ClientOptions{})
	if err != nil {
		return nil, nil, err
	}
	key := bc.collectorKey
	if key == "" && len(cfg.CollectorKeys) > 0 {
		key = cfg.CollectorKeys[0]
	}
	if key == "" && bc.run.Workload != loadgen.Status {
		c.Close()
		return nil, nil, settle.Errorf(settle.InvalidInput, "bench: --collector-key is required against a server (a key the server accepts)")
	}
	dir := bc.fsyncDir
	if dir == "" {
		dir = cfg.Root
	}
	return &loadgen.Target{Name: bc.url, URL: bc.url, CollectorToken: bc.token, OperatorToken: bc.token, RunnerToken: bc.token,
		Setup: c, CollectorKey: key, FsyncDir: dir}, c.Close, nil
}

// startEmbedded starts a server on a temporary file store.
func startEmbedded(ctx context.Context, m *Main, bc benchConfig) (*loadgen.Target, func() error, error) {
	serverProcs()
	dir, err := os.MkdirTemp(bc.dir, "settle-bench-")
	if err != nil {
		return nil, nil, settle.Wrap(settle.InvalidInput, err, "bench directory")
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
	var counters func() loadgen.Counters
	name := "embedded file store in " + dir
	if bc.store != "" {
		st, counters, name, err = openBenchPostgres(ctx, bc.store, bc.keep, wcfg, log, m.Stderr)
	} else {
		st, err = openFileStores(dir, "", "", wcfg, 0, 0, log, met)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	if counters == nil {
		led, ev := st.ledger.(*file.Ledger), st.events.(*file.Events)
		counters = func() loadgen.Counters {
			ls, es := led.Stats(), ev.Stats()
			return loadgen.Counters{LedgerCommits: ls.Fsyncs, LedgerGroups: ls.Groups, LedgerGrouped: ls.GroupedRequests, LedgerMax: ls.MaxGroup,
				EventCommits: es.Fsyncs, EventGroups: es.Groups, EventGrouped: es.Grouped}
		}
	}
	tok := map[httpapi.Role]string{httpapi.RoleCollector: loadgen.RandomHex(16), httpapi.RoleOperator: loadgen.RandomHex(16), httpapi.RoleRunner: loadgen.RandomHex(16)}
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
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.close(log)
		cleanup()
		return nil, nil, settle.Wrap(settle.Unavailable, err, "listen")
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
			return nil, nil, err
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
		return nil, nil, err
	}
	return &loadgen.Target{
		Name:           name,
		URL:            url,
		Embedded:       true,
		CollectorToken: tok[httpapi.RoleCollector],
		OperatorToken:  tok[httpapi.RoleOperator],
		RunnerToken:    tok[httpapi.RoleRunner],
		Setup:          clients[httpapi.RoleOperator],
		CollectorKey:   key,
		FsyncDir:       filepath.Join(dir, "memory", "events"),
		Counters:       counters,
	}, stop, nil
}
