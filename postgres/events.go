package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
)

// MaxEventData bounds an event's JSON data (the file event log bounds its
// lines alike).
const MaxEventData = 1 << 20

// Append implements event.Log: the event gets the next id in its group's
// transaction (event_head is locked until commit, so ids commit in order
// and a reader never misses an event committed after one with a higher
// id) and a NOTIFY tells every server's listener. Errors: InvalidInput (empty
// type, data not JSON or over MaxEventData), Unavailable.
func (s *Store) Append(ctx context.Context, typ string, data any) (event.Event, error) {
	ev, _, err := s.appendEvent(ctx, "", typ, data)
	return ev, err
}

// AppendOnce implements event.Log: the key is checked in the group's
// transaction under the event_head lock, so of concurrent callers on any
// servers exactly one appends. Errors: InvalidInput (empty key or type, data not JSON).
func (s *Store) AppendOnce(ctx context.Context, key, typ string, data any) (event.Event, bool, error) {
	if key == "" {
		return event.Event{}, false, settle.Errorf(settle.InvalidInput, "append once: empty key")
	}
	// No read before the group: its transaction reads the keys it
	// names under the head lock, so a key that exists (or was removed by
	// the retention) costs no extra round trip either way.
	return s.appendEvent(ctx, key, typ, data)
}

// ecall is one event append waiting for a group commit.
type ecall struct {
	key, typ string
	data     json.RawMessage

	ev       event.Event
	appended bool
	err      error
	posted   bool // no caller waits (PostOnce): a failure is logged
}

var _ event.Poster = (*Store)(nil)

