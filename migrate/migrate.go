package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/writeback"
)

// LedgerSide is what a migration reads and writes of a ledger store.
type LedgerSide interface {
	Records(ctx context.Context, q writeback.RecordQuery) (writeback.RecordPage, error)
	ImportRecords(ctx context.Context, start int64, lines [][]byte) error
	WalkBatchFiles(ctx context.Context, fn func(batchID string, data []byte) error) error
	PutBatchFile(ctx context.Context, batchID string, data []byte) error
	WalkSummaryFiles(ctx context.Context, fn func(batchID string, data []byte) error) error
	PutSummaryFile(ctx context.Context, batchID string, data []byte) (bool, error)
}

// SceneSide is what a migration reads and writes of a scene store.
type SceneSide interface {
	WalkSceneFiles(ctx context.Context, fn func(project, name string, data []byte) error) error
	PutSceneFile(ctx context.Context, project, name string, data []byte) error
}

var (
	_ LedgerSide = (*file.Ledger)(nil)
	_ LedgerSide = (*postgres.Store)(nil)
	_ SceneSide  = (*file.Scenes)(nil)
	_ SceneSide  = (*postgres.Store)(nil)
)

// EventSide is what a migration reads and writes of an event log.
type EventSide interface {
	event.Log
	event.Porter
}

var (
	_ EventSide = (*file.Events)(nil)
	_ EventSide = (*postgres.Store)(nil)
)

// Endpoint is one side of a migration.
type Endpoint struct {
	// Name is the endpoint's URL without a password.
	Name    string
	Ledger  LedgerSide
	Scenes  SceneSide
	Events  EventSide
	closers []io.Closer
}

