package writeback

import (
	"fmt"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// This file writes ledger lines directly, without building a generic JSON
// object: the three record types have fixed keys, so their sorted order
// (sort_keys=True) and the literal text between the values are constants.
// The bytes are exactly those of
//
//	json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n"
//
// with U+0085, U+2028, U+2029 and lone surrogates (three-byte WTF-8) written
// as lowercase \uXXXX escapes; codec_ref_internal_test.go checks them
// against the generic pyjson encoder.

// AppendLine appends the ledger line of a record (what EncodeLine returns,
// with its "\n") to dst and returns the extended slice. On error it returns
// dst unchanged; the errors are EncodeLine's.
func AppendLine(dst []byte, v any) ([]byte, error) {
	switch v { // a nil pointer of any of the record types
	case (*DurableRecord)(nil), (*RegistryRecord)(nil), (*ConflictRecord)(nil):
		return dst, settle.Errorf(settle.Internal, "encode ledger line: nil record")
	}
	var b []byte
	var err error
	switch r := v.(type) {
	case *DurableRecord:
		b = appendDurable(dst, r, &err)
	case DurableRecord:
		b = appendDurable(dst, &r, &err)
	case *RegistryRecord:
		b = appendRegistry(dst, r, &err)
	case RegistryRecord:
		b = appendRegistry(dst, &r, &err)
	case *ConflictRecord:
		b = appendConflict(dst, r, &err)
	case ConflictRecord:
		b = appendConflict(dst, &r, &err)
	default:
		return dst, settle.Errorf(settle.Internal, "encode ledger line: unsupported record type %T", v)
	}
	if err != nil {
		return dst, settle.Wrap(settle.InvalidInput, err, "encode ledger line")
	}
	return append(b, '\n'), nil
}

// lineSize is a capacity that holds a typical line.
const lineSize = 768

// The appenders below take the first encoding error in *err: once it is
// set they write nothing more (the caller drops the partial line), so the
// error is that of the first bad string in key order, as with the generic
// encoder.

// lineEsc marks the bytes that leave the plain-copy loop: ASCII control
// characters, '"', '\\' and every non-ASCII byte (checked for validity,
// line separators and surrogates).
var lineEsc = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// load8 reads s[i:i+8] as a little-endian word (one load: the compiler
// combines the byte loads).
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// needsEscape8 reports whether one of the eight bytes of x is marked in
// lineEsc: below 0x20, '"', '\\' or non-ASCII. (The classic "has a byte
// less than n" and "has a zero byte" word tests, exact for a yes/no
// answer.)
func needsEscape8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	less20 := (x - ones*0x20) & ^x
	q := x ^ (ones * '"')
	quote := (q - ones) & ^q
	bs := x ^ (ones * '\\')
	backslash := (bs - ones) & ^bs
	return (less20|quote|backslash|x)&highs != 0
}

