package file

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// Records paging limits (writeback's, the same in every store).
const (
	DefaultRecordsLimit = writeback.DefaultRecordsLimit
	MaxRecordsLimit     = writeback.MaxRecordsLimit
)

// readable brings the index up to date for a read. mu held.
func (l *Ledger) readable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "ledger")
	}
	if err := l.usable(); err != nil {
		return err
	}
	if l.appending {
		// A commit is writing and fsyncing without mu and holds the
		// flock: answer from the index, which holds only durable records.
		return nil
	}
	err := l.refresh(ctx, false)
	l.publish()
	return err
}

// Writeback implements writeback.Store. Concurrent calls are committed in
// groups: one flock, one write and one fsync per group; no call returns
// before its group's fsync. A DryRun evaluates against the index and writes
// nothing.
func (l *Ledger) Writeback(ctx context.Context, req writeback.WritebackRequest) (writeback.WritebackOutcome, error) {
	if err := writeback.CheckWriteback(&req); err != nil {
		return writeback.WritebackOutcome{}, err
	}
	if req.DryRun {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.readable(ctx); err != nil {
			return writeback.WritebackOutcome{}, err
		}
		var d writeback.Decision
		err := l.withView(func(v *ixView) { d = writeback.Evaluate(req, l.cfg, v) }, l.readRescan())
		if err != nil {
			return writeback.WritebackOutcome{}, err
		}
		return writeback.WritebackOutcome{Decision: d}, nil
	}
	if err := ctx.Err(); err != nil {
		return writeback.WritebackOutcome{}, settle.Wrap(settle.Unavailable, err, "writeback")
	}
	c := &ledgerOp{req: &req}
	if err := l.submit(ctx, c); err != nil {
		return writeback.WritebackOutcome{}, err
	}
	return c.out, c.err
}

// WritebackMany implements writeback.Store: the batch's items are queued
// as one unit, so they are evaluated in order and written by the same
// group commit (one write, one fsync), each item's records all or none.
func (l *Ledger) WritebackMany(ctx context.Context, reqs []writeback.WritebackRequest) ([]writeback.WritebackItem, error) {
	ready := func() error {
		if err := ctx.Err(); err != nil {
			return settle.Wrap(settle.Unavailable, err, "writeback batch")
		}
		return nil
	}
	return writeback.QueueMany(reqs, ready, func(r *writeback.WritebackRequest) *ledgerOp { return &ledgerOp{req: r} },
		func(cs ...*ledgerOp) error { return l.submit(ctx, cs...) },
		func(c *ledgerOp) (writeback.WritebackOutcome, error) { return c.out, c.err })
}

// apply evaluates one write-back against the group's view and stages what
// the seed's apply_durable_success_writeback appends, plus a conflict
// record for a refusal seen for the first time.
func (l *Ledger) apply(req writeback.WritebackRequest, s *stage) (writeback.WritebackOutcome, error) {
	d := writeback.Evaluate(req, l.cfg, s)
	out := writeback.WritebackOutcome{}
	if !writeback.ShouldApply(&d) {
		if err := l.completeMirror(&d, s); err != nil {
			return out, err
		}
		writeback.MarkNotApplied(&d)
		if d.Verdict != "PASS" {
			cr := writeback.NewConflict(d, req.Binding, d.Reasons, l.now())
			if !s.conflictSeen(cr.ConflictID) {
				if err := s.addRecord(writeback.LedgerRecord{Kind: writeback.KindConflict, Conflict: &cr}, &cr); err != nil {
					return out, err
				}
				out.ConflictRecorded = true
			}
		}
		out.Decision = d
		return out, nil
	}
	// A copy: the index must not share the record the caller gets back.
	rec := *d.DurableRecord
	if err := s.addRecord(writeback.LedgerRecord{Kind: writeback.KindDurable, Durable: &rec}, &rec); err != nil {
		return out, err
	}
	mirror, problems := writeback.MirrorRecord(&rec, l.cfg)
	if len(problems) == 0 {
		if err := s.addRecord(writeback.LedgerRecord{Kind: writeback.KindRegistry, Registry: &mirror}, &mirror); err != nil {
			return out, err
		}
	}
	writeback.MarkApplied(&d, problems)
	out.Decision = d
	return out, nil
}

