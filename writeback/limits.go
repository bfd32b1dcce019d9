package writeback

import (
	settle "github.com/settlehq/settle"
)

// CheckBindingLimits refuses (InvalidInput, naming the limit) a binding with
// an id longer than settle.MaxIDBytes or another string longer than
// settle.MaxTextBytes. Every string of a binding is stored in its durable
// record, again in a conflict record's candidate, and hashed into the
// writeback id, so an unbounded one would grow the ledger without bound.
// The stores check it before anything is written.
func CheckBindingLimits(b *Binding) error {
	fb := ""
	if b.FallbackCallbackCronID != nil {
		fb = *b.FallbackCallbackCronID
	}
	for _, f := range [...]struct {
		name, v string
		id      bool
	}{
		{"task_id", b.TaskID, true}, {"track_id", b.TrackID, true}, {"dispatch_id", b.DispatchID, true},
		{"dispatch_id_source", b.DispatchIDSource, true},
		{"normal_collector_cron_id", b.NormalCollectorCronID, true},
		{"normal_collector_cron_id_source", b.NormalCollectorCronIDSource, true},
		{"collector_key", b.CollectorKey, true}, {"collector_role", b.CollectorRole, true},
		{"authoritative_verdict", b.AuthoritativeVerdict, false}, {"terminal_status", b.TerminalStatus, true},
		{"completed_at", b.CompletedAt, false}, {"source_result_path", b.SourceResultPath, false},
		{"batch_id", b.BatchID, true}, {"executor_key", b.ExecutorKey, true}, {"chat_id", b.ChatID, true},
		{"fallback_callback_cron_id", fb, true},
	} {
		if err := checkStringLimit(f.name, f.v, f.id); err != nil {
			return err
		}
	}
	return nil
}

// registryLimitProblems lists the fields of a registry record over
// settle.MaxIDBytes (executor, a description that embeds a collector key,
// and ts_kst: settle.MaxTextBytes).
func registryLimitProblems(rec *RegistryRecord) []string {
	fb := ""
	if rec.FallbackCallbackCronID != nil {
		fb = *rec.FallbackCallbackCronID
	}
	var out []string
	for _, f := range [...]struct {
		name, v string
		id      bool
	}{
		{"task_id", rec.TaskID, true}, {"dispatch_id", rec.DispatchID, true},
		{"dispatch_cron_id", rec.DispatchCronID, true}, {"executor", rec.Executor, false},
		{"chat_id", rec.ChatID, true}, {"normal_collector_cron_id", rec.NormalCollectorCronID, true},
		{"fallback_callback_cron_id", fb, true}, {"role", rec.Role, true}, {"status", rec.Status, true},
		{"ts_kst", rec.TsKST, false},
	} {
		if err := checkStringLimit(f.name, f.v, f.id); err != nil {
			out = append(out, settle.ErrorMessage(err))
		}
	}
	return out
}

func checkStringLimit(name, v string, id bool) error {
	if id && len(v) > settle.MaxIDBytes {
		return settle.LimitError("MaxIDBytes", settle.MaxIDBytes, "%s of %d bytes", name, len(v))
	}
	if !id && len(v) > settle.MaxTextBytes {
		return settle.LimitError("MaxTextBytes", settle.MaxTextBytes, "%s of %d bytes", name, len(v))
	}
	return nil
}
