package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

const serveAbout = `Serves the library over HTTP (docs/server.md): write-backs, ledger queries,
the registry, batch declarations and settlement, every scene operation, and
Server-Sent Events, under /v1, with /metrics, /healthz and /readyz. The
OpenAPI document is at /v1/openapi.json. The web dashboard is at /ui/
(sign in with a token; docs/dashboard.md).

Bearer tokens come from the config file's "server" section, stored as their
sha256 (printf %s "$TOKEN" | sha256sum), each with a principal and a role:
collector (with its collector_key), dispatcher, runner, operator or reader.

The server runs until SIGTERM or SIGINT, then stops accepting connections,
finishes the requests in flight and closes the stores. It prints
"listening on ADDR" on standard output once it accepts connections.`

// cpus is the CPUs this process may use: the runtime's GOMAXPROCS at start
// (the machine's, or its container's limit), or the CPUs it may run on
// when GOMAXPROCS is set in the environment.
var cpus = func() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.NumCPU()
	}
	return runtime.GOMAXPROCS(0)
}()

// serverProcs gives a server one Go processor more than it has CPUs,
// unless GOMAXPROCS is set. A processor whose thread blocks in fsync keeps
// the goroutines queued on it until the runtime's monitor hands it to
// another thread (20 µs to 10 ms later), and the goroutine queued there is
// often the group committer every request waits for; with one processor
// more, another thread runs it meanwhile. Measured with one write-back per
// request at 64 clients: +15% (alternated runs, BENCHMARKS.md); batches of
// 64: within the runs' spread.
func serverProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cpus + 1)
	}
}

func runServe(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("serve", "serve [--listen ADDR] [--tls-cert FILE --tls-key FILE] [flags]", serveAbout, &g)
	listen := fs.String("listen", "", "address to listen on (default: the config's server.listen, else 127.0.0.1:8080)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key the server speaks HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM)")
	eventsPath := fs.String("events", "", "event log file (file store; default <root>/"+file.EventsRelPath+")")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	maxBody := fs.Int64("max-body", httpapi.DefaultMaxBodyBytes, "request body limit in bytes")
	readTimeout := fs.Duration("read-timeout", httpapi.DefaultReadTimeout, "limit for reading a request")
	writeTimeout := fs.Duration("write-timeout", httpapi.DefaultWriteTimeout, "limit for writing a response (event streams are exempt)")
	idleTimeout := fs.Duration("idle-timeout", httpapi.DefaultIdleTimeout, "keep-alive idle limit")
	shutdownTimeout := fs.Duration("shutdown-timeout", httpapi.DefaultShutdownTimeout, "limit for finishing in-flight requests on shutdown")
	eventsMaxAge := fs.Duration("events-max-age", 0, "remove events older than this (config server.events_max_age; 0: keep any age)")
	eventsMaxCount := fs.Int64("events-max-count", 0, "keep at most this many newest events (config server.events_max_count; 0: any number)")
	compactEvery := fs.Duration("events-compact-every", 0, "how often the retention is applied (config server.events_compact_every; default 10m)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("serve: unexpected arguments %v", fs.Args())
	}
	serverProcs()
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	log, err := newLogger(m.Stderr, *logLevel, *logFormat)
	if err != nil {
		return usageErr("serve: %v", err)
	}
	addr := cfg.Server.Listen
	if *listen != "" {
		addr = *listen
	}
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ret, every, err := eventRetention(cfg.Server, fs, *eventsMaxAge, *eventsMaxCount, *compactEvery)
	if err != nil {
		return m.refuse(cfg, err)
	}
	cert, key := cfg.Server.TLSCert, cfg.Server.TLSKey
	if *tlsCert != "" || *tlsKey != "" {
		cert, key = *tlsCert, *tlsKey
	}
	if (cert == "") != (key == "") {
		return usageErr("serve: --tls-cert and --tls-key go together")
	}

	cfg.Logger = log
	if err := ensureRoot(cfg); err != nil {
		return m.refuse(cfg, err)
	}
	met := httpapi.NewMetrics()
	if *eventsPath == "" {
		*eventsPath = cfg.Events
	}
	st, err := openServeStores(ctx, cfg, log, met, *eventsPath)
	if err != nil {
		return m.refuse(cfg, err)
	}
	tokens := make([]httpapi.Token, 0, len(cfg.Server.Tokens))
	for _, t := range cfg.Server.Tokens {
		tokens = append(tokens, httpapi.Token{TokenSHA256: t.TokenSHA256, Principal: t.Principal, Role: httpapi.Role(t.Role), CollectorKey: t.CollectorKey})
	}
	if len(tokens) == 0 {
		log.Warn("no tokens configured (config file server.tokens): every /v1 request will be refused 401")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		st.close(log)
		return m.refuse(cfg, settle.Wrap(settle.InvalidInput, err, "root"))
	}
	srv, err := httpapi.New(httpapi.Options{
		Ledger:          st.ledger,
		Scenes:          st.scenes,
		Events:          st.events,
		Config:          cfg.WritebackConfig(),
		Root:            root,
		Tokens:          tokens,
		TLSCert:         cert,
		TLSKey:          key,
		Logger:          log,
		Metrics:         met,
		LedgerStats:     st.stats,
		Health:          st.health,
		MaxBodyBytes:    *maxBody,
		ReadTimeout:     *readTimeout,
		WriteTimeout:    *writeTimeout,
		IdleTimeout:     *idleTimeout,
		ShutdownTimeout: *shutdownTimeout,
		FollowPoke:      st.poke,
		SceneFollow:     st.sceneFollow,
		ScenePoke:       st.scenePoke,
		Retention:       ret,
		CompactEvery:    every,
	})
	if err != nil {
		st.close(log)
		return m.refuse(cfg, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		st.close(log)
		return m.refuse(cfg, settle.Wrap(settle.Unavailable, err, "listen on %s", addr))
	}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	fmt.Fprintf(m.Stdout, "listening on %s (%s://%s)\n", ln.Addr(), scheme, ln.Addr())
	serr := srv.Serve(ctx, ln)
	cerr := st.close(log)
	if serr != nil {
		return m.refuse(cfg, settle.Wrap(settle.Internal, serr, "serve"))
	}
	if cerr != nil {
		return m.refuse(cfg, cerr)
	}
	return nil
}

// newLogger returns a structured logger on w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// serveStores are the stores a server runs on.
type serveStores struct {
	ledger writeback.Store
	scenes scene.Store
	events event.Log
	// poke delivers when the ledger file changes (nil: polling alone).
	poke <-chan struct{}
	// sceneFollow reads the scene files (rows on PostgreSQL) that other
	// writers write, and scenePoke delivers when they change (nil: none,
	// or polling alone).
	sceneFollow derive.SceneSource
	scenePoke   <-chan struct{}
	stats       func() httpapi.LedgerStats
	health      func() error
	closers     []io.Closer
}

// close closes every store once, logging and returning the first error.
func (s *serveStores) close(log *slog.Logger) error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil {
			log.Error("close store", "err", err)
			if first == nil {
				first = err
			}
		}
	}
	s.closers = nil
	return first
}

