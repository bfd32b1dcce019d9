package writeback

import (
	"fmt"
	"strings"

	"github.com/settlehq/settle/pyjson"
)

// Evaluate is the seed's evaluate_durable_success_writeback on an already
// extracted binding: it decides, without writing, what a write-back of
// req.Binding would do against the ledger seen through view. The steps, in
// the seed's order, each fail-closed:
//
//  1. an identity field differing from req.Expected (compared as Python's
//     str()) is TRACK_MISMATCH (task or track) or WRITEBACK_BINDING_CONFLICT;
//  2. a verdict that is not terminal, or a binding the authoritative
//     selector does not find independent, is SELF_CHAIN_NO_WRITEBACK;
//  3. so is a binding the self-collector guard refuses; then a
//     terminal_status other than COMPLETED is a recorded
//     WRITEBACK_BINDING_CONFLICT (not in the seed: see doc.go);
//  4. over the durable records in ledger order, the first one with the
//     same writeback_id and the same identity fields makes the write-back
//     a WRITEBACK_IDEMPOTENT_SKIP (with that record), the first one with
//     the same task, track, dispatch, collector and batch but another
//     verdict a WRITEBACK_BINDING_CONFLICT, whichever comes first;
//  5. the binding guard over the task's registry history may refuse it
//     (WRITEBACK_BINDING_CONFLICT);
//  6. an empty mandatory field is a WRITEBACK_BINDING_CONFLICT;
//  7. otherwise it is DURABLE_SUCCESS_WRITTEN with the record to append.
//
// A refusal at steps 2, 3 or 6 ends its reasons with VerdictGaps: the
// verdict fields that are missing or unusable. Appended is always false:
// see ShouldApply and MarkApplied. A nil view is an empty ledger.
func Evaluate(req WritebackRequest, cfg Config, view View) Decision {
	if view == nil {
		view = NewMemView() // an empty ledger
	}
	b := req.Binding
	decide := func(verdict, cls string, reasons []string, rec *DurableRecord) Decision {
		// A copy with room for the apply reason MarkApplied or
		// MarkNotApplied adds (reasons itself stays on the stack).
		rs := make([]string, len(reasons), len(reasons)+1)
		copy(rs, reasons)
		return Decision{
			Schema:         ModuleSchema,
			Verdict:        verdict,
			Classification: cls,
			TaskID:         b.TaskID,
			TrackID:        b.TrackID,
			BatchID:        b.BatchID,
			DurableRecord:  rec,
			Reasons:        rs,
		}
	}

	// 1. Explicit mismatch against the caller's expectation.
	if len(req.Expected) > 0 {
		var mismatched []string
		for _, f := range BindingIdentityFields {
			want, ok := req.Expected[f]
			if ok && pyStr(want) != b.field(f) {
				mismatched = append(mismatched, f)
			}
		}
		if len(mismatched) > 0 {
			cls := WritebackBindingConflict
			if contains(mismatched, "task_id") || contains(mismatched, "track_id") {
				cls = TrackMismatch
			}
			var exp, obs []string
			for _, f := range mismatched {
				exp = append(exp, pyjson.Repr(f)+": "+pyStr(req.Expected[f]))
				obs = append(obs, pyjson.Repr(f)+": "+pyjson.Repr(b.field(f)))
			}
			return decide("FAIL", cls, []string{fmt.Sprintf(
				"binding identity mismatch on %s — recorded as %s; a silent skip is forbidden (§3.9). expected={%s} observed={%s}",
				reprList(mismatched), cls, strings.Join(exp, ", "), strings.Join(obs, ", "))},
				b.Record(cls))
		}
	}

	// 2. Terminal verdict gate and the authoritative selector.
	if !contains(TerminalVerdicts, b.AuthoritativeVerdict) {
		return decide("FAIL", SelfChainNoWriteback, withGaps([]string{
			"verdict " + pyjson.Repr(b.AuthoritativeVerdict) + " is not a terminal write-back verdict " +
				reprTuple(TerminalVerdicts) + " — no durable-success write-back (§3.1)."}, b, cfg), nil)
	}
	sel := SelectAuthoritative([]VerdictRecord{{
		Kind:                  "collector_result",
		Verdict:               "PASS",
		TaskID:                b.TaskID,
		ExecutorKey:           b.ExecutorKey,
		CollectorKey:          b.CollectorKey,
		CollectorRole:         b.CollectorRole,
		SessionIsExecutorSelf: b.SessionIsExecutorSelf,
		ClaimedOrigin:         "independent_anu",
		Detail:                b.AuthoritativeVerdict,
	}}, b.TaskID, cfg.CollectorKeys)
	if sel.Classification != AuthoritativePass || sel.IndependentANUCount < 1 {
		return decide("FAIL", SelfChainNoWriteback, withGaps(append([]string{fmt.Sprintf(
			"the authoritative verdict selector did not classify this as AUTHORITATIVE_PASS (got %s, independent_anu_count=%d) — a self-chain verdict is permanently non-authoritative and is never written back as a durable success (§3.3).",
			pyjson.Repr(sel.Classification), sel.IndependentANUCount)}, sel.Reasons...), b, cfg), nil)
	}

	// 3. Self-collector guard.
	if g := GuardSelfCollector(b.ExecutorKey, b.CollectorKey, b.CollectorRole, b.SessionIsExecutorSelf); !g.OK {
		return decide("FAIL", SelfChainNoWriteback, withGaps([]string{"self-collector guard FAIL: " + strings.Join(g.Reasons, "; ")}, b, cfg), nil)
	}

	// 3, continued. Only a completed task has a durable success. The seed's verdict
	// files always give COMPLETED; a binding given directly may not, and
	// writeback_id does not cover terminal_status, so this comes before
	// the idempotency check: a FAILED replay of a success is no skip.
	wid := b.WritebackID()
	if b.TerminalStatus != StatusCompleted {
		return decide("FAIL", WritebackBindingConflict, []string{
			"terminal_status " + pyjson.Repr(b.TerminalStatus) + " is not " + pyjson.Repr(StatusCompleted) +
				" — a task that did not complete has no durable success; recorded as WRITEBACK_BINDING_CONFLICT (fail-closed)."},
			b.record(WritebackBindingConflict, wid))
	}

	// 4. Idempotency over the durable records, first in ledger order wins.
	var skip, conflict Indexed // Rec nil: none
	for _, ix := range view.DurableByWritebackID(wid) {
		if ix.Rec != nil && ix.Rec.WritebackID == wid && sameIdentity(ix.Rec, &b) {
			skip = ix
			break
		}
	}
	id := b.Identity()
	for _, ix := range view.DurableByIdentity(id) {
		if ix.Rec != nil && ix.Rec.Identity() == id && ix.Rec.AuthoritativeVerdict != b.AuthoritativeVerdict {
			if skip.Rec == nil || ix.Seq < skip.Seq {
				conflict = ix
			}
			break
		}
	}
	if conflict.Rec != nil {
		return decide("FAIL", WritebackBindingConflict, []string{fmt.Sprintf(
			"same binding identity but a different authoritative_verdict (ledger=%s vs candidate=%s) — recorded as WRITEBACK_BINDING_CONFLICT; a silent skip is forbidden (§3.9).",
			pyjson.Repr(conflict.Rec.AuthoritativeVerdict), pyjson.Repr(b.AuthoritativeVerdict))},
			b.record(WritebackBindingConflict, wid))
	}
	if skip.Rec != nil {
		return decide("PASS", WritebackIdempotentSkip, []string{
			"an identical durable-success write-back is already present (same writeback_id and identical binding) — idempotent skip, not a duplicate append (§3.8)."},
			skip.Rec.Clone())
	}

	// 5. Write-back binding guard over the task's registry history.
	chat := b.ChatID
	if chat == "" {
		chat = cfg.DefaultChatID
	}
	wb := GuardBinding(view.RegistryHistory(b.TaskID), BindingCandidate{
		TaskID:                b.TaskID,
		DispatchID:            b.DispatchID,
		ChatID:                chat,
		NormalCollectorCronID: b.NormalCollectorCronID,
		Role:                  MirrorRole,
		FallbackCronID:        b.FallbackCallbackCronID,
		OwnerKey:              b.CollectorKey,
		ExecutorKey:           b.ExecutorKey,
		SessionIsExecutorSelf: b.SessionIsExecutorSelf,
	}, cfg.CollectorKeys)
	if !wb.OK {
		return decide("FAIL", WritebackBindingConflict, []string{"write-back binding guard FAIL: " + strings.Join(wb.Reasons, "; ")},
			b.record(WritebackBindingConflict, wid))
	}

	// 6. The mandatory fields, then 7. the clean candidate.
	rec := b.record(DurableSuccessWritten, wid)
	if missing := MissingFields(rec); len(missing) > 0 {
		return decide("FAIL", WritebackBindingConflict, withGaps([]string{
			"§3.2 mandatory write-back fields missing or empty: " + reprList(missing) +
				" — refused (fail-closed, never a silent partial record)."}, b, cfg), rec)
	}
	return decide("PASS", DurableSuccessWritten, []string{
		"independent-ANU AUTHORITATIVE_PASS confirmed by the authoritative verdict selector; self-collector and write-back binding guards PASS; the §3.2 11-field durable-success record is ready for its append-only write-back."},
		rec)
}