// PostOnce implements event.Poster: the keyed event is queued for the
// event log's next group commit and PostOnce returns without waiting for
// it. The queue is first in, first out with one group at a time, so an
// event appended after PostOnce returns gets a greater id. If the group's
// transaction fails, or the process dies first, the event is lost (a
// failure is logged): post only events derived from a record that is
// already durable, which a reconciliation re-creates. Close commits what
// is queued. Errors: InvalidInput (empty key or type, data not JSON or over
// MaxEventData), Unavailable.
func (s *Store) PostOnce(ctx context.Context, key, typ string, data any) error {
	if key == "" {
		return settle.Errorf(settle.InvalidInput, "post event: empty key")
	}
	if typ == "" {
		return settle.Errorf(settle.InvalidInput, "post event: empty type")
	}
	raw, err := event.EncodeData(data)
	if err != nil {
		return err
	}
	if len(raw) > MaxEventData {
		return settle.Errorf(settle.InvalidInput, "event data of %d bytes exceeds %d", len(raw), MaxEventData)
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	s.eq.Post(&ecall{key: key, typ: typ, data: raw, posted: true})
	return nil
}

func (s *Store) appendEvent(ctx context.Context, key, typ string, data any) (event.Event, bool, error) {
	if typ == "" {
		return event.Event{}, false, settle.Errorf(settle.InvalidInput, "append event: empty type")
	}
	raw, err := event.EncodeData(data)
	if err != nil {
		return event.Event{}, false, err
	}
	if len(raw) > MaxEventData {
		return event.Event{}, false, settle.Errorf(settle.InvalidInput, "event data of %d bytes exceeds %d", len(raw), MaxEventData)
	}
	if err := s.usable(ctx); err != nil {
		return event.Event{}, false, err
	}
	c := &ecall{key: key, typ: typ, data: raw}
	if err := s.eq.Submit(ctx, c); err != nil {
		return event.Event{}, false, err
	}
	return c.ev, c.appended, c.err
}

// insertEvents writes the events of an eventRows.
const insertEvents = `INSERT INTO events (id, type, time, key, data)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::bytea[])`

// eventRows are events as the column arrays of insertEvents.
type eventRows struct {
	ids   []int64
	types []string
	keys  []*string
	times []time.Time
	datas [][]byte
}

// add appends one event; an empty *key is stored as NULL.
func (r *eventRows) add(id int64, typ string, key *string, t time.Time, data []byte) {
	if *key == "" {
		key = nil
	}
	r.ids, r.types, r.keys = append(r.ids, id), append(r.types, typ), append(r.keys, key)
	r.times, r.datas = append(r.times, t), append(r.datas, data)
}

// args are insertEvents' arguments.
func (r *eventRows) args() []any { return []any{r.ids, r.types, r.times, r.keys, r.datas} }

// EventGroupStats returns a snapshot of the event log's group commit
// counters.
func (s *Store) EventGroupStats() GroupStats { return groupStats(s.eq.Stats()) }

// commitEvents appends a group of events in one transaction: event_head
// is locked (so ids commit in order, without gaps), keys already in the
// log or earlier in the group are answered with their event, the others
// get the next ids, and one NOTIFY carries the last id.
func (s *Store) commitEvents(group []*ecall) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	var last int64
	appended := false
	err := s.writeTx(ctx, "append events", func(tx pgx.Tx) error {
		appended = false
		for _, c := range group {
			c.ev, c.appended, c.err = event.Event{}, false, nil
		}
		var keys []string
		for _, c := range group {
			if c.key != "" {
				keys = append(keys, c.key)
			}
		}
		// One round trip: lock the head, then read the keyed events the
		// group names (under the lock, so no other server appends one
		// meanwhile).
		b := &pgx.Batch{}
		b.Queue("SELECT last_id FROM event_head WHERE id = 1 FOR UPDATE")
		var hashes [][]byte
		if len(keys) > 0 {
			b.Queue("SELECT id, type, time, key, data FROM events WHERE key = ANY($1)", keys)
			for _, k := range keys {
				h := event.KeyHash(k)
				hashes = append(hashes, h[:])
			}
			b.Queue("SELECT hash FROM event_removed_keys WHERE hash = ANY($1)", hashes)
		}
		br := tx.SendBatch(ctx, b)
		if err := br.QueryRow().Scan(&last); err != nil {
			br.Close()
			return err
		}
		byKey := map[string]event.Event{}
		if len(keys) > 0 {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			for rows.Next() {
				ev, err := scanEvent(rows)
				if err != nil {
					rows.Close()
					br.Close()
					return err
				}
				byKey[ev.Key] = ev
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				br.Close()
				return err
			}
			removed, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			gone := map[string]bool{}
			for removed.Next() {
				var h []byte
				if err := removed.Scan(&h); err != nil {
					removed.Close()
					br.Close()
					return err
				}
				gone[string(h)] = true
			}
			removed.Close()
			if err := removed.Err(); err != nil {
				br.Close()
				return err
			}
			for i, k := range keys {
				if _, ok := byKey[k]; !ok && gone[string(hashes[i])] {
					byKey[k] = event.Event{Key: k}
				}
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		var rows eventRows
		for _, c := range group {
			if c.key != "" {
				if ev, ok := byKey[c.key]; ok {
					c.ev = ev
					if ev.ID == 0 {
						c.ev.Type = c.typ // removed by the retention
					}
					continue
				}
			}
			last++
			c.ev = event.Event{ID: last, Type: c.typ, Time: now, Key: c.key, Data: c.data}
			c.appended = true
			if c.key != "" {
				byKey[c.key] = c.ev
			}
			rows.add(last, c.typ, &c.key, now, c.data)
		}
		if len(rows.ids) == 0 {
			return nil
		}
		// One round trip: insert, move the head, notify (delivered at
		// commit).
		b = &pgx.Batch{}
		b.Queue(insertEvents, rows.args()...)
		b.Queue("UPDATE event_head SET last_id = $1 WHERE id = 1", last)
		b.Queue("SELECT pg_notify($1, $2)", s.channel(), strconv.FormatInt(last, 10))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		appended = true
		return nil
	})
	if err != nil {
		for _, c := range group {
			c.ev, c.appended, c.err = event.Event{}, false, err
			if c.posted {
				s.log.Error("posted event lost: the reconciliation re-creates it", "key", c.key, "type", c.typ, "err", err)
			}
		}
		return
	}
	if appended {
		s.lmu.Lock()
		l := s.listener
		s.lmu.Unlock()
		if l != nil {
			l.seen(last)
		}
	}
}

func scanEvent(row pgx.Row) (event.Event, error) {
	var ev event.Event
	var key *string
	var data []byte
	if err := row.Scan(&ev.ID, &ev.Type, &ev.Time, &key, &data); err != nil {
		return event.Event{}, err
	}
	ev.Time = ev.Time.UTC()
	if key != nil {
		ev.Key = *key
	}
	ev.Data = data
	return ev, nil
}

// Since implements event.Log: up to limit (<= 0: 100) events with
// ID > after, in order.
func (s *Store) Since(ctx context.Context, after int64, limit int) ([]event.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	if after < 0 {
		after = 0
	}
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	// One round trip: the retention floor, then the events.
	b := &pgx.Batch{}
	b.Queue("SELECT floor FROM event_head WHERE id = 1")
	b.Queue("SELECT id, type, time, key, data FROM events WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	var floor int64
	if err := br.QueryRow().Scan(&floor); err != nil {
		return nil, s.fail(err, "read event floor")
	}
	if after < floor {
		return nil, event.CompactedError(after, floor)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, s.fail(err, "read events")
	}
	defer rows.Close()
	var out []event.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, s.fail(err, "read events")
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read events")
	}
	return out, nil
}

// LastEventID returns the id of the last committed event (0 for none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	return queryValue[int64](ctx, s, "SELECT last_id FROM event_head WHERE id = 1", "read event head")
}

// Wait implements event.Log: the channel is closed when an event with
// ID > after exists, appended by this store or by any other server (the
// store's listener LISTENs on the schema's channel and re-reads the head
// every EventPoll as a safety net), when ctx ends or when the store is
// closed.
func (s *Store) Wait(ctx context.Context, after int64) <-chan struct{} {
	ch := make(chan struct{})
	l := s.getListener()
	if l == nil { // closed
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		event.WaitUntil(ctx, s.done, l.notifier, func() bool { return l.latest.Load() > after })
	}()
	return ch
}

func (s *Store) getListener() *listener {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed.Load() {
		return nil
	}
	if s.listener == nil {
		s.listener = newListener(s)
	}
	return s.listener
}

// ListenerApplicationName is the application_name of a store's LISTEN
// connection (to find it in pg_stat_activity).
func ListenerApplicationName(schema string) string { return "settle listener " + schema }

// listener follows the event head: a dedicated connection LISTENs on the
// store's channel; every notification, and a poll of event_head every
// EventPoll, raises latest and wakes the waiters.
type listener struct {
	s      *Store
	latest atomic.Int64

	mu     sync.Mutex
	notify chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func newListener(s *Store) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, notify: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	// Start from the head, so that Wait(after) with an old cursor returns
	// at once.
	if last, err := s.LastEventID(ctx); err == nil {
		l.latest.Store(last)
	}
	go l.run(ctx)
	return l
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
	l.wake()
}

func (l *listener) notifier() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notify
}