// completeMirror stages the registry mirror of an idempotently skipped
// durable success when the registry lacks it: a kill can cut a group's
// write exactly after a durable record, leaving no torn bytes to repair,
// and the retry would otherwise skip forever without the mirror. A
// ledger where every durable success has its mirror gets nothing.
func (l *Ledger) completeMirror(d *writeback.Decision, s *stage) error {
	rec := d.DurableRecord
	if d.Classification != writeback.WritebackIdempotentSkip || rec == nil || rec.WritebackClassification != writeback.DurableSuccessWritten {
		return nil
	}
	mirror, problems := writeback.MirrorRecord(rec, l.cfg)
	if len(problems) > 0 {
		return nil
	}
	for _, r := range s.RegistryHistory(rec.TaskID) {
		if r.Role == mirror.Role && r.DispatchID == mirror.DispatchID && r.Status == mirror.Status && r.TsKST == mirror.TsKST {
			return nil
		}
	}
	l.log.Warn("ledger registry mirror of a durable success completed", "task_id", rec.TaskID)
	return s.addRecord(writeback.LedgerRecord{Kind: writeback.KindRegistry, Registry: &mirror}, &mirror)
}

// addRecord encodes v as the ledger line of rec straight into the group's
// data and stages it.
func (s *stage) addRecord(rec writeback.LedgerRecord, v any) error {
	off := len(s.data)
	data, err := writeback.AppendLine(s.data, v)
	if err != nil {
		return settle.Wrap(settle.ErrorCode(err), err, "encode ledger record")
	}
	s.data = data
	s.staged(rec, off)
	return nil
}

// stageRegistry stages a registry append (already validated).
func (l *Ledger) stageRegistry(rec writeback.RegistryRecord, s *stage) error {
	return s.addRecord(writeback.LedgerRecord{Kind: writeback.KindRegistry, Registry: &rec}, &rec)
}

// AppendRegistry implements writeback.Store: the record is validated
// (INVALID_INPUT with the reasons; nothing is written) and appended in the
// next group commit.
func (l *Ledger) AppendRegistry(ctx context.Context, rec writeback.RegistryRecord) error {
	if problems := writeback.ValidateRegistry(rec); len(problems) > 0 {
		return settle.Errorf(settle.InvalidInput, "invalid registry record: %s", strings.Join(problems, "; "))
	}
	if err := ctx.Err(); err != nil {
		return settle.Wrap(settle.Unavailable, err, "registry append")
	}
	c := &ledgerOp{reg: &rec}
	if err := l.submit(ctx, c); err != nil {
		return err
	}
	return c.err
}

// RegistryHistory implements writeback.Store.
func (l *Ledger) RegistryHistory(ctx context.Context, taskID string) ([]writeback.RegistryRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readable(ctx); err != nil {
		return nil, err
	}
	var h []writeback.RegistryRecord
	err := l.withView(func(v *ixView) { h = v.RegistryHistory(taskID) }, l.readRescan())
	return h, err
}

// Classify implements writeback.Store.
func (l *Ledger) Classify(ctx context.Context, taskID string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readable(ctx); err != nil {
		return "", err
	}
	var h []writeback.RegistryRecord
	if err := l.withView(func(v *ixView) { h = v.RegistryHistory(taskID) }, l.readRescan()); err != nil {
		return "", err
	}
	return writeback.Classify(h), nil
}

// Settle implements writeback.Store. When the batch is
// ALL_SETTLED_CONSOLIDATE the consolidated summary is created at
// memory/events/batch_summaries/<batch>.json unless it exists; the call
// that created it (in any process) gets FirstConsolidation.
func (l *Ledger) Settle(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	return l.SettleWithout(ctx, batchID, tracks, thisTrack, nil)
}

// SettleWithout implements writeback.SettlerWithout.
func (l *Ledger) SettleWithout(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string, without map[string]bool) (writeback.SettleOutcome, error) {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return writeback.SettleOutcome{}, err
	}
	l.mu.Lock()
	if err := l.readable(ctx); err != nil {
		l.mu.Unlock()
		return writeback.SettleOutcome{}, err
	}
	var (
		res  writeback.SettleResult
		recs []writeback.DurableRecord
	)
	err := l.withView(func(v *ixView) {
		// Each track's latest record is read once.
		cache := map[string]*writeback.DurableRecord{}
		latest := func(track string) *writeback.DurableRecord {
			r, ok := cache[track]
			if !ok {
				r = v.LatestWithout(batchID, track, without)
				cache[track] = r
			}
			return r
		}
		res = writeback.Settle(batchID, tracks, thisTrack, latest)
		recs = nil
		if res.Decision == writeback.AllSettledConsolidate {
			for _, t := range tracks {
				if r := latest(t.TrackID); r != nil {
					recs = append(recs, *r)
				}
			}
		}
	}, l.readRescan())
	l.mu.Unlock()
	if err != nil {
		return writeback.SettleOutcome{}, err
	}
	if res.Decision != writeback.AllSettledConsolidate {
		return writeback.SettleOutcome{Result: res}, nil
	}
	rel := writeback.SummaryRelPath(batchID)
	res.ConsolidatedSummaryCandidatePath = &rel
	path, err := l.underRoot(rel)
	if err != nil {
		return writeback.SettleOutcome{}, err
	}
	if _, err := os.Lstat(path); err == nil {
		return writeback.SettleOutcome{Result: res}, nil // consolidated before
	}
	if err := l.writable(); err != nil {
		return writeback.SettleOutcome{}, settle.Wrap(settle.ErrorCode(err), err, "write the consolidated summary of %s", batchID)
	}
	data, err := writeback.EncodeSummary(batchID, res, recs, l.now())
	if err != nil {
		return writeback.SettleOutcome{}, err
	}
	if err := durable.MkdirUnder(l.root, filepath.Dir(path), 0o755); err != nil {
		return writeback.SettleOutcome{}, pathErr(settle.Internal, err, "create summaries directory")
	}
	created, err := durable.CreateFile(path, data, 0o644)
	if err != nil {
		return writeback.SettleOutcome{}, settle.Wrap(settle.Internal, err, "write summary")
	}
	return writeback.SettleOutcome{Result: res, FirstConsolidation: created}, nil
}

