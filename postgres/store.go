package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Options configures Open.
type Options struct {
	// URL is the connection string, postgres://user:pass@host:port/db?...
	// (any form pgx accepts). A search_path parameter in it selects the
	// schema when Schema is empty.
	URL string
	// Schema is the schema that holds settle's tables; it is created if
	// missing. "" = the URL's search_path, else the server's default
	// (usually public). It must be a plain lower-case identifier.
	Schema string
	// Config is the write-back domain configuration (collector keys,
	// default chat id).
	Config writeback.Config
	// Logger receives migrations, listener reconnects and failures
	// (nil = slog.Default()).
	Logger *slog.Logger
	// MaxConns caps the connection pool (0 = pgx's default, max(4, CPUs)).
	MaxConns int32
	// EventPoll is how often Wait re-reads the event head when no
	// notification arrives (a safety net for a lost LISTEN connection;
	// 0 = DefaultEventPoll).
	EventPoll time.Duration
}

// DefaultEventPoll is the event listener's safety-net poll interval.
const DefaultEventPoll = 2 * time.Second

// Store is the PostgreSQL store: it implements writeback.Store,
// scene.Store and event.Log on one connection pool. Any number of Stores,
// in any number of processes and servers, may share one database (and
// schema): every decision is made inside a transaction that holds the
// locks described in the package documentation.
type Store struct {
	pool   *pgxpool.Pool
	connCf *pgx.ConnConfig // for the LISTEN connection
	schema string          // effective schema (lock and channel namespace)
	cfg    writeback.Config
	log    *slog.Logger
	now    func() time.Time
	poll   time.Duration

	closed   atomic.Bool
	done     chan struct{} // closed by Close
	closeMu  sync.Mutex
	lmu      sync.Mutex
	listener *listener

	lq *durable.GroupCommitter[*lcall, struct{}] // ledger appends (ledger_group.go)
	eq *durable.GroupCommitter[*ecall, struct{}] // event appends (events.go)
	sq *durable.GroupCommitter[*scall, struct{}] // scene status saves (scene_group.go)
}

var (
	_ writeback.Store  = (*Store)(nil)
	_ scene.Store      = (*Store)(nil)
	_ scene.CondWriter = (*Store)(nil)
	_ event.Log        = (*Store)(nil)
)

// isIdent reports whether s is a plain lower-case SQL identifier:
// [a-z_][a-z0-9_]{0,62}. (A loop, not a regexp: a regexp compiled at
// package init costs every command of the binary about a millisecond.)
func isIdent(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Open connects to the database, creates the schema if needed and applies
// the embedded migrations (under a lock, so several servers may start at
// once). Errors: InvalidInput (a malformed URL or schema name), Unavailable
// (the database cannot be reached), Corrupt (the schema's migrations do
// not match this binary's), Internal.
func Open(ctx context.Context, opts Options) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, errors.New(redact(err.Error())), "postgres url")
	}
	schema := opts.Schema
	if schema == "" {
		if sp := strings.TrimSpace(pcfg.ConnConfig.RuntimeParams["search_path"]); sp != "" && isIdent(sp) {
			schema = sp
		}
	}
	if schema != "" {
		if !isIdent(schema) {
			return nil, settle.Errorf(settle.InvalidInput, "schema %q is not a plain lower-case identifier", schema)
		}
		pcfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	if opts.MaxConns > 0 {
		pcfg.MaxConns = opts.MaxConns
	}
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "settle"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	poll := opts.EventPoll
	if poll <= 0 {
		poll = DefaultEventPoll
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, settle.Wrap(settle.Unavailable, errors.New(redact(err.Error())), "connect to postgres")
	}
	s := &Store{
		pool:   pool,
		connCf: pcfg.ConnConfig.Copy(),
		schema: schema,
		cfg:    opts.Config,
		log:    log.With("store", "postgres"),
		now:    time.Now,
		poll:   poll,
		done:   make(chan struct{}),
	}
	s.lq = newGroupQueue(s.commitGroup, groupDepth)
	s.eq = newGroupQueue(s.commitEvents, 1) // the head lock comes first: a second group would only wait
	s.sq = newGroupQueue(s.commitScenes, groupDepth)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if s.schema == "" {
		var cur *string
		if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
			pool.Close()
			return nil, s.fail(err, "read current schema")
		}
		if cur != nil {
			s.schema = *cur
		}
	}
	return s, nil
}

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	return s.fail(s.pool.Ping(ctx), "ping postgres")
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Pool returns the store's connection pool (for diagnostics and tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close commits the posted events, stops the event listener and closes
// the pool. It is idempotent; every operation after it returns
// UNAVAILABLE.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Load() {
		return nil
	}
	// Posted events are committed while the store is still usable.
	if !s.eq.DrainTimeout(groupTimeout) {
		s.log.Error("posted events not committed before close")
	}
	s.closed.Store(true)
	close(s.done)
	s.lmu.Lock()
	l := s.listener
	s.lmu.Unlock()
	if l != nil {
		l.stop()
	}
	s.pool.Close()
	return nil
}

