package httpapi

import (
	"maps"
	"net/http"
	"strconv"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// handleWritebackBatch answers POST /v1/writebacks/batch: every item is
// prepared and checked as POST /v1/writebacks would, the accepted ones go
// to the store in one WritebackMany (one group commit), then each item's
// consequences are derived in order. An item's own refusal is its result;
// only a refusal of the whole request (body, limit, store unavailable) is
// an error answer, and then nothing was written.
func (s *Server) handleWritebackBatch(w http.ResponseWriter, r *http.Request) error {
	var body WritebackBatchBody
	if err := decodeScanned(r, &body, (*wbScanner).batch); err != nil {
		return err
	}
	if body.Writebacks == nil {
		return settle.Errorf(settle.InvalidInput, "writebacks (an array of write-back bodies) is required")
	}
	if n := len(body.Writebacks); n > settle.MaxBatchWritebacks {
		return settle.LimitError("MaxBatchWritebacks", settle.MaxBatchWritebacks, "batch of %d write-backs", n)
	}
	ctx := r.Context()
	p := principalOf(r)
	results := make([]WritebackBatchResult, len(body.Writebacks))
	reqs := make([]writeback.WritebackRequest, 0, len(body.Writebacks))
	at := make([]int, 0, len(body.Writebacks))
	foreign := make([]string, 0, len(body.Writebacks)) // the refusal message of a foreign key
	for i := range body.Writebacks {
		wb := &body.Writebacks[i]
		req, err := s.writebackRequest(wb)
		if err == nil && wb.DryRun {
			err = settle.Errorf(settle.InvalidInput, "a batch does not carry dry runs: send them one per request")
		}
		if err == nil && req.Binding.CollectorKey == "" {
			err = missingCollectorKey(wb)
		}
		if err != nil {
			results[i] = itemError(err)
			continue
		}
		msg := ""
		if p.Role == RoleCollector && req.Binding.CollectorKey != p.CollectorKey {
			// Recorded as refuseForeignKey records it: the candidate
			// with the caller's own key expected.
			s.met.forged.Inc()
			msg = "principal " + strconv.Quote(p.Name) + " writes back as collector key " + strconv.Quote(p.CollectorKey) +
				"; this verdict names collector key " + strconv.Quote(req.Binding.CollectorKey) + " (authority comes from the token, never from the verdict's text)"
			exp := maps.Clone(req.Expected)
			if exp == nil {
				exp = map[string]any{}
			}
			exp["collector_key"] = p.CollectorKey
			req = writeback.WritebackRequest{Binding: req.Binding, Expected: exp}
		}
		reqs = append(reqs, req)
		at = append(at, i)
		foreign = append(foreign, msg)
	}
	start := time.Now()
	items, err := s.ledger.WritebackMany(ctx, reqs)
	s.met.storeWriteback.Observe(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	m := s.derive.Many(items, p.Name)
	for j, it := range items {
		i := at[j]
		if it.Err != nil {
			results[i] = itemError(it.Err)
			continue
		}
		d := it.Outcome.Decision
		s.met.decision(d.Classification)
		res := WritebackBatchResult{Status: decisionStatus(d.Classification, false), Decision: &d, ConflictRecorded: it.Outcome.ConflictRecorded}
		if msg := foreign[j]; msg != "" {
			if writeback.ShouldApply(&d) || d.Appended {
				results[i] = itemError(settle.Errorf(settle.Internal, "a foreign-key write-back was not refused by the evaluator (%s)", d.Classification))
				continue
			}
			data := foreignRefused(&d, &reqs[j].Binding, p, it.Outcome.ConflictRecorded, msg)
			if err := s.derive.Refused(ctx, data); err != nil {
				results[i] = itemError(err)
				continue
			}
			res.Status = http.StatusForbidden
			res.Error = &APIError{Code: string(settle.Forbidden), Message: msg}
			results[i] = res
			continue
		}
		so, err := m.After(ctx, j)
		if err != nil {
			s.met.postProcessFail.Inc()
			results[i] = itemError(settle.Wrap(settle.Unavailable, err,
				"the write-back was applied (%s) but its event or batch settlement failed; retry it: an identical write-back is an idempotent skip that completes them", d.Classification))
			continue
		}
		if so != nil {
			res.BatchDecision = so.Result.Decision
			res.FirstConsolidation = so.FirstConsolidation
		}
		results[i] = res
	}
	writeJSON(w, http.StatusOK, &WritebackBatchResponse{Results: results})
	return nil
}

// itemError is the result of an item refused alone.
func itemError(err error) WritebackBatchResult {
	status, code := errorStatus(err)
	return WritebackBatchResult{Status: status, Error: &APIError{Code: string(code), Message: errorMessage(err)}}
}