// Summary implements writeback.Store.
func (l *Ledger) Summary(ctx context.Context, batchID string) (writeback.Summary, error) {
	var s writeback.Summary
	if err := writeback.CheckBatchID(batchID); err != nil {
		return s, err
	}
	path, err := l.underRoot(writeback.SummariesRelDir + "/" + batchID + ".json")
	if err != nil {
		return s, err
	}
	if err := readJSON(path, &s, "summary"); err != nil {
		if settle.ErrorCode(err) == settle.NotFound {
			return s, writeback.ErrSummaryNotFound(batchID)
		}
		return s, err
	}
	if s.BatchID != batchID {
		return writeback.Summary{}, settle.Errorf(settle.Corrupt, "summary %s names batch %q", path, s.BatchID)
	}
	return s, nil
}

// DeclareBatch implements writeback.Store.
func (l *Ledger) DeclareBatch(ctx context.Context, b writeback.Batch) error {
	if err := writeback.ValidateBatch(b); err != nil {
		return err
	}
	if err := l.writable(); err != nil {
		return err
	}
	data, err := writeback.EncodeDocument(b)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "encode batch")
	}
	dir := filepath.Join(l.root, filepath.FromSlash(BatchesRelDir))
	if err := durable.MkdirUnder(l.root, dir, 0o755); err != nil {
		return pathErr(settle.Internal, err, "create batches directory")
	}
	if err := durable.WriteFile(filepath.Join(dir, b.BatchID+".json"), data, 0o644); err != nil {
		return settle.Wrap(settle.Internal, err, "write batch")
	}
	return nil
}

// GetBatch implements writeback.Store.
func (l *Ledger) GetBatch(ctx context.Context, batchID string) (writeback.Batch, error) {
	if err := writeback.CheckBatchID(batchID); err != nil {
		return writeback.Batch{}, err
	}
	b, found, err := l.lookupBatch(batchID)
	if err == nil && !found {
		err = writeback.ErrBatchNotFound(batchID)
	}
	return b, err
}

// FindBatch implements writeback.BatchFinder: GetBatch without the
// NotFound error a write-back's undeclared batch would make.
func (l *Ledger) FindBatch(ctx context.Context, batchID string) (writeback.Batch, bool, error) {
	if writeback.CheckBatchID(batchID) != nil {
		return writeback.Batch{}, false, nil
	}
	b, found, err := l.lookupBatch(batchID)
	if err != nil {
		switch settle.ErrorCode(err) {
		case settle.NotFound, settle.InvalidInput:
			return writeback.Batch{}, false, nil
		}
		return writeback.Batch{}, false, err
	}
	return b, found, nil
}

// lookupBatch is GetBatch of a valid batch id, with found false instead
// of NotFound.
func (l *Ledger) lookupBatch(batchID string) (b writeback.Batch, found bool, err error) {
	if path, cb, hit, missing, ok := l.cachedLookup(batchID); ok {
		if missing {
			return b, false, nil
		}
		if hit {
			return cb, true, nil
		}
		return l.readBatch(batchID, path)
	}
	path, err := l.underRoot(BatchesRelDir + "/" + batchID + ".json")
	if err != nil {
		return b, false, err
	}
	// The declaration is re-read only when its file changed (the server
	// looks a record's batch up on every write-back).
	if k, err := statOf(path); err == nil {
		if b, ok := l.batches.get(path, k); ok {
			return b, true, nil
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return b, false, nil
	}
	return l.readBatch(batchID, path)
}

// readBatch reads, decodes and caches the declaration at path (found
// false when it is gone).
func (l *Ledger) readBatch(batchID, path string) (writeback.Batch, bool, error) {
	var b writeback.Batch
	readAt := time.Now()
	f, err := durable.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return b, false, nil
	}
	if err != nil {
		return b, false, pathErr(settle.Internal, err, "read batch")
	}
	defer f.Close()
	k, err := fstatOf(f)
	if err != nil {
		return b, false, settle.Wrap(settle.Internal, err, "read batch")
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return b, false, settle.Wrap(settle.Internal, err, "read batch")
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return writeback.Batch{}, false, settle.Wrap(settle.Corrupt, err, "decode batch %s", path)
	}
	if b.BatchID != batchID {
		return writeback.Batch{}, false, settle.Errorf(settle.Corrupt, "batch file %s names batch %q", path, b.BatchID)
	}
	l.batches.put(path, k, b, readAt)
	return b, true, nil
}