// Close closes the endpoint's stores.
func (e *Endpoint) Close() error {
	var errs []error
	for _, c := range e.closers {
		errs = append(errs, c.Close())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// OpenOptions configures Open.
type OpenOptions struct {
	// Logger receives the stores' logs (nil = slog.Default()).
	Logger *slog.Logger
	// LedgerPath is the ledger file of a file: endpoint ("" = the
	// default path under its root).
	LedgerPath string
	// Create makes a file: endpoint's root directory if it is missing
	// (for a target).
	Create bool
	// EventsPath is the event log file of a file: endpoint ("" = the
	// default path under its root).
	EventsPath string
}

// Open opens an endpoint: "file:" (the current directory), "file:DIR",
// "file:///abs/dir" (a workspace root), or a postgres:// or postgresql://
// URL. Errors: InvalidInput, Unavailable, as the stores' Open.
func Open(ctx context.Context, raw string, opts OpenOptions) (*Endpoint, error) {
	switch {
	case strings.HasPrefix(raw, "file:"):
		root, err := fileRoot(raw)
		if err != nil {
			return nil, err
		}
		if opts.Create {
			abs, err := filepath.Abs(root)
			if err != nil {
				return nil, settle.Wrap(settle.InvalidInput, err, "root %s", root)
			}
			if err := durable.MkdirAll(abs, 0o755); err != nil {
				return nil, settle.Wrap(settle.InvalidInput, err, "create root %s", root)
			}
		}
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return nil, settle.Errorf(settle.InvalidInput, "%s: root %s is not a directory", raw, root)
		}
		led, err := file.OpenLedger(file.LedgerOptions{Root: root, LedgerPath: opts.LedgerPath, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		sc, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: opts.Logger})
		if err != nil {
			led.Close()
			return nil, err
		}
		ev, err := file.OpenEvents(file.EventsOptions{Root: root, Path: opts.EventsPath, Logger: opts.Logger})
		if err != nil {
			led.Close()
			sc.Close()
			return nil, err
		}
		return &Endpoint{Name: "file:" + led.Root(), Ledger: led, Scenes: sc, Events: ev, closers: []io.Closer{led, sc, ev}}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		pg, err := postgres.Open(ctx, postgres.Options{URL: raw, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		return &Endpoint{Name: redact(raw), Ledger: pg, Scenes: pg, Events: pg, closers: []io.Closer{pg}}, nil
	default:
		return nil, settle.Errorf(settle.InvalidInput, "store URL %q: want file:DIR or postgres://...", redact(raw))
	}
}

// fileRoot is the root directory a file: URL names.
func fileRoot(raw string) (string, error) {
	rest := strings.TrimPrefix(raw, "file:")
	if strings.HasPrefix(rest, "//") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", settle.Wrap(settle.InvalidInput, err, "file URL %q", raw)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", settle.Errorf(settle.InvalidInput, "file URL %q names a host", raw)
		}
		rest = u.Path
	}
	if rest == "" {
		rest = "."
	}
	return rest, nil
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Options configures Run.
type Options struct {
	// Overwrite lets differing batch declarations and scene files (mutable
	// state) on the target be replaced by the source's. Ledger records and
	// summaries are never replaced.
	Overwrite bool
	// Progress receives progress lines (nil = none).
	Progress io.Writer
	// ProgressEvery is the least time between two progress lines of a
	// phase (0 = one second).
	ProgressEvery time.Duration
	// Chunk is how many ledger records one import carries (0 = 1000).
	Chunk int
}

// Counts are one kind of item's numbers.
type Counts struct {
	// Source is how many the source holds; Target how many the target
	// holds after the run.
	Source int64 `json:"source"`
	Target int64 `json:"target"`
	// Copied were missing on the target; Same were already there,
	// identical; Replaced differed and were overwritten (Overwrite).
	Copied   int64 `json:"copied"`
	Same     int64 `json:"same"`
	Replaced int64 `json:"replaced"`
}

// Report is what a migration did.
type Report struct {
	From        string                         `json:"from"`
	To          string                         `json:"to"`
	Records     Counts                         `json:"records"`
	RecordKinds map[writeback.RecordKind]int64 `json:"record_kinds"`
	Batches     Counts                         `json:"batches"`
	Summaries   Counts                         `json:"summaries"`
	SceneFiles  Counts                         `json:"scene_files"`
	// Events are the event log's events, copied with their ids (and its
	// retention floor and removed keys) into an empty log.
	Events Counts `json:"events"`
	// SourceLedgerSHA256 and TargetLedgerSHA256 are the sha256 of the
	// records' sha256s in order, over the source's records (equal after a
	// verified run).
	SourceLedgerSHA256 string `json:"source_ledger_sha256"`
	TargetLedgerSHA256 string `json:"target_ledger_sha256"`
	Verified           bool   `json:"verified"`
	Elapsed            string `json:"elapsed"`
}

// progress prints throttled progress lines.
type progress struct {
	w     io.Writer
	every time.Duration
	last  time.Time
}

func (p *progress) printf(force bool, format string, args ...any) {
	if p.w == nil {
		return
	}
	if !force && time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "migrate: "+format+"\n", args...)
}

// conflicts collects the items the target holds differently.
type conflicts struct{ items []string }

func (c *conflicts) add(format string, args ...any) {
	c.items = append(c.items, fmt.Sprintf(format, args...))
}

func (c *conflicts) err() error {
	if len(c.items) == 0 {
		return nil
	}
	shown := c.items
	if len(shown) > 10 {
		shown = shown[:10]
	}
	return settle.Errorf(settle.VersionConflict,
		"the target holds %d item(s) that differ from the source (nothing was written): %s%s",
		len(c.items), strings.Join(shown, "; "), map[bool]string{true: "; ...", false: ""}[len(c.items) > 10])
}

type sum = [32]byte

func hashOf(data []byte) sum { return sha256.Sum256(data) }

// hashes walks a side's documents into a key -> sha256 map.
func hashes(walk func(fn func(key string, data []byte) error) error) (map[string]sum, error) {
	out := map[string]sum{}
	err := walk(func(key string, data []byte) error {
		out[key] = hashOf(data)
		return nil
	})
	return out, err
}

// docKind is one kind of keyed document.
type docKind struct {
	name      string
	plural    string
	counts    *Counts
	writeOnce bool
	walk      func(e *Endpoint, fn func(key string, data []byte) error) error
	put       func(e *Endpoint, key string, data []byte) error
}

func docKinds(r *Report, ctx context.Context) []docKind {
	return []docKind{
		{
			name: "batch", plural: "batches", counts: &r.Batches,
			walk: func(e *Endpoint, fn func(string, []byte) error) error { return e.Ledger.WalkBatchFiles(ctx, fn) },
			put:  func(e *Endpoint, k string, d []byte) error { return e.Ledger.PutBatchFile(ctx, k, d) },
		},
		{
			name: "summary", plural: "summaries", counts: &r.Summaries, writeOnce: true,
			walk: func(e *Endpoint, fn func(string, []byte) error) error { return e.Ledger.WalkSummaryFiles(ctx, fn) },
			put: func(e *Endpoint, k string, d []byte) error {
				created, err := e.Ledger.PutSummaryFile(ctx, k, d)
				if err == nil && !created {
					return settle.Errorf(settle.VersionConflict, "summary %s appeared on the target during the migration", k)
				}
				return err
			},
		},
		{
			name: "scene file", plural: "scene files", counts: &r.SceneFiles,
			walk: func(e *Endpoint, fn func(string, []byte) error) error {
				return e.Scenes.WalkSceneFiles(ctx, func(project, name string, data []byte) error {
					return fn(project+"/"+name, data)
				})
			},
			put: func(e *Endpoint, k string, d []byte) error {
				project, name, _ := strings.Cut(k, "/")
				return e.Scenes.PutSceneFile(ctx, project, name, d)
			},
		},
	}
}

// Run copies from's data to to, then verifies it. It refuses, before
// writing anything, a target whose ledger is not a prefix of the
// source's, a summary that differs, and (without Overwrite) a batch
// declaration or scene file that differs. Errors: VersionConflict (the
// target diverged), Corrupt (verification failed), as the stores'.
func Run(ctx context.Context, from, to *Endpoint, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Chunk <= 0 {
		opts.Chunk = 1000
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	p := &progress{w: opts.Progress, every: opts.ProgressEvery}
	r := &Report{From: from.Name, To: to.Name, RecordKinds: map[writeback.RecordKind]int64{}}
	kinds := docKinds(r, ctx)

	// 1. Plan the documents: refuse divergence before writing anything.
	var cf conflicts
	targetSums := make([]map[string]sum, len(kinds))
	for i, k := range kinds {
		p.printf(true, "checking %s on %s", k.plural, to.Name)
		var err error
		targetSums[i], err = hashes(func(fn func(string, []byte) error) error { return k.walk(to, fn) })
		if err != nil {
			return r, fmt.Errorf("read the target's %s: %w", k.plural, err)
		}
		err = k.walk(from, func(key string, data []byte) error {
			if t, has := targetSums[i][key]; has && t != hashOf(data) && (k.writeOnce || !opts.Overwrite) {
				cf.add("%s %s", k.name, key)
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("read the source's %s: %w", k.plural, err)
		}
	}
	if err := cf.err(); err != nil {
		return r, err
	}

	// 2. The ledger: compare the target's records with the source's
	// prefix, append the rest in order.
	if err := copyLedger(ctx, from, to, r, p, opts.Chunk); err != nil {
		return r, err
	}

	// 3. The documents.
	for i, k := range kinds {
		n := int64(0)
		err := k.walk(from, func(key string, data []byte) error {
			k.counts.Source++
			h := hashOf(data)
			t, has := targetSums[i][key]
			switch {
			case has && t == h:
				k.counts.Same++
				return nil
			case has:
				k.counts.Replaced++
			default:
				k.counts.Copied++
			}
			if err := k.put(to, key, data); err != nil {
				return fmt.Errorf("copy %s %s: %w", k.name, key, err)
			}
			n++
			p.printf(false, "%s: %d copied", k.plural, n)
			return nil
		})
		if err != nil {
			return r, err
		}
		p.printf(true, "%s: %d on the source, %d copied, %d replaced, %d already there", k.plural,
			k.counts.Source, k.counts.Copied, k.counts.Replaced, k.counts.Same)
	}

	// 4. The event log, with its ids, so a client's Last-Event-ID stays
	// valid on the target.
	if err := copyEvents(ctx, from, to, r, p); err != nil {
		return r, err
	}

	// 5. Verify.
	if err := verify(ctx, from, to, r, kinds, p); err != nil {
		return r, err
	}
	r.Verified = true
	r.Elapsed = time.Since(start).Round(time.Millisecond).String()
	p.printf(true, "done in %s: %d records (%d copied), %d batches, %d summaries, %d scene files; verified, ledger sha256 %s",
		r.Elapsed, r.Records.Source, r.Records.Copied, r.Batches.Source, r.Summaries.Source, r.SceneFiles.Source, r.SourceLedgerSHA256)
	return r, nil
}

// pager reads a ledger's records in order, page by page.
type pager struct {
	ctx   context.Context
	side  LedgerSide
	after int64
	buf   []writeback.LedgerRecord
	done  bool
}

// next returns the next record, or false at the end.
func (g *pager) next() (writeback.LedgerRecord, bool, error) {
	for len(g.buf) == 0 {
		if g.done {
			return writeback.LedgerRecord{}, false, nil
		}
		page, err := g.side.Records(g.ctx, writeback.RecordQuery{After: g.after, Limit: 1000})
		if err != nil {
			return writeback.LedgerRecord{}, false, err
		}
		g.buf = page.Records
		if page.Next < 0 {
			g.done = true
		}
		if len(g.buf) > 0 {
			g.after = g.buf[len(g.buf)-1].Seq
		}
	}
	r := g.buf[0]
	g.buf = g.buf[1:]
	if len(r.Raw) == 0 {
		return r, false, settle.Errorf(settle.Internal, "ledger record %d comes without its line", r.Seq)
	}
	return r, true, nil
}

func copyLedger(ctx context.Context, from, to *Endpoint, r *Report, p *progress, chunk int) error {
	src := &pager{ctx: ctx, side: from.Ledger, after: -1}
	tgt := &pager{ctx: ctx, side: to.Ledger, after: -1}
	tgtDone := false
	var base int64 // the target's record count, once known
	var pending [][]byte
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := to.Ledger.ImportRecords(ctx, base+r.Records.Copied, pending); err != nil {
			return fmt.Errorf("append records at %d: %w", base+r.Records.Copied, err)
		}
		r.Records.Copied += int64(len(pending))
		pending = nil
		p.printf(false, "ledger: %d records read, %d copied", r.Records.Source, r.Records.Copied)
		return nil
	}
	p.printf(true, "ledger: comparing %s with %s", to.Name, from.Name)
	for i := int64(0); ; i++ {
		rec, ok, err := src.next()
		if err != nil {
			return fmt.Errorf("read the source ledger: %w", err)
		}
		if !ok {
			break
		}
		r.Records.Source++
		r.RecordKinds[rec.Kind]++
		if !tgtDone {
			t, ok, err := tgt.next()
			if err != nil {
				return fmt.Errorf("read the target ledger: %w", err)
			}
			if ok {
				if hashOf(t.Raw) != hashOf(rec.Raw) {
					return settle.Errorf(settle.VersionConflict,
						"the target ledger is not a prefix of the source: record %d differs (nothing was written)", i)
				}
				r.Records.Same++
				continue
			}
			tgtDone, base = true, i
			p.printf(true, "ledger: the target holds the source's first %d records; appending the rest", base)
		}
		pending = append(pending, append([]byte(nil), rec.Raw...))
		if len(pending) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if !tgtDone {
		if _, more, err := tgt.next(); err != nil {
			return fmt.Errorf("read the target ledger: %w", err)
		} else if more {
			return settle.Errorf(settle.VersionConflict,
				"the target ledger holds records after the source's %d (nothing was written)", r.Records.Source)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	p.printf(true, "ledger: %d records on the source, %d copied, %d already there", r.Records.Source, r.Records.Copied, r.Records.Same)
	return nil
}

// verify re-reads both sides: the target's ledger must be the source's
// records (as many as were seen) with equal sha256s, and every document of
// the source must be on the target with the same sha256.
func verify(ctx context.Context, from, to *Endpoint, r *Report, kinds []docKind, p *progress) error {
	p.printf(true, "verifying")
	src := &pager{ctx: ctx, side: from.Ledger, after: -1}
	tgt := &pager{ctx: ctx, side: to.Ledger, after: -1}
	sd, td := sha256.New(), sha256.New()
	digest := func(h hash.Hash, raw []byte) {
		s := hashOf(raw)
		h.Write(s[:])
	}
	for i := int64(0); i < r.Records.Source; i++ {
		s, ok, err := src.next()
		if err != nil {
			return fmt.Errorf("verify: read the source ledger: %w", err)
		}
		if !ok {
			return settle.Errorf(settle.Corrupt, "verify: the source ledger lost records after %d", i)
		}
		t, ok, err := tgt.next()
		if err != nil {
			return fmt.Errorf("verify: read the target ledger: %w", err)
		}
		if !ok {
			return settle.Errorf(settle.Corrupt, "verify: the target ledger holds %d records, want %d", i, r.Records.Source)
		}
		if hashOf(s.Raw) != hashOf(t.Raw) {
			return settle.Errorf(settle.Corrupt, "verify: record %d differs between source and target", i)
		}
		digest(sd, s.Raw)
		digest(td, t.Raw)
		p.printf(false, "verifying: %d/%d records", i+1, r.Records.Source)
	}
	r.Records.Target = r.Records.Source
	for {
		_, ok, err := tgt.next()
		if err != nil {
			return fmt.Errorf("verify: read the target ledger: %w", err)
		}
		if !ok {
			break
		}
		r.Records.Target++
	}
	if r.Records.Target != r.Records.Source {
		return settle.Errorf(settle.Corrupt, "verify: the target ledger holds %d records, the source %d (was the target written during the migration?)",
			r.Records.Target, r.Records.Source)
	}
	r.SourceLedgerSHA256 = hex.EncodeToString(sd.Sum(nil))
	r.TargetLedgerSHA256 = hex.EncodeToString(td.Sum(nil))
	for _, k := range kinds {
		got, err := hashes(func(fn func(string, []byte) error) error { return k.walk(to, fn) })
		if err != nil {
			return fmt.Errorf("verify: read the target's %s: %w", k.plural, err)
		}
		k.counts.Target = int64(len(got))
		var missing []string
		err = k.walk(from, func(key string, data []byte) error {
			if t, has := got[key]; !has || t != hashOf(data) {
				missing = append(missing, key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("verify: read the source's %s: %w", k.plural, err)
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return settle.Errorf(settle.Corrupt, "verify: %d %s differ between source and target: %s",
				len(missing), k.plural, strings.Join(missing[:min(len(missing), 10)], ", "))
		}
	}
	p.printf(true, "verified: %d records, ledger sha256 %s", r.Records.Source, r.SourceLedgerSHA256)
	return nil
}

// readEvents reads a log's state and every event it retains.
func readEvents(ctx context.Context, l EventSide) (event.LogState, []event.Event, error) {
	st, err := l.State(ctx)
	if err != nil {
		return st, nil, err
	}
	var evs []event.Event
	after := st.Floor
	for {
		page, err := l.Since(ctx, after, 5000)
		if err != nil {
			return st, nil, err
		}
		if len(page) == 0 {
			return st, evs, nil
		}
		evs = append(evs, page...)
		after = page[len(page)-1].ID
	}
}

// sameEvents reports whether two logs hold the same events (times to the
// microsecond, which PostgreSQL keeps).
func sameEvents(sa, sb event.LogState, a, b []event.Event) bool {
	if sa.Floor != sb.Floor || sa.Last != sb.Last || len(a) != len(b) || len(sa.RemovedKeys) != len(sb.RemovedKeys) {
		return false
	}
	for i := range sa.RemovedKeys {
		if sa.RemovedKeys[i] != sb.RemovedKeys[i] {
			return false
		}
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Type != y.Type || x.Key != y.Key || string(x.Data) != string(y.Data) ||
			!x.Time.Truncate(time.Microsecond).Equal(y.Time.Truncate(time.Microsecond)) {
			return false
		}
	}
	return true
}

// copyEvents copies the source's event log into the target's, which must
// be empty or already the same.
func copyEvents(ctx context.Context, from, to *Endpoint, r *Report, p *progress) error {
	p.printf(true, "events: reading %s", from.Name)
	sst, sevs, err := readEvents(ctx, from.Events)
	if err != nil {
		return fmt.Errorf("read the source's events: %w", err)
	}
	tst, tevs, err := readEvents(ctx, to.Events)
	if err != nil {
		return fmt.Errorf("read the target's events: %w", err)
	}
	r.Events.Source = int64(len(sevs))
	switch {
	case sameEvents(sst, tst, sevs, tevs):
		r.Events.Same = int64(len(sevs))
	case tst.Last == 0 && tst.Floor == 0 && len(tst.RemovedKeys) == 0:
		if err := to.Events.Import(ctx, sst, sevs); err != nil {
			return fmt.Errorf("copy the events: %w", err)
		}
		r.Events.Copied = int64(len(sevs))
	case len(tevs) <= len(sevs) && tst.Last <= sst.Last && sameEvents(sst, event.LogState{Floor: tst.Floor, Last: sst.Last, RemovedKeys: tst.RemovedKeys}, sevs[:len(tevs)], tevs) &&
		(len(tevs) == len(sevs) || sevs[len(tevs)].ID > tst.Last):
		// A catch-up: the target holds a prefix of the source's events.
		if err := to.Events.Import(ctx, sst, sevs[len(tevs):]); err != nil {
			return fmt.Errorf("copy the events: %w", err)
		}
		r.Events.Same, r.Events.Copied = int64(len(tevs)), int64(len(sevs)-len(tevs))
	default:
		return settle.Errorf(settle.InvalidInput, "the target's event log (%d events up to id %d) is not a prefix of the source's (%d up to id %d): events are copied into an empty log, or a log holding a prefix of the source's, so that every id keeps its meaning", len(tevs), tst.Last, len(sevs), sst.Last)
	}
	tst, tevs, err = readEvents(ctx, to.Events)
	if err != nil {
		return fmt.Errorf("read the target's events: %w", err)
	}
	if !sameEvents(sst, tst, sevs, tevs) {
		return settle.Errorf(settle.Internal, "the copied event log differs from the source's")
	}
	r.Events.Target = int64(len(tevs))
	p.printf(true, "events: %d on the source (ids %d..%d), %d copied, %d already there", r.Events.Source, sst.Floor+1, sst.Last, r.Events.Copied, r.Events.Same)
	return nil
}
