package writeback

import (
	"strings"

	"github.com/settlehq/settle/pyjson"
)

// RegistryStatuses are the registry record statuses, in the reference
// module's order.
var RegistryStatuses = []string{StatusRegistered, StatusDispatched, StatusCompleted, StatusFailed, StatusCancelled}

// ValidateRegistry returns why rec is not a valid
// callback_4tuple_ledger_record.v1 record (nil when it is): the schema
// must match, the nine string fields other than the fallback must be
// non-empty (after Python's strip), the status must be one of
// RegistryStatuses, no_fallback must be true exactly when the fallback
// cron id is empty, and no field may exceed settle.MaxIDBytes (ts_kst:
// MaxTextBytes; the seed has no limit).
func ValidateRegistry(rec RegistryRecord) []string {
	var errs []string
	if rec.Schema != RegistrySchema {
		errs = append(errs, "schema "+pyjson.Repr(rec.Schema)+" != "+pyjson.Repr(RegistrySchema))
	}
	for _, f := range [...]struct{ name, v string }{
		{"task_id", rec.TaskID},
		{"dispatch_id", rec.DispatchID},
		{"dispatch_cron_id", rec.DispatchCronID},
		{"executor", rec.Executor},
		{"chat_id", rec.ChatID},
		{"normal_collector_cron_id", rec.NormalCollectorCronID},
		{"role", rec.Role},
		{"status", rec.Status},
		{"ts_kst", rec.TsKST},
	} {
		if pyjson.Strip(f.v) == "" {
			errs = append(errs, f.name+" missing or empty")
		}
	}
	if !contains(RegistryStatuses, rec.Status) {
		errs = append(errs, "status "+pyjson.Repr(rec.Status)+" not in "+reprTuple(RegistryStatuses))
	}
	hasFB := rec.FallbackCallbackCronID != nil && *rec.FallbackCallbackCronID != ""
	if rec.NoFallback && hasFB {
		errs = append(errs, "no_fallback is true but fallback_callback_cron_id is set")
	}
	if !rec.NoFallback && !hasFB {
		errs = append(errs, "no_fallback is false but fallback_callback_cron_id is empty")
	}
	return append(errs, registryLimitProblems(&rec)...)
}

// Classify is the registry's classify() over a task's history in ledger
// order: NORMAL_CALLBACK_COMPLETED if any record is COMPLETED, FAILED if
// the last one is FAILED, REGISTERED if there is any, else UNKNOWN.
func Classify(history []RegistryRecord) string {
	for i := range history {
		if history[i].Status == StatusCompleted {
			return ClassNormalCallbackCompleted
		}
	}
	if n := len(history); n > 0 {
		if history[n-1].Status == StatusFailed {
			return ClassFailed
		}
		return ClassRegistered
	}
	return ClassUnknown
}

// MirrorRecord is the registry COMPLETED record that accompanies a
// durable success (apply_durable_success_writeback's +44 mirror), with its
// validation errors. When the errors are not empty the mirror must not be
// written: only the durable record is, and MarkApplied adds the warning.
func MirrorRecord(rec *DurableRecord, cfg Config) (RegistryRecord, []string) {
	chat := rec.ChatID
	if chat == "" {
		chat = cfg.DefaultChatID
	}
	var fb *string
	if rec.FallbackCallbackCronID != nil && *rec.FallbackCallbackCronID != "" {
		s := *rec.FallbackCallbackCronID
		fb = &s
	}
	m := RegistryRecord{
		Schema:                 RegistrySchema,
		TaskID:                 rec.TaskID,
		DispatchID:             rec.DispatchID,
		DispatchCronID:         rec.DispatchID,
		Executor:               "independent ANU collector (key " + rec.CollectorKey + ")",
		ChatID:                 chat,
		NormalCollectorCronID:  rec.NormalCollectorCronID,
		FallbackCallbackCronID: fb,
		Role:                   MirrorRole,
		Status:                 StatusCompleted,
		NoFallback:             fb == nil,
		TsKST:                  rec.CompletedAt,
	}
	return m, ValidateRegistry(m)
}

// ShouldApply reports whether a decision's durable record is to be
// appended: a PASS DURABLE_SUCCESS_WRITTEN decision with a record.
func ShouldApply(d *Decision) bool {
	return d.OK() && d.Classification == DurableSuccessWritten && d.DurableRecord != nil
}

// SkipReason is the apply reason of an idempotent skip.
func SkipReason() string {
	return "idempotent skip — no duplicate append performed (§3.8)."
}

// NotWrittenReason is the apply reason of a refused decision.
func NotWrittenReason(classification, verdict string) string {
	return "classification=" + pyjson.Repr(classification) + " verdict=" + pyjson.Repr(verdict) +
		" — no durable-success write performed (fail-closed; a mismatch, conflict or self-chain is never silently written §3.9)."
}

// AppendedReason is the apply reason of a durable success appended with
// its registry mirror.
func AppendedReason() string {
	return "durable-success write-back appended (additive, append-only): durable_success_writeback.v1 + the registry COMPLETED mirror line — the batch coordinator now observes NORMAL_CALLBACK_COMPLETED."
}

// MirrorInvalidReason is the apply warning of a durable success whose
// registry mirror was invalid and therefore not written.
func MirrorInvalidReason(errs []string) string {
	return "WARN: registry COMPLETED mirror line invalid (" + strings.Join(errs, "; ") +
		") — durable_success_writeback line written; registry mirror skipped (fail-closed, never an invalid registry record)."
}

// MarkApplied records on d that its durable record was appended (and the
// mirror too unless mirrorErrs is not empty): Appended is set and the
// seed's apply reason added.
func MarkApplied(d *Decision, mirrorErrs []string) {
	d.Appended = true
	if len(mirrorErrs) > 0 {
		d.Reasons = append(d.Reasons, MirrorInvalidReason(mirrorErrs))
		return
	}
	d.Reasons = append(d.Reasons, AppendedReason())
}

// MarkNotApplied adds the seed's apply reason for a decision that writes
// no durable record (an idempotent skip or a refusal).
func MarkNotApplied(d *Decision) {
	if d.Classification == WritebackIdempotentSkip {
		d.Reasons = append(d.Reasons, SkipReason())
		return
	}
	d.Reasons = append(d.Reasons, NotWrittenReason(d.Classification, d.Verdict))
}
