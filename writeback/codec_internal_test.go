package writeback

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/settlehq/settle/pyjson"
)

// FuzzDecodeLine checks that DecodeLine never panics, that its fast path
// agrees with the full json.loads-compatible parser wherever it answers,
// and that a decoded record re-encodes to a line that decodes the same.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		`{"schema": "durable_success_writeback.v1", "task_id": "t", "fallback_callback_cron_id": null}`,
		`{"schema": "callback_4tuple_ledger_record.v1", "no_fallback": true, "task_id": "a\"b\\c\/d\n"}`,
		`{"schema": "writeback_conflict.v1", "candidate": {"task_id": "t"}, "reasons": ["r"]}`,
		`{"schema":"x","schema":"callback_4tuple_ledger_record.v1","task_id":1}`,
		`{"schema": "durable_success_writeback.v1", "task_id": "\ud800\u2028"}`,
		"\x0c {\"schema\": \"callback_4tuple_ledger_record.v1\"}\r", "[1,2]", "{", "", `{}`, `{"a":tru}`,
		`{"schema": "callback_4tuple_ledger_record.v1", "no_fallback": NaN}`, "{\"a\": \"\x01\"}",
		`{"schema":"durable_success_writeback.v1" , "x" :false,"y":null }`, `{"a":"b",}`, `{"a" "b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		trimmed := trimPySpace(line)
		// DecodeLine checks UTF-8 before either path.
		if fast, ok := scanFlat(string(trimmed), nil); ok && utf8.Valid(trimmed) {
			v, err := pyjson.Parse(trimmed)
			if err != nil {
				t.Fatalf("fast path accepted %q, json.loads refuses: %v", trimmed, err)
			}
			o, isObj := v.(*pyjson.Object)
			if !isObj {
				t.Fatalf("fast path accepted a non-object %q", trimmed)
			}
			slow := objectPairs(o, nil)
			last := map[string]kv{}
			for _, p := range fast {
				last[p.key] = p
			}
			if len(last) != len(slow) {
				t.Fatalf("%q: fast %v, slow %v", trimmed, fast, slow)
			}
			for _, p := range slow {
				if last[p.key] != p {
					t.Fatalf("%q: key %q fast %+v slow %+v", trimmed, p.key, last[p.key], p)
				}
			}
		}
		rec, ok := DecodeLine(line)
		if !ok {
			return
		}
		if !bytes.Equal(rec.Raw, line) {
			t.Fatal("Raw is not the line")
		}
		v := rec.Body()
		if v == nil {
			t.Fatal("no record")
		}
		enc, err := EncodeLine(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, ok := DecodeLine(enc)
		if !ok || again.Kind != rec.Kind {
			t.Fatalf("re-decode %q", enc)
		}
		enc2, err := EncodeLine(again.Body())
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %q vs %q", enc, enc2)
		}
	})
}