// usable refuses operations on a closed store or with a done context.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return settle.Errorf(settle.Unavailable, "postgres store is closed")
	}
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "postgres store")
	}
	return nil
}

// lockKey is the advisory lock key of a named resource in this store's
// schema: the first 8 bytes of sha256(schema NUL part NUL part ...).
func (s *Store) lockKey(parts ...string) int64 {
	h := sha256.New()
	h.Write([]byte(s.schema))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)[:8]))
}

// channel is the NOTIFY channel of this store's event log.
func (s *Store) channel() string {
	sum := sha256.Sum256([]byte("settle-events\x00" + s.schema))
	return "settle_events_" + hex.EncodeToString(sum[:8])
}

// fail maps a database error to a coded error with context. An error
// already carrying a code keeps it.
func (s *Store) fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var se *settle.Error
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return settle.Wrap(classify(err), err, "%s", msg)
}

// eachRow runs a query on an open store and, for each row, scans it into
// dst and calls fn (a []byte in dst gets a new slice each row, which fn
// may keep). A failed query or scan is s.fail(err, what); fn's error is
// returned as is.
func (s *Store) eachRow(ctx context.Context, what, sql string, dst []any, fn func() error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return s.fail(err, "%s", what)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return s.fail(err, "%s", what)
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return s.fail(rows.Err(), "%s", what)
}

// queryValue reads the one value of a one-row query on an open store;
// what says what failed.
func queryValue[T any](ctx context.Context, s *Store, sql, what string) (T, error) {
	var v T
	if err := s.usable(ctx); err != nil {
		return v, err
	}
	if err := s.pool.QueryRow(ctx, sql).Scan(&v); err != nil {
		var zero T
		return zero, s.fail(err, "%s", what)
	}
	return v, nil
}

// classify gives the code of a database error: UNAVAILABLE for a done
// context, a lost connection, or a server that refuses work; INTERNAL for
// anything else.
func classify(err error) settle.Code {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return settle.Unavailable
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			strings.HasPrefix(pe.Code, "57"), // operator intervention (shutdown, cancel)
			pe.Code == "40001", pe.Code == "40P01":
			return settle.Unavailable
		}
		return settle.Internal
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return settle.Unavailable
	}
	if strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "conn closed") {
		return settle.Unavailable
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return settle.Unavailable
	}
	return settle.Internal
}

// redact removes a password from a connection error message.
func redact(msg string) string {
	re := regexp.MustCompile(`(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@`)
	return re.ReplaceAllString(msg, "${1}xxxxx@")
}

// inTx runs fn in a transaction and commits it. fn's error rolls back and
// is returned as is. A failed commit is UNAVAILABLE: the outcome is
// unknown (every write of the store is idempotent or checked, so a retry
// is safe).
func (s *Store) inTx(ctx context.Context, opts pgx.TxOptions, what string, fn func(tx pgx.Tx) error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return s.fail(err, "%s: begin", what)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		var se *settle.Error
		if errors.As(err, &se) {
			return err
		}
		return s.fail(err, "%s", what)
	}
	if err := tx.Commit(ctx); err != nil {
		return settle.Wrap(settle.Unavailable, err, "%s: commit", what)
	}
	return nil
}

// writeTx runs fn in a read-committed read-write transaction.
func (s *Store) writeTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	return s.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, what, fn)
}

// readTx runs fn in a repeatable-read read-only transaction: every query
// of fn sees the same snapshot.
func (s *Store) readTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	return s.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, what, fn)
}

// xlock takes a transaction-scoped exclusive advisory lock.
func xlock(ctx context.Context, tx pgx.Tx, key int64) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key)
	return err
}
