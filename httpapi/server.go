package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = settle.MaxHTTPBodyBytes
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultHeartbeat         = 15 * time.Second
)

// Options configures a Server.
type Options struct {
	// Ledger, Scenes and Events are the stores the API serves (required).
	Ledger writeback.Store
	Scenes scene.Store
	Events event.Log
	// Config is the domain configuration (collector keys, default chat id)
	// used to extract bindings from verdict documents.
	Config writeback.Config
	// Root is the workspace root: a verdict's source_path under it is
	// recorded relative to it.
	Root string
	// Tokens are the bearer tokens and their principals.
	Tokens []Token

	// TLSCert and TLSKey, when both set, make Serve speak HTTPS.
	TLSCert, TLSKey string

	// Logger receives one line per request and the server's events
	// (nil = slog.Default()).
	Logger *slog.Logger
	// Metrics is the Prometheus registry of /metrics (nil = NewMetrics()).
	Metrics *Metrics
	// LedgerStats, if set, is read at each scrape of /metrics.
	LedgerStats func() LedgerStats
	// Health, if set, is checked by /readyz (a store refusing writes, ...).
	Health func() error

	MaxBodyBytes      int64         // request body limit (0 = DefaultMaxBodyBytes)
	ReadHeaderTimeout time.Duration // 0 = default
	ReadTimeout       time.Duration // 0 = default
	WriteTimeout      time.Duration // 0 = default; event streams are exempt
	IdleTimeout       time.Duration // 0 = default
	ShutdownTimeout   time.Duration // graceful shutdown limit (0 = default)
	Heartbeat         time.Duration // SSE comment interval (0 = default)

	// After its startup reconciliation the server follows the ledger and
	// derives the events and settlements of what other writers appended
	// (derive.Deriver.Follow): every FollowInterval (0 =
	// derive.DefaultFollowInterval) and whenever FollowPoke delivers (a
	// file-change notification). NoFollow turns it off.
	FollowInterval time.Duration
	FollowPoke     <-chan struct{}
	NoFollow       bool
	// SceneFollow, if set, is the scene store's files (the file store's
	// SceneScanner, PostgreSQL's over its rows): the server derives the
	// scene events of the bodies other tools, or writers that died before
	// their event, write there (derive.Deriver.FollowScenes), every
	// FollowInterval and whenever ScenePoke delivers. NoFollow turns it
	// off too.
	SceneFollow derive.SceneSource
	ScenePoke   <-chan struct{}

	// Retention, when set and the event log can (event.Compactor), is
	// applied every CompactEvery (0 = DefaultCompactEvery) while the
	// server runs.
	Retention    event.Retention
	CompactEvery time.Duration
}

// DefaultCompactEvery is how often a server applies its event retention.
const DefaultCompactEvery = 10 * time.Minute

// Server is settle's HTTP API over a ledger store, a scene store and an
// event log (docs/contracts.md §5, docs/server.md).
type Server struct {
	ledger writeback.Store
	scenes scene.Store
	events event.Log
	cfg    writeback.Config
	root   string
	auth   *authenticator
	log    *slog.Logger
	met    *Metrics
	opts   Options

	handler http.Handler
	ui      *uiState

	reconciled   atomic.Bool
	shutting     atomic.Bool
	streams      context.Context
	stopStreams  context.CancelFunc
	reconcileMu  sync.Mutex
	reconcileErr error

	// derive computes every write's consequences; followFrom is where the
	// ledger follower starts (set by Reconcile).
	derive     *derive.Deriver
	followFrom int64
}

// New returns a server. It does not listen: see Serve and Handler.
func New(opts Options) (*Server, error) {
	if opts.Ledger == nil || opts.Scenes == nil || opts.Events == nil {
		return nil, settle.Errorf(settle.InvalidInput, "httpapi: Ledger, Scenes and Events are required")
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return nil, settle.Errorf(settle.InvalidInput, "httpapi: TLS needs both a certificate and a key")
	}
	auth, err := newAuthenticator(opts.Tokens)
	if err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&opts.ReadTimeout, DefaultReadTimeout)
	def(&opts.WriteTimeout, DefaultWriteTimeout)
	def(&opts.IdleTimeout, DefaultIdleTimeout)
	def(&opts.ShutdownTimeout, DefaultShutdownTimeout)
	def(&opts.Heartbeat, DefaultHeartbeat)
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	s := &Server{
		ledger: opts.Ledger,
		scenes: opts.Scenes,
		events: opts.Events,
		cfg:    opts.Config,
		root:   opts.Root,
		auth:   auth,
		log:    opts.Logger,
		met:    opts.Metrics,
		opts:   opts,
	}
	s.derive, err = derive.New(derive.Options{
		Ledger: opts.Ledger, Events: opts.Events, Logger: opts.Logger,
		OnSettled: func(string) { s.met.settled.Inc() },
	})
	if err != nil {
		return nil, err
	}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	if opts.LedgerStats != nil {
		s.met.setLedgerStats(opts.LedgerStats)
	}
	s.handler = s.buildMux()
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.met }

