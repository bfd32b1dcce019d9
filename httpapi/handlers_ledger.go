package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

// decisionStatus maps a write-back classification to its HTTP status
// (contracts §3). A dry run's would-be success is 200: nothing was
// created.
func decisionStatus(cls string, dryRun bool) int {
	switch cls {
	case writeback.DurableSuccessWritten:
		if dryRun {
			return http.StatusOK
		}
		return http.StatusCreated
	case writeback.WritebackIdempotentSkip:
		return http.StatusOK
	case writeback.WritebackBindingConflict, writeback.TrackMismatch:
		return http.StatusConflict
	case writeback.SelfChainNoWriteback:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// writebackRequest turns a body into a store request: the binding as
// given, or extracted from the verdict document as the CLI extracts a
// verdict file.
// apiVerdictSource starts the source path of a verdict sent without one:
// its sha256 follows.
const apiVerdictSource = "api:verdict-sha256:"

func (s *Server) writebackRequest(body *WritebackBody) (writeback.WritebackRequest, error) {
	var req writeback.WritebackRequest
	req.DryRun = body.DryRun
	if len(body.Expected) > 0 {
		v, err := settle.ParseInput(body.Expected, "MaxRecordBytes", settle.MaxRecordBytes)
		if err != nil {
			return req, settle.Wrap(settle.InvalidInput, err, "expected")
		}
		switch o := v.(type) {
		case nil:
		case *pyjson.Object:
			req.Expected = make(map[string]any, o.Len())
			for _, k := range o.Keys() {
				req.Expected[k], _ = o.Get(k)
			}
		default:
			return req, settle.Errorf(settle.InvalidInput, "expected must be a JSON object")
		}
	}
	if body.Binding != nil {
		if len(body.Verdict) > 0 || body.BatchID != "" || body.TrackID != "" || body.ExecutorKey != "" || body.SourcePath != "" {
			return req, settle.Errorf(settle.InvalidInput, "a binding excludes verdict, batch_id, track_id, executor_key and source_path")
		}
		req.Binding = *body.Binding
		return req, nil
	}
	if len(body.Verdict) == 0 {
		return req, settle.Errorf(settle.InvalidInput, "verdict (a verdict document) or binding is required")
	}
	if body.BatchID == "" {
		return req, settle.Errorf(settle.InvalidInput, "batch_id is required with a verdict")
	}
	sp := body.SourcePath
	if sp == "" {
		sum := sha256.Sum256(body.Verdict)
		var b [len(apiVerdictSource) + 2*sha256.Size]byte
		hex.Encode(b[copy(b[:], apiVerdictSource):], sum[:])
		sp = string(b[:])
	}
	resolved := sp
	if filepath.IsAbs(sp) {
		// The server does not touch the caller's files: no symlink
		// resolution, only a lexical clean.
		resolved = filepath.Clean(sp)
	}
	b, err := writeback.Extract(body.Verdict, writeback.ExtractOptions{
		BatchID:           body.BatchID,
		TrackID:           body.TrackID,
		ExecutorKey:       body.ExecutorKey,
		Root:              s.root,
		SourcePath:        resolved,
		SourcePathAsGiven: sp,
		Config:            s.cfg,
	})
	if err != nil {
		return req, err
	}
	req.Binding = b
	return req, nil
}

// missingCollectorKey is the INVALID_INPUT answer to a write-back whose
// verdict (or binding) names no collector key.
func missingCollectorKey(body *WritebackBody) error {
	if body.Binding != nil {
		return settle.Errorf(settle.InvalidInput, "binding.collector_key is empty: a write-back needs the independent collector's key")
	}
	return settle.Errorf(settle.InvalidInput, "the verdict names no collector key: set collector_key (or four_tuple_record.collector_key or collector_owner_key) to the independent collector's key")
}

func (s *Server) handleWriteback(w http.ResponseWriter, r *http.Request) error {
	var body WritebackBody
	if err := decodeScanned(r, &body, (*wbScanner).body); err != nil {
		return err
	}
	req, err := s.writebackRequest(&body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := principalOf(r)
	b := req.Binding
	if b.CollectorKey == "" {
		// Without a collector key nobody vouches for the verdict: that is
		// an input to fix, answered before the caller's authority over the
		// key is checked (a 403 about key "" would not say what is missing).
		return missingCollectorKey(&body)
	}
	if p.Role == RoleCollector && b.CollectorKey != p.CollectorKey {
		return s.refuseForeignKey(w, r, req, p)
	}
	start := time.Now()
	out, err := s.ledger.Writeback(ctx, req)
	if !req.DryRun {
		s.met.storeWriteback.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return err
	}
	d := out.Decision
	s.met.decision(d.Classification)
	if out.ConflictRecorded {
		w.Header().Set(HeaderConflictRecorded, "true")
	}
	if !req.DryRun {
		if err := s.afterWriteback(w, r, &d, out.ConflictRecorded, p); err != nil {
			s.met.postProcessFail.Inc()
			return settle.Wrap(settle.Unavailable, err,
				"the write-back was applied (%s) but its event or batch settlement failed; retry it: an identical write-back is an idempotent skip that completes them", d.Classification)
		}
	}
	writeJSON(w, decisionStatus(d.Classification, req.DryRun), &d)
	return nil
}

// afterWriteback derives the decision's consequences (its event and, for
// a recorded write-back, its declared batch's settlement) and reports the
// batch's decision in the answer's headers.
func (s *Server) afterWriteback(w http.ResponseWriter, r *http.Request, d *writeback.Decision, conflict bool, p Principal) error {
	so, err := s.derive.AfterWriteback(r.Context(), d, conflict, p.Name)
	if err != nil {
		return err
	}
	settleHeaders(w, so)
	return nil
}

// foreignRefused is the writeback.refused event of a foreign-key
// write-back refused with decision d: FORBIDDEN, msg first among the
// reasons.
func foreignRefused(d *writeback.Decision, b *writeback.Binding, p Principal, conflictRecorded bool, msg string) refusedData {
	return refusedData{
		Classification:   d.Classification,
		Code:             string(settle.Forbidden),
		TaskID:           b.TaskID,
		TrackID:          b.TrackID,
		BatchID:          b.BatchID,
		WritebackID:      b.WritebackID(),
		CollectorKey:     b.CollectorKey,
		Principal:        p.Name,
		ConflictRecorded: conflictRecorded,
		Reasons:          append([]string{msg}, d.Reasons...),
	}
}

// refuseForeignKey answers a collector whose verdict names another
// collector key: 403 FORBIDDEN. Unless it is a dry run, the refusal is
// recorded through the store as a writeback_conflict.v1 record (the
// candidate evaluated with the caller's own key as the expected
// collector_key, which the evaluator refuses and records) and announced
// as a writeback.refused event.
func (s *Server) refuseForeignKey(w http.ResponseWriter, r *http.Request, req writeback.WritebackRequest, p Principal) error {
	s.met.forged.Inc()
	b := req.Binding
	msg := "principal " + strconv.Quote(p.Name) + " writes back as collector key " + strconv.Quote(p.CollectorKey) +
		"; this verdict names collector key " + strconv.Quote(b.CollectorKey) + " (authority comes from the token, never from the verdict's text)"
	if ri := info(r.Context()); ri != nil {
		ri.err = settle.Errorf(settle.Forbidden, "%s", msg)
	}
	body := ForbiddenBody{Error: APIError{Code: string(settle.Forbidden), Message: msg}}
	if !req.DryRun {
		exp := maps.Clone(req.Expected)
		if exp == nil {
			exp = map[string]any{}
		}
		exp["collector_key"] = p.CollectorKey
		out, err := s.ledger.Writeback(r.Context(), writeback.WritebackRequest{Binding: b, Expected: exp})
		if err != nil {
			return err
		}
		d := out.Decision
		if writeback.ShouldApply(&d) || d.Appended {
			// The evaluator must refuse a collector_key mismatch; if it
			// did not, something is badly wrong: do not pretend.
			return settle.Errorf(settle.Internal, "a foreign-key write-back was not refused by the evaluator (%s)", d.Classification)
		}
		s.met.decision(d.Classification)
		body.Decision = &d
		body.ConflictRecorded = out.ConflictRecorded
		if out.ConflictRecorded {
			w.Header().Set(HeaderConflictRecorded, "true")
		}
		data := foreignRefused(&d, &b, p, out.ConflictRecorded, msg)
		if err := s.derive.Refused(r.Context(), data); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusForbidden, body)
	return nil
}

func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rq := writeback.RecordQuery{
		Kind:    writeback.RecordKind(q.Get("kind")),
		BatchID: q.Get("batch"),
		TaskID:  q.Get("task"),
		After:   -1,
	}
	switch rq.Kind {
	case "", writeback.KindDurable, writeback.KindRegistry, writeback.KindConflict:
	default:
		return settle.Errorf(settle.InvalidInput, "kind %q: want durable, registry or conflict", rq.Kind)
	}
	for k := range q {
		switch k {
		case "kind", "batch", "task", "after", "limit":
		default:
			return settle.Errorf(settle.InvalidInput, "unknown query parameter %q", k)
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return settle.Errorf(settle.InvalidInput, "after %q: want a record sequence number (-1: from the start)", v)
		}
		rq.After = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return settle.Errorf(settle.InvalidInput, "limit %q: want a positive integer", v)
		}
		if err := writeback.CheckLimit(n); err != nil {
			return err
		}
		rq.Limit = n
	}
	page, err := s.ledger.Records(r.Context(), rq)
	if err != nil {
		return err
	}
	out := RecordsPage{Records: make([]WireRecord, 0, len(page.Records)), Next: page.Next}
	for _, lr := range page.Records {
		out.Records = append(out.Records, WireRecord{Seq: lr.Seq, Kind: lr.Kind, Durable: lr.Durable, Registry: lr.Registry, Conflict: lr.Conflict, Raw: string(lr.Raw)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleRegistryAppend(w http.ResponseWriter, r *http.Request) error {
	var rec writeback.RegistryRecord
	if err := decodeJSON(r, &rec); err != nil {
		return err
	}
	if err := s.ledger.AppendRegistry(r.Context(), rec); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func (s *Server) handleRegistryHistory(w http.ResponseWriter, r *http.Request) error {
	task := r.PathValue("task")
	recs, err := s.ledger.RegistryHistory(r.Context(), task)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []writeback.RegistryRecord{}
	}
	writeJSON(w, http.StatusOK, RegistryHistoryBody{TaskID: task, Records: recs})
	return nil
}

func (s *Server) handleClassify(w http.ResponseWriter, r *http.Request) error {
	task := r.PathValue("task")
	c, err := s.ledger.Classify(r.Context(), task)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ClassificationBody{TaskID: task, Classification: c})
	return nil
}

func (s *Server) handleDeclareBatch(w http.ResponseWriter, r *http.Request) error {
	batch := r.PathValue("batch")
	var body DeclareBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.BatchID != "" && body.BatchID != batch {
		return settle.Errorf(settle.InvalidInput, "batch_id %q differs from the path's %q", body.BatchID, batch)
	}
	b := writeback.Batch{BatchID: batch, Tracks: body.Tracks}
	if err := s.ledger.DeclareBatch(r.Context(), b); err != nil {
		return err
	}
	// The tracks may all have landed before the declaration.
	so, err := s.settleDeclared(r.Context(), batch, "")
	if err != nil {
		return err
	}
	settleHeaders(w, so)
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) handleGetBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := s.ledger.GetBatch(r.Context(), r.PathValue("batch"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) handleBatchStatus(w http.ResponseWriter, r *http.Request) error {
	batch := r.PathValue("batch")
	for k := range r.URL.Query() {
		if k != "this_track" {
			return settle.Errorf(settle.InvalidInput, "unknown query parameter %q", k)
		}
	}
	b, err := s.ledger.GetBatch(r.Context(), batch)
	if err != nil {
		return err
	}
	so, err := s.settleAndAnnounce(r.Context(), batch, b.Tracks, r.URL.Query().Get("this_track"))
	if err != nil {
		return err
	}
	writeSettle(w, so)
	return nil
}

func (s *Server) handleSettle(w http.ResponseWriter, r *http.Request) error {
	batch := r.PathValue("batch")
	var body SettleBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	tracks := body.Tracks
	if tracks == nil { // absent: the declaration; [] is an empty batch
		b, err := s.ledger.GetBatch(r.Context(), batch)
		if err != nil {
			return err
		}
		tracks = b.Tracks
	}
	so, err := s.settleAndAnnounce(r.Context(), batch, tracks, body.ThisTrack)
	if err != nil {
		return err
	}
	writeSettle(w, so)
	return nil
}

func writeSettle(w http.ResponseWriter, so writeback.SettleOutcome) {
	settleHeaders(w, &so)
	writeJSON(w, http.StatusOK, so.Result)
}

// settleHeaders reports a batch's settle outcome (none: nil) in an
// answer's headers.
func settleHeaders(w http.ResponseWriter, so *writeback.SettleOutcome) {
	if so == nil {
		return
	}
	w.Header().Set(HeaderBatchDecision, so.Result.Decision)
	if so.FirstConsolidation {
		w.Header().Set(HeaderFirstConsolidation, "true")
	}
}

func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) error {
	sum, err := s.ledger.Summary(r.Context(), r.PathValue("batch"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sum)
	return nil
}