// field appends lit (the literal text before a value, with its quotes)
// and the escaped contents of the string s.
func field(b []byte, lit, s string, err *error) []byte {
	if *err != nil {
		return b
	}
	b = append(b, lit...)
	i := 0
	for i+8 <= len(s) && !needsEscape8(load8(s, i)) {
		i += 8
	}
	for i < len(s) && !lineEsc[s[i]] {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	return appendEscaped(b, s, i, err)
}

// optField appends lit and the quoted string *s, or null for nil.
func optField(b []byte, lit string, s *string, err *error) []byte {
	if *err != nil {
		return b
	}
	b = append(b, lit...)
	if s == nil {
		return append(b, "null"...)
	}
	b = field(b, `"`, *s, err)
	return append(b, '"')
}

// appendEscaped appends the contents of s as a JSON string literal's
// (CPython's encode_basestring, ensure_ascii=False, plus the
// line-separator and surrogate escapes); s[:i] needs no escape.
func appendEscaped(b []byte, s string, i int, err *error) []byte {
	start := 0
	for i < len(s) {
		for i+8 <= len(s) && !needsEscape8(load8(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if !lineEsc[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			b = pyjson.AppendEscapedASCII(b, c)
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x85 || r == 0x2028 || r == 0x2029:
		case r != utf8.RuneError || n != 1:
			i += n // valid UTF-8 (including an encoded U+FFFD): as is
			continue
		case i+2 < len(s) && c == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF:
			// a surrogate in WTF-8
			r, n = 0xD000|rune(s[i+1]&0x3F)<<6|rune(s[i+2]&0x3F), 3
		default:
			*err = fmt.Errorf("pyjson: encode: string is not UTF-8 (byte %#x at %d)", c, i)
			return b
		}
		b = append(b, s[start:i]...)
		b = pyjson.AppendU4(b, r)
		i += n
		start = i
	}
	return append(b, s[start:]...)
}

// appendDurable appends a durable_success_writeback.v1 object, keys sorted.
func appendDurable(b []byte, r *DurableRecord, err *error) []byte {
	b = field(b, `{"authoritative_verdict": "`, r.AuthoritativeVerdict, err)
	b = field(b, `", "batch_id": "`, r.BatchID, err)
	b = field(b, `", "chat_id": "`, r.ChatID, err)
	b = field(b, `", "collector_key": "`, r.CollectorKey, err)
	b = field(b, `", "collector_role": "`, r.CollectorRole, err)
	b = field(b, `", "completed_at": "`, r.CompletedAt, err)
	b = field(b, `", "dispatch_id": "`, r.DispatchID, err)
	b = field(b, `", "dispatch_id_source": "`, r.DispatchIDSource, err)
	b = field(b, `", "executor_key": "`, r.ExecutorKey, err)
	b = optField(b, `", "fallback_callback_cron_id": `, r.FallbackCallbackCronID, err)
	b = field(b, `, "normal_collector_cron_id": "`, r.NormalCollectorCronID, err)
	b = field(b, `", "normal_collector_cron_id_source": "`, r.NormalCollectorCronIDSource, err)
	b = field(b, `", "schema": "`, r.Schema, err)
	b = field(b, `", "source_result_path": "`, r.SourceResultPath, err)
	b = field(b, `", "task_id": "`, r.TaskID, err)
	b = field(b, `", "terminal_status": "`, r.TerminalStatus, err)
	b = field(b, `", "track_id": "`, r.TrackID, err)
	b = field(b, `", "writeback_classification": "`, r.WritebackClassification, err)
	b = field(b, `", "writeback_id": "`, r.WritebackID, err)
	return append(b, `"}`...)
}

// appendRegistry appends a callback_4tuple_ledger_record.v1 object, keys
// sorted.
func appendRegistry(b []byte, r *RegistryRecord, err *error) []byte {
	b = field(b, `{"chat_id": "`, r.ChatID, err)
	b = field(b, `", "dispatch_cron_id": "`, r.DispatchCronID, err)
	b = field(b, `", "dispatch_id": "`, r.DispatchID, err)
	b = field(b, `", "executor": "`, r.Executor, err)
	b = optField(b, `", "fallback_callback_cron_id": `, r.FallbackCallbackCronID, err)
	lit := `, "no_fallback": false, "normal_collector_cron_id": "`
	if r.NoFallback {
		lit = `, "no_fallback": true, "normal_collector_cron_id": "`
	}
	b = field(b, lit, r.NormalCollectorCronID, err)
	b = field(b, `", "role": "`, r.Role, err)
	b = field(b, `", "schema": "`, r.Schema, err)
	b = field(b, `", "status": "`, r.Status, err)
	b = field(b, `", "task_id": "`, r.TaskID, err)
	b = field(b, `", "ts_kst": "`, r.TsKST, err)
	return append(b, `"}`...)
}

// appendConflict appends a writeback_conflict.v1 object, keys sorted; the
// candidate is a nested durable object (or null), the reasons a list.
func appendConflict(b []byte, r *ConflictRecord, err *error) []byte {
	b = field(b, `{"batch_id": "`, r.BatchID, err)
	if *err != nil {
		return b
	}
	if r.Candidate == nil {
		b = append(b, `", "candidate": null`...)
	} else {
		b = append(b, `", "candidate": `...)
		b = appendDurable(b, r.Candidate, err)
	}
	b = field(b, `, "classification": "`, r.Classification, err)
	b = field(b, `", "conflict_id": "`, r.ConflictID, err)
	if len(r.Reasons) == 0 {
		b = field(b, `", "reasons": [], "recorded_at": "`, r.RecordedAt, err)
	} else {
		b = field(b, `", "reasons": ["`, r.Reasons[0], err)
		for _, s := range r.Reasons[1:] {
			b = field(b, `", "`, s, err)
		}
		b = field(b, `"], "recorded_at": "`, r.RecordedAt, err)
	}
	b = field(b, `", "schema": "`, r.Schema, err)
	b = field(b, `", "task_id": "`, r.TaskID, err)
	b = field(b, `", "track_id": "`, r.TrackID, err)
	b = field(b, `", "writeback_id": "`, r.WritebackID, err)
	return append(b, `"}`...)
}
