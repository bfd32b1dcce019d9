package postgres

import (
	"testing"

	"github.com/settlehq/settle/writeback"
)

// FuzzRowOf: any line that decodes as a ledger record gets the columns the
// file store indexes it under (kind, task, batch), and keeps its bytes.
func FuzzRowOf(f *testing.F) {
	fb := "fb"
	for _, v := range []any{
		&writeback.DurableRecord{Schema: writeback.DurableSchema, TaskID: "t", TrackID: "T1", BatchID: "b", WritebackID: "w", WritebackClassification: writeback.DurableSuccessWritten},
		&writeback.RegistryRecord{Schema: writeback.RegistrySchema, TaskID: "t", Status: "REGISTERED", FallbackCallbackCronID: &fb},
		&writeback.ConflictRecord{Schema: writeback.ConflictSchema, ConflictID: "c", TaskID: "t", BatchID: "b", Reasons: []string{"r"}},
	} {
		line, err := writeback.EncodeLine(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line[:len(line)-1])
	}
	f.Add([]byte(`{"schema": "durable_success_writeback.v1"}`))
	f.Add([]byte(`{"schema": "callback_4tuple_ledger_record.v1", "task_id": 7}`))
	f.Add([]byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, ok := writeback.DecodeLine(line)
		if !ok {
			return
		}
		r, err := rowOf(&rec, line)
		if err != nil {
			t.Fatalf("a decoded record has no row: %v", err)
		}
		if r.kind != rec.Kind || string(r.line) != string(line) {
			t.Fatalf("row %+v for record %+v", r, rec)
		}
		switch {
		case rec.Durable != nil:
			if r.taskID != rec.Durable.TaskID || r.batchID == nil || *r.batchID != rec.Durable.BatchID || r.conflictID != nil {
				t.Fatalf("durable row %+v", r)
			}
		case rec.Registry != nil:
			if r.taskID != rec.Registry.TaskID || r.batchID != nil || r.writebackID != nil {
				t.Fatalf("registry row %+v", r)
			}
		case rec.Conflict != nil:
			if r.taskID != rec.Conflict.TaskID || r.conflictID == nil || *r.conflictID != rec.Conflict.ConflictID {
				t.Fatalf("conflict row %+v", r)
			}
		}
	})
}

// FuzzRedact: a connection error message never keeps a URL's password.
func FuzzRedact(f *testing.F) {
	f.Add("cannot parse `postgres://u:secret@host:x/db`: invalid port")
	f.Add("postgresql://user:p@ss@h/db")
	f.Add("no url here")
	f.Fuzz(func(t *testing.T, msg string) {
		out := redact(msg)
		if redact(out) != out {
			t.Fatalf("redact is not idempotent: %q -> %q", out, redact(out))
		}
	})
}