// buildMux registers every route of routeTable, a JSON 405 for every
// known path with another method, and a JSON 404 for everything else.
func (s *Server) buildMux() http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routeTable {
		mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
		if methods[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	for _, p := range paths {
		allow := methods[p]
		sort.Strings(allow)
		mux.Handle(p, s.wrap(route{method: "*", path: p, public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return errMethod(r.Method, allow)
		}}))
	}
	s.mountUI(mux)
	mux.Handle("/", s.wrap(route{method: "*", path: "unmatched", public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		return settle.Errorf(settle.NotFound, "no route %s %s", r.Method, r.URL.Path)
	}}))
	return mux
}

// reqInfo is what the middleware knows of a request.
type reqInfo struct {
	id        string
	principal Principal
	authed    bool
	base      *slog.Logger
	log       *slog.Logger // base with the request id, made on first use
	err       error
}

// logger returns the request's logger (with its request id).
func (ri *reqInfo) logger() *slog.Logger {
	if ri.log == nil {
		ri.log = ri.base.With("request_id", ri.id)
	}
	return ri.log
}

type ctxKey struct{}

func info(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(ctxKey{}).(*reqInfo)
	return ri
}

// principalOf returns the request's authenticated principal.
func principalOf(r *http.Request) Principal {
	if ri := info(r.Context()); ri != nil {
		return ri.principal
	}
	return Principal{}
}

// requestIDKey is HeaderRequestID as Header.Get and Header.Set spell it
// in the map: indexing with it spares their canonicalization, which
// allocates a key not in canonical form, twice per request.
var requestIDKey = http.CanonicalHeaderKey(HeaderRequestID)

// requestID accepts a client's X-Request-ID of 1-64 safe characters, else
// makes one.
func requestID(r *http.Request) string {
	var id string
	if v := r.Header[requestIDKey]; len(v) > 0 {
		id = v[0]
	}
	if len(id) > 0 && len(id) <= 64 {
		ok := true
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				ok = false
				break
			}
		}
		if ok {
			return id
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and the deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the middleware of one route: request id, logging, metrics,
// panic recovery, body limit, authentication and the role check.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: requestID(r), base: s.log}
		w.Header()[requestIDKey] = []string{ri.id}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		s.met.inFlight.Inc()
		defer s.met.inFlight.Dec()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				ri.logger().Error("panic in handler", "panic", fmt.Sprint(p), "route", label)
				if sw.status == 0 {
					writeError(sw, r, settle.Errorf(settle.Internal, "internal error"))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.met.observeRequest(label, r.Method, status, d)
			s.logRequest(r, ri, label, status, sw.bytes, d)
		}()
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes)
		}
		if !rt.public {
			p, err := s.auth.authenticate(r)
			if err != nil {
				writeError(sw, r, err)
				return
			}
			ri.principal, ri.authed = p, true
			if !allowed(p.Role, rt.roles) {
				writeError(sw, r, settle.Errorf(settle.Forbidden, "principal %q (role %s) may not %s %s", p.Name, p.Role, rt.method, rt.path))
				return
			}
		}
		if err := rt.handle(s, sw, r); err != nil {
			if sw.status != 0 {
				// The response has begun (a stream): only log.
				ri.err = err
				return
			}
			writeError(sw, r, err)
		}
	})
}

// logRequest writes the request's log line: info, error for a 5xx
// refusal, info again when the client went away before the answer.
func (s *Server) logRequest(r *http.Request, ri *reqInfo, route string, status int, bytes int64, d time.Duration) {
	ctx := r.Context()
	level := slog.LevelInfo
	if ri.err != nil && status >= 500 && ctx.Err() == nil {
		level = slog.LevelError
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"method", r.Method, "route", route, "path", r.URL.Path, "status", status,
		"duration_ms", float64(d.Microseconds()) / 1000, "bytes", bytes, "remote", r.RemoteAddr}
	if ri.authed {
		attrs = append(attrs, "principal", ri.principal.Name, "role", string(ri.principal.Role))
	}
	if ri.err != nil {
		attrs = append(attrs, "code", string(settle.ErrorCode(ri.err)), "err", settle.ErrorMessage(ri.err))
	}
	if ctx.Err() != nil {
		attrs = append(attrs, "client_gone", true) // its answer is not read
	}
	ri.logger().Log(ctx, level, "request", attrs...)
}