// openServeStores opens the configured stores: the file ledger, scenes
// and event log under the root, or one PostgreSQL store for all three.
func openServeStores(ctx context.Context, cfg *Config, log *slog.Logger, met *httpapi.Metrics, eventsPath string) (*serveStores, error) {
	if strings.HasPrefix(cfg.Store, "postgres://") || strings.HasPrefix(cfg.Store, "postgresql://") {
		if eventsPath != "" {
			return nil, settle.Errorf(settle.InvalidInput, "--events is for the file store; the PostgreSQL store keeps its events in the database")
		}
		pg, err := postgres.Open(ctx, postgres.Options{URL: cfg.Store, Config: cfg.WritebackConfig(), Logger: log})
		if err != nil {
			return nil, err
		}
		// Every server follows the scene rows: the event of a write whose
		// writer died before it is derived by one of them, once (keyed).
		return &serveStores{ledger: pg, scenes: pg, events: pg, closers: []io.Closer{pg}, sceneFollow: pg.SceneScanner(),
			health: func() error {
				// /readyz: the database must answer.
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := pg.Ping(pctx); err != nil {
					return fmt.Errorf("postgres: %w", err)
				}
				return nil
			}}, nil
	}
	return openFileStores(cfg.Root, cfg.LedgerPath(), eventsPath, cfg.WritebackConfig(), cfg.LockWait(), cfg.Server.EventsSegmentEvents, log, met)
}

// openFileStores opens the file ledger, scene store and event log.
func openFileStores(root, ledgerPath, eventsPath string, wcfg writeback.Config, lockTimeout time.Duration, segmentEvents int, log *slog.Logger, met *httpapi.Metrics) (*serveStores, error) {
	led, err := file.OpenLedger(file.LedgerOptions{Root: root, LedgerPath: ledgerPath, Config: wcfg, Logger: log, LockTimeout: lockTimeout})
	if err != nil {
		return nil, err
	}
	sc, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: log, LockTimeout: lockTimeout})
	if err != nil {
		led.Close()
		return nil, err
	}
	ev, err := file.OpenEvents(file.EventsOptions{Root: root, Path: eventsPath, Logger: log, OnCommit: met.ObserveEventCommit, LockTimeout: lockTimeout, SegmentEvents: segmentEvents})
	if err != nil {
		led.Close()
		sc.Close()
		return nil, err
	}
	closers := []io.Closer{led, sc, ev}
	poke, w, err := watchFile(led.Path(), log)
	if err != nil {
		log.Warn("no file-change notification for the ledger; other writers' records are picked up by polling", "err", err)
	} else {
		closers = append(closers, w)
	}
	scan := sc.Scanner()
	scenePoke, sw, err := watchDirs(sc.ProjectsDir(), log)
	if err != nil {
		log.Warn("no file-change notification for the scene files; other writers' saves are picked up by polling", "err", err)
	} else {
		closers = append(closers, sw)
		scan.OnDir = sw.add
	}
	return &serveStores{
		ledger:      led,
		scenes:      sc,
		events:      ev,
		poke:        poke,
		sceneFollow: scan,
		scenePoke:   scenePoke,
		closers:     closers,
		stats:       func() httpapi.LedgerStats { return ledgerStats(led.Stats()) },
		health: func() error {
			var errs []error
			if led.Stats().Poisoned {
				errs = append(errs, errors.New("the ledger refuses writes after a failed write or fsync: restart the server"))
			}
			if ev.Stats().Poisoned {
				errs = append(errs, errors.New("the event log refuses appends after a failed write or fsync: restart the server"))
			}
			return errors.Join(errs...)
		},
	}, nil
}