// underRoot is the path of rel (slash-separated) below the root, refused
// (PathRefused) when any existing component of it below the root is a
// symbolic link.
func (l *Ledger) underRoot(rel string) (string, error) {
	path := filepath.Join(l.root, filepath.FromSlash(rel))
	if err := durable.CheckUnder(l.root, path); err != nil {
		return "", pathErr(settle.Internal, err, "%s", rel)
	}
	return path, nil
}

func readJSON(path string, v any, what string) error {
	data, err := durable.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return settle.Errorf(settle.NotFound, "%s %s not found", what, filepath.Base(path))
	}
	if err != nil {
		return pathErr(settle.Internal, err, "read %s", what)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return settle.Wrap(settle.Corrupt, err, "decode %s %s", what, path)
	}
	return nil
}

// Records implements writeback.Store: records with Seq > q.After in ledger
// order, filtered by kind, batch and task, at most q.Limit (default 100,
// at most 1000). Only the matching records are read from the file.
func (l *Ledger) Records(ctx context.Context, q writeback.RecordQuery) (writeback.RecordPage, error) {
	page := writeback.RecordPage{Records: []writeback.LedgerRecord{}, Next: -1}
	limit, err := q.PageLimit()
	if err != nil {
		return page, err
	}
	wantKind := -1
	switch q.Kind {
	case "":
	case writeback.KindDurable, writeback.KindRegistry, writeback.KindConflict:
		wantKind = int(kindCode(q.Kind))
	default:
		return page, settle.Errorf(settle.InvalidInput, "unknown record kind %q", q.Kind)
	}
	if q.After < -1 {
		q.After = -1
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readable(ctx); err != nil {
		return page, err
	}
	err = l.withView(func(v *ixView) {
		page.Records, page.Next = []writeback.LedgerRecord{}, -1
		// Candidates: the records of a key when filtering by task or
		// batch (the shorter list), else every Seq.
		var list []uint32
		useList := false
		if q.TaskID != "" {
			if list, v.err = l.ix.lookup(newKey(keyTask, q.TaskID).hash()); v.err != nil {
				return
			}
			useList = true
		}
		if q.BatchID != "" {
			bl, err := l.ix.lookup(newKey(keyBatch, q.BatchID).hash())
			if v.err = err; err != nil {
				return
			}
			if !useList || len(bl) < len(list) {
				list, useList = bl, true
			}
		}
		n := l.ix.len()
		pos := 0
		if useList {
			after := q.After
			pos, _ = slices.BinarySearchFunc(list, after, func(s uint32, a int64) int { return cmp.Compare(int64(s), a+1) })
		} else {
			pos = int(q.After + 1)
		}
		for {
			var seq int
			if useList {
				if pos >= len(list) {
					break
				}
				seq = int(list[pos])
			} else {
				if pos >= n {
					break
				}
				seq = pos
			}
			pos++
			if wantKind >= 0 {
				r, err := l.ix.row(int64(seq))
				if v.err = err; err != nil {
					return
				}
				if int(r.kind) != wantKind {
					continue
				}
			}
			rec, line, err := l.readRecord(int64(seq), &v.buf)
			if v.err = err; err != nil {
				return
			}
			task, batch := recordKeys(&rec)
			if (q.TaskID != "" && task != q.TaskID) || (q.BatchID != "" && batch != q.BatchID) {
				continue
			}
			if len(page.Records) == limit {
				// One more match exists: there is a next page.
				page.Next = page.Records[len(page.Records)-1].Seq
				break
			}
			rec.Seq = int64(seq)
			rec.Raw = append([]byte(nil), line...)
			page.Records = append(page.Records, rec)
		}
	}, l.readRescan())
	if err != nil {
		return writeback.RecordPage{Records: []writeback.LedgerRecord{}, Next: -1}, err
	}
	return page, nil
}

// rescan re-reads the ledger into an emptied index. mu held, no flock.
func (l *Ledger) rescan() error { return l.refresh(context.Background(), false) }

// readRescan is a reader's rescan for withView: none while a run of group
// commits holds the flock (a shared flock taken on the same file would
// replace the run's exclusive one). mu held.
func (l *Ledger) readRescan() func() error {
	if l.appending {
		return nil
	}
	return l.rescan
}