// Serve accepts connections on ln until ctx ends, then shuts down
// gracefully: it stops accepting, ends event streams, waits for in-flight
// requests (up to ShutdownTimeout) and returns. It does not close the
// stores. Startup reconciliation runs in the background; /readyz answers
// 503 until it is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.stopStreams)
	rctx, stopReconcile := context.WithCancel(ctx)
	defer stopReconcile()
	go s.reconcileUntilDone(rctx)
	if s.opts.SceneFollow != nil && !s.opts.NoFollow {
		go s.derive.FollowScenes(rctx, s.opts.SceneFollow, s.opts.FollowInterval, s.opts.ScenePoke)
	}
	if c, ok := s.events.(event.Compactor); ok && (s.opts.Retention.MaxAge > 0 || s.opts.Retention.MaxEvents > 0) {
		go s.compactEvery(rctx, c)
	}

	errc := make(chan error, 1)
	go func() {
		if s.opts.TLSCert != "" {
			errc <- hs.ServeTLS(ln, s.opts.TLSCert, s.opts.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", s.opts.TLSCert != "")
	for _, w := range s.warnings() {
		s.log.Warn(w)
	}
	select {
	case err := <-errc:
		s.stopStreams()
		return err
	case <-ctx.Done():
	}
	s.shutting.Store(true)
	s.log.Info("shutting down: no new connections, finishing in-flight requests", "timeout", s.opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.stopStreams()
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("shut down")
	return nil
}

// reconcileUntilDone runs Reconcile, retrying on failure, until it
// succeeds or ctx ends; then it follows the ledger (derive.Deriver.Follow)
// until ctx ends, unless Options.NoFollow.
func (s *Server) reconcileUntilDone(ctx context.Context) {
	for {
		err := s.Reconcile(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if !s.opts.NoFollow {
				s.reconcileMu.Lock()
				from := s.followFrom
				s.reconcileMu.Unlock()
				s.derive.Follow(ctx, from, s.opts.FollowInterval, s.opts.FollowPoke)
			}
			return
		}
		s.log.Error("startup reconciliation failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if reason := s.notReadyReason(); reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Reason: reason, Warnings: s.warnings()})
		return nil
	}
	writeJSON(w, http.StatusOK, Health{Status: "ready", Warnings: s.warnings()})
	return nil
}

// notReadyReason says why the server is not ready ("" when it is).
func (s *Server) notReadyReason() string {
	reason := ""
	switch {
	case s.shutting.Load():
		reason = "shutting down"
	case !s.reconciled.Load():
		reason = "startup reconciliation not finished"
		s.reconcileMu.Lock()
		if s.reconcileErr != nil {
			reason += ": " + s.reconcileErr.Error()
		}
		s.reconcileMu.Unlock()
	case s.opts.Health != nil:
		if err := s.opts.Health(); err != nil {
			reason = err.Error()
		}
	}
	return reason
}

// NoCollectorKeysWarning is logged at start and shown by /readyz when no
// collector keys are configured.
const NoCollectorKeysWarning = "no collector keys are configured (collector_keys, --collector-keys or SETTLE_COLLECTOR_KEYS): every write-back will be refused as SELF_CHAIN_NO_WRITEBACK"

// warnings are the configuration problems that leave the server ready but
// refusing some requests.
func (s *Server) warnings() []string {
	if len(s.cfg.CollectorKeys) == 0 {
		return []string{NoCollectorKeysWarning}
	}
	return nil
}

// compactEvery applies the event retention until ctx ends.
func (s *Server) compactEvery(ctx context.Context, c event.Compactor) {
	every := s.opts.CompactEvery
	if every <= 0 {
		every = DefaultCompactEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := c.Compact(ctx, s.opts.Retention)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("event log compaction failed", "err", err)
		case err == nil && res.Removed > 0:
			s.log.Info("event log compacted", "floor", res.Floor, "removed", res.Removed, "retained", res.Retained)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