// ledgerStats adapts the file ledger's counters for /metrics.
func ledgerStats(s file.Stats) httpapi.LedgerStats {
	out := httpapi.LedgerStats{
		Records:         map[string]int64{},
		IndexBytes:      s.IndexBytes,
		Fsyncs:          s.Fsyncs,
		FsyncErrors:     s.FsyncErrors,
		LastFsync:       s.LastFsync,
		GroupBuckets:    file.GroupSizeBuckets[:],
		GroupCounts:     s.GroupSizes,
		GroupedRequests: s.GroupedRequests,
		TornRepairs:     s.TornRepairs,
		Poisoned:        s.Poisoned,
	}
	for k, n := range s.Records {
		out.Records[string(k)] = n
	}
	return out
}

// waitReady polls a server's /readyz until it answers 200 or the limit passes.
func waitReady(ctx context.Context, c *httpapi.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := c.Ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// watchFile returns a channel that delivers (coalesced) when path is
// written, created or replaced, from a file-change notification on its
// directory, and the watcher to close.
func watchFile(path string, log *slog.Logger) (<-chan struct{}, io.Closer, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, err
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, nil, err
	}
	name := filepath.Clean(path)
	poke := pokeOn(w, log, "ledger", func(ev fsnotify.Event) bool {
		return filepath.Clean(ev.Name) == name && ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename)
	})
	return poke, w, nil
}

// dirWatcher is a file-change notification on a set of directories that
// grows as the scene follower finds scenes directories.
type dirWatcher struct {
	w     *fsnotify.Watcher
	log   *slog.Logger
	added map[string]bool // touched only by the follower's goroutine
}

// add watches dir (once).
func (d *dirWatcher) add(dir string) {
	if d.added[dir] {
		return
	}
	if err := d.w.Add(dir); err != nil {
		d.log.Debug("watch scenes directory", "dir", dir, "err", err)
		return
	}
	d.added[dir] = true
}

func (d *dirWatcher) Close() error { return d.w.Close() }

// watchDirs returns a channel that delivers (coalesced) when a file in a
// watched directory changes: first the projects directory (when it
// exists: a new project's scenes directory is found by polling), then
// every directory given to add.
func watchDirs(projects string, log *slog.Logger) (<-chan struct{}, *dirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, err
	}
	d := &dirWatcher{w: w, log: log, added: map[string]bool{}}
	d.add(projects)
	poke := pokeOn(w, log, "scene", func(fsnotify.Event) bool { return true })
	return poke, d, nil
}

// pokeOn returns a channel that delivers (coalesced) each event of w that
// keep accepts; w's errors are logged as what's notification errors. It
// ends when w is closed.
func pokeOn(w *fsnotify.Watcher, log *slog.Logger, what string, keep func(fsnotify.Event) bool) <-chan struct{} {
	poke := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !keep(ev) {
					continue
				}
				select {
				case poke <- struct{}{}:
				default:
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn(what+" file-change notification", "err", err)
			}
		}
	}()
	return poke
}

// eventRetention resolves the event retention: a flag over the config.
func eventRetention(sc ServerConfig, fs *flag.FlagSet, maxAge time.Duration, maxCount int64, every time.Duration) (event.Retention, time.Duration, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	dur := func(name, text string) (time.Duration, error) {
		if text == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return 0, settle.Errorf(settle.InvalidInput, "config server.%s %q: want a duration like \"720h\"", name, text)
		}
		return d, nil
	}
	var r event.Retention
	var err error
	if r.MaxAge, err = dur("events_max_age", sc.EventsMaxAge); err != nil {
		return r, 0, err
	}
	if every, err = func() (time.Duration, error) {
		if set["events-compact-every"] {
			return every, nil
		}
		return dur("events_compact_every", sc.EventsCompactEvery)
	}(); err != nil {
		return r, 0, err
	}
	r.MaxEvents = sc.EventsMaxCount
	if set["events-max-age"] {
		r.MaxAge = maxAge
	}
	if set["events-max-count"] {
		r.MaxEvents = maxCount
	}
	if r.MaxAge < 0 || r.MaxEvents < 0 || every < 0 {
		return r, 0, settle.Errorf(settle.InvalidInput, "event retention: negative age, count or interval")
	}
	return r, every, nil
}