func (l *listener) wake() {
	l.mu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// seen raises latest to id and wakes the waiters if it grew.
func (l *listener) seen(id int64) {
	for {
		cur := l.latest.Load()
		if id <= cur {
			return
		}
		if l.latest.CompareAndSwap(cur, id) {
			l.wake()
			return
		}
	}
}

func (l *listener) poll(ctx context.Context, q querier) error {
	var last int64
	if err := q.QueryRow(ctx, "SELECT last_id FROM event_head WHERE id = 1").Scan(&last); err != nil {
		return err
	}
	l.seen(last)
	return nil
}

// run keeps a LISTEN connection open, reconnecting with backoff; while it
// is down, the head is polled through the pool.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.s.log.Warn("event listener connection lost; reconnecting", "err", err, "backoff", backoff)
		if perr := l.poll(ctx, l.s.pool); perr != nil && ctx.Err() == nil {
			l.s.log.Warn("event head poll failed", "err", perr)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, l.s.poll)
	}
}

// listen runs one LISTEN connection until it fails or ctx ends.
func (l *listener) listen(ctx context.Context) error {
	cfg := l.s.connCf.Copy()
	cfg.RuntimeParams["application_name"] = ListenerApplicationName(l.s.schema)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.s.channel()}.Sanitize()); err != nil {
		return err
	}
	// Events committed before LISTEN took effect are found by this read.
	if err := l.poll(ctx, conn); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, l.s.poll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if id, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil {
				l.seen(id)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil:
			if err := l.poll(ctx, conn); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// Floor implements event.Floorer: the id of the last event a compaction
// removed (0: none).
func (s *Store) Floor(ctx context.Context) (int64, error) {
	return queryValue[int64](ctx, s, "SELECT floor FROM event_head WHERE id = 1", "read event floor")
}

// Compact implements event.Compactor, in one transaction under the event
// head's lock (appends wait): events the retention no longer keeps are
// deleted, and the hashes of their keys kept (event_removed_keys), so
// their keys stay taken.
func (s *Store) Compact(ctx context.Context, r event.Retention) (event.CompactResult, error) {
	if r.MaxAge < 0 || r.MaxEvents < 0 {
		return event.CompactResult{}, settle.Errorf(settle.InvalidInput, "retention: negative age or count")
	}
	if err := s.usable(ctx); err != nil {
		return event.CompactResult{}, err
	}
	var res event.CompactResult
	err := s.writeTx(ctx, "compact events", func(tx pgx.Tx) error {
		var last, floor int64
		if err := tx.QueryRow(ctx, "SELECT last_id, floor FROM event_head WHERE id = 1 FOR UPDATE").Scan(&last, &floor); err != nil {
			return err
		}
		next := floor
		if r.MaxEvents > 0 && last-r.MaxEvents > next {
			next = last - r.MaxEvents
		}
		if r.MaxAge > 0 {
			cutoff := s.now().Add(-r.MaxAge)
			var young *int64
			if err := tx.QueryRow(ctx, "SELECT min(id) FROM events WHERE id > $1 AND time >= $2", floor, cutoff).Scan(&young); err != nil {
				return err
			}
			byAge := last
			if young != nil {
				byAge = *young - 1
			}
			next = max(next, byAge)
		}
		res = event.CompactResult{Floor: floor, Retained: last - floor}
		if next <= floor {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO event_removed_keys (hash)
			SELECT substring(sha256(convert_to(key, 'UTF8')) from 1 for 16) FROM events
			WHERE id > $1 AND id <= $2 AND key IS NOT NULL ON CONFLICT DO NOTHING`, floor, next)
		b.Queue("DELETE FROM events WHERE id > $1 AND id <= $2", floor, next)
		b.Queue("UPDATE event_head SET floor = $1 WHERE id = 1", next)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		res = event.CompactResult{Floor: next, Removed: next - floor, Retained: last - next}
		return nil
	})
	if err != nil {
		return event.CompactResult{}, err
	}
	return res, nil
}

var _ event.Compactor = (*Store)(nil)

// State implements event.Porter.
func (s *Store) State(ctx context.Context) (event.LogState, error) {
	if err := s.usable(ctx); err != nil {
		return event.LogState{}, err
	}
	var st event.LogState
	if err := s.pool.QueryRow(ctx, "SELECT floor, last_id FROM event_head WHERE id = 1").Scan(&st.Floor, &st.Last); err != nil {
		return st, s.fail(err, "read event head")
	}
	var h []byte
	err := s.eachRow(ctx, "read removed event keys", "SELECT hash FROM event_removed_keys ORDER BY hash", []any{&h}, func() error {
		st.RemovedKeys = append(st.RemovedKeys, [16]byte(h))
		return nil
	})
	return st, err
}

// Import implements event.Porter, in one transaction, into an empty log.
func (s *Store) Import(ctx context.Context, st event.LogState, evs []event.Event) error {
	if st.Floor < 0 || st.Last < st.Floor {
		return settle.Errorf(settle.InvalidInput, "import events: floor %d, last %d", st.Floor, st.Last)
	}
	if err := s.usable(ctx); err != nil {
		return err
	}
	return s.writeTx(ctx, "import events", func(tx pgx.Tx) error {
		var last, floor, removed int64
		if err := tx.QueryRow(ctx, "SELECT last_id, floor, (SELECT count(*) FROM event_removed_keys) FROM event_head WHERE id = 1 FOR UPDATE").Scan(&last, &floor, &removed); err != nil {
			return err
		}
		prev := st.Floor
		if last != 0 || floor != 0 || removed != 0 {
			// A catch-up: the log holds a prefix of the imported one.
			if floor != st.Floor || removed != int64(len(st.RemovedKeys)) || last > st.Last || (len(evs) > 0 && evs[0].ID <= last) {
				return settle.Errorf(settle.InvalidInput, "import events: the event log is not empty and not a prefix of the imported one")
			}
			prev = last
		}
		for start := 0; start < len(evs); start += 1000 {
			chunk := evs[start:min(start+1000, len(evs))]
			var rows eventRows
			for _, ev := range chunk {
				if ev.ID <= prev || ev.ID > st.Last {
					return settle.Errorf(settle.InvalidInput, "import events: event %d out of order or beyond %d", ev.ID, st.Last)
				}
				prev = ev.ID
				raw, err := event.EncodeData(ev.Data)
				if err != nil {
					return err
				}
				rows.add(ev.ID, ev.Type, &ev.Key, ev.Time.UTC().Truncate(time.Microsecond), raw)
			}
			if _, err := tx.Exec(ctx, insertEvents, rows.args()...); err != nil {
				return err
			}
		}
		if len(st.RemovedKeys) > 0 {
			hs := make([][]byte, len(st.RemovedKeys))
			for i := range st.RemovedKeys {
				hs[i] = st.RemovedKeys[i][:]
			}
			if _, err := tx.Exec(ctx, "INSERT INTO event_removed_keys (hash) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING", hs); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE event_head SET last_id = $1, floor = $2 WHERE id = 1", st.Last, st.Floor)
		return err
	})
}

var _ event.Porter = (*Store)(nil)
