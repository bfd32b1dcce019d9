package httpapi

import (
	"net/http"

	"github.com/settlehq/settle/internal/jsonw"
	"github.com/settlehq/settle/writeback"
)

// The documents written on every write-back are appended by hand (the
// bytes json.Marshal writes; fastjson_test.go compares them on random
// values and fails when a struct gains a field).

func appendDurable(dst []byte, r *writeback.DurableRecord) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	for _, f := range [...]struct {
		name string
		v    *string
	}{
		{"schema", &r.Schema},
		{"task_id", &r.TaskID},
		{"track_id", &r.TrackID},
		{"dispatch_id", &r.DispatchID},
		{"dispatch_id_source", &r.DispatchIDSource},
		{"normal_collector_cron_id", &r.NormalCollectorCronID},
		{"normal_collector_cron_id_source", &r.NormalCollectorCronIDSource},
		{"collector_key", &r.CollectorKey},
		{"collector_role", &r.CollectorRole},
		{"authoritative_verdict", &r.AuthoritativeVerdict},
		{"terminal_status", &r.TerminalStatus},
		{"completed_at", &r.CompletedAt},
		{"source_result_path", &r.SourceResultPath},
		{"batch_id", &r.BatchID},
		{"executor_key", &r.ExecutorKey},
		{"chat_id", &r.ChatID},
	} {
		dst = jsonw.Field(dst, f.name)
		dst = jsonw.String(dst, *f.v)
	}
	dst = jsonw.Field(dst, "fallback_callback_cron_id")
	dst = jsonw.OptString(dst, r.FallbackCallbackCronID)
	dst = jsonw.Field(dst, "writeback_classification")
	dst = jsonw.String(dst, r.WritebackClassification)
	dst = jsonw.Field(dst, "writeback_id")
	dst = jsonw.String(dst, r.WritebackID)
	return append(dst, '}')
}

func appendDecision(dst []byte, d *writeback.Decision) []byte {
	dst = append(dst, '{')
	dst = jsonw.Field(dst, "schema")
	dst = jsonw.String(dst, d.Schema)
	dst = jsonw.Field(dst, "verdict")
	dst = jsonw.String(dst, d.Verdict)
	dst = jsonw.Field(dst, "classification")
	dst = jsonw.String(dst, d.Classification)
	dst = jsonw.Field(dst, "task_id")
	dst = jsonw.String(dst, d.TaskID)
	dst = jsonw.Field(dst, "track_id")
	dst = jsonw.String(dst, d.TrackID)
	dst = jsonw.Field(dst, "batch_id")
	dst = jsonw.String(dst, d.BatchID)
	dst = jsonw.Field(dst, "durable_record")
	dst = appendDurable(dst, d.DurableRecord)
	dst = jsonw.Field(dst, "appended")
	dst = jsonw.Bool(dst, d.Appended)
	dst = jsonw.Field(dst, "reasons")
	dst = jsonw.Strings(dst, d.Reasons)
	return append(dst, '}')
}

func appendRecorded(dst []byte, r *RecordedData) []byte { return r.AppendJSON(dst) }

// writeDecision answers a write-back decision (as writeJSON would).
func writeDecision(w http.ResponseWriter, status int, d *writeback.Decision) {
	b := appendDecision(make([]byte, 0, 2048), d)
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
