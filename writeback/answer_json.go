package writeback

import "github.com/settlehq/settle/internal/jsonw"

// AppendJSON appends the record as json.Marshal encodes it (its JSON API
// form, not its ledger line: see AppendLine), without reflection.
func (r *DurableRecord) AppendJSON(dst []byte) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	for _, f := range [...]struct {
		k string
		v string
	}{
		{"schema", r.Schema},
		{"task_id", r.TaskID},
		{"track_id", r.TrackID},
		{"dispatch_id", r.DispatchID},
		{"dispatch_id_source", r.DispatchIDSource},
		{"normal_collector_cron_id", r.NormalCollectorCronID},
		{"normal_collector_cron_id_source", r.NormalCollectorCronIDSource},
		{"collector_key", r.CollectorKey},
		{"collector_role", r.CollectorRole},
		{"authoritative_verdict", r.AuthoritativeVerdict},
		{"terminal_status", r.TerminalStatus},
		{"completed_at", r.CompletedAt},
		{"source_result_path", r.SourceResultPath},
		{"batch_id", r.BatchID},
		{"executor_key", r.ExecutorKey},
		{"chat_id", r.ChatID},
	} {
		dst = jsonw.String(jsonw.Field(dst, f.k), f.v)
	}
	dst = jsonw.StringPtr(jsonw.Field(dst, "fallback_callback_cron_id"), r.FallbackCallbackCronID)
	dst = jsonw.String(jsonw.Field(dst, "writeback_classification"), r.WritebackClassification)
	dst = jsonw.String(jsonw.Field(dst, "writeback_id"), r.WritebackID)
	return append(dst, '}')
}

// AppendJSON appends the decision as json.Marshal encodes it, without
// reflection: the write-back routes answer one per write-back.
func (d *Decision) AppendJSON(dst []byte) []byte {
	if d == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	dst = jsonw.String(jsonw.Field(dst, "schema"), d.Schema)
	dst = jsonw.String(jsonw.Field(dst, "verdict"), d.Verdict)
	dst = jsonw.String(jsonw.Field(dst, "classification"), d.Classification)
	dst = jsonw.String(jsonw.Field(dst, "task_id"), d.TaskID)
	dst = jsonw.String(jsonw.Field(dst, "track_id"), d.TrackID)
	dst = jsonw.String(jsonw.Field(dst, "batch_id"), d.BatchID)
	dst = d.DurableRecord.AppendJSON(jsonw.Field(dst, "durable_record"))
	dst = jsonw.Bool(jsonw.Field(dst, "appended"), d.Appended)
	dst = jsonw.Strings(jsonw.Field(dst, "reasons"), d.Reasons)
	return append(dst, '}')
}