// MissingFields returns the mandatory (Fields11) fields of rec that are
// empty, in Fields11 order.
func MissingFields(rec *DurableRecord) []string {
	if rec.TaskID != "" && rec.TrackID != "" && rec.DispatchID != "" && rec.NormalCollectorCronID != "" &&
		rec.CollectorKey != "" && rec.CollectorRole != "" && rec.AuthoritativeVerdict != "" &&
		rec.TerminalStatus != "" && rec.CompletedAt != "" && rec.SourceResultPath != "" && rec.BatchID != "" {
		return nil // the common case, without a lookup per field
	}
	var missing []string
	for _, f := range Fields11 {
		if rec.field(f) == "" {
			missing = append(missing, f)
		}
	}
	return missing
}

// sameIdentity is the seed's check that a record with the same
// writeback_id has identical identity fields.
func sameIdentity(rec *DurableRecord, b *Binding) bool {
	for _, f := range BindingIdentityFields {
		if rec.field(f) != b.field(f) {
			return false
		}
	}
	return true
}

// pyStr is Python's str() of an expected value: pyjson values, plus the
// Go scalars a caller may naturally use.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return fmt.Sprint(x)
	case int64:
		return fmt.Sprint(x)
	case uint64:
		return fmt.Sprint(x)
	case float32:
		return pyjson.Str(float64(x))
	}
	return pyjson.Str(v)
}

// reprList is Python's repr of a list of strings.
func reprList(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = pyjson.Repr(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// reprTuple is Python's repr of a tuple of strings.
func reprTuple(ss []string) string {
	l := reprList(ss)
	if len(ss) == 1 {
		return "(" + l[1:len(l)-1] + ",)"
	}
	return "(" + l[1:len(l)-1] + ")"
}
