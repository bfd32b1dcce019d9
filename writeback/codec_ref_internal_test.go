package writeback

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// refEncodeLine is the generic encoder EncodeLine used before AppendLine:
// the record as a pyjson.Object, encoded as
// json.dumps(rec, ensure_ascii=False, sort_keys=True) with the
// line-separator escapes, then the lone surrogates escaped. AppendLine must
// write exactly its bytes and return exactly its errors.
func refEncodeLine(v any) ([]byte, error) {
	switch v.(type) {
	case *DurableRecord, DurableRecord, *RegistryRecord, RegistryRecord, *ConflictRecord, ConflictRecord:
	default:
		return nil, settle.Errorf(settle.Internal, "encode ledger line: unsupported record type %T", v)
	}
	obj := refObject(reflect.ValueOf(v))
	if obj == nil {
		return nil, settle.Errorf(settle.Internal, "encode ledger line: nil record")
	}
	opts := pyjson.Options{Indent: -1, SortKeys: true, EscapeLineSeps: true}
	b, err := pyjson.AppendEncode(make([]byte, 0, 768), obj, opts)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode ledger line")
	}
	b = refEscapeSurrogates(b)
	return append(b, '\n'), nil
}

// refEscapeSurrogates replaces the WTF-8 encoding of a lone surrogate by
// its \uXXXX escape (no valid UTF-8 sequence starts with 0xED 0xA0..0xBF).
func refEscapeSurrogates(b []byte) []byte {
	i := bytes.IndexByte(b, 0xED)
	if i < 0 {
		return b
	}
	var out []byte
	start := 0
	for ; i < len(b); i++ {
		if b[i] != 0xED || i+2 >= len(b) || b[i+1] < 0xA0 || b[i+1] > 0xBF {
			continue
		}
		r := 0xD000 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
		out = append(out, b[start:i]...)
		const hexd = "0123456789abcdef"
		out = append(out, '\\', 'u', hexd[r>>12&0xF], hexd[r>>8&0xF], hexd[r>>4&0xF], hexd[r&0xF])
		i += 2
		start = i + 1
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}

// refObject is a record as a pyjson object: one member per field, named
// by its json tag (the on-disk contract); nil for a nil pointer.
func refObject(v reflect.Value) *pyjson.Object {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	o := pyjson.NewObject()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("json")
		switch f := v.Field(i); {
		case f.Kind() == reflect.Pointer && f.IsNil():
			o.Set(name, nil)
		case f.Kind() == reflect.Pointer && f.Elem().Kind() == reflect.String:
			o.Set(name, f.Elem().String())
		case f.Kind() == reflect.Pointer:
			o.Set(name, refObject(f))
		case f.Kind() == reflect.Slice:
			items := make([]any, f.Len())
			for j := range items {
				items[j] = f.Index(j).String()
			}
			o.Set(name, items)
		default:
			o.Set(name, f.Interface())
		}
	}
	return o
}

// nastyPieces are the fragments random strings are made of: escapes,
// control characters, non-ASCII, line separators, lone and paired
// surrogates in WTF-8 and U+FFFD; badPieces are neither UTF-8 nor WTF-8.
var (
	nastyPieces = []string{
		"", "a", "task-1", "AUTHORITATIVE_PASS", "derived:", " ", "\"", "\\", "/", "\\u2028",
		"\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f", "é", "검증", "😀",
		"\u0085", "\u2028", "\u2029", "\u2027", "\u202a", "\u0084", "\ufffd", "\uffff", "\U0010ffff",
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xb0\x80", "\xed\xa0\xbd\xed\xb8\x80", "\xed\x9f\xbf",
	}
	badPieces = []string{"\xff", "\xc0\xaf", "\xe2\x80", "\xed\xa0", "\xed", "\xf4\x90\x80\x80", "\x80", "\xc2"}
)

// randNasty returns a random string; about one in 120 is neither UTF-8
// nor WTF-8.
func randNasty(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return nastyPieces[r.IntN(6)] // mostly plain
	}
	var b []byte
	for n := r.IntN(6); n > 0; n-- {
		b = append(b, nastyPieces[r.IntN(len(nastyPieces))]...)
	}
	switch r.IntN(240) {
	case 0:
		b = append(b, badPieces[r.IntN(len(badPieces))]...)
		b = append(b, nastyPieces[r.IntN(len(nastyPieces))]...)
	case 1:
		for n := r.IntN(8); n > 0; n-- {
			b = append(b, byte(r.IntN(256)))
		}
	}
	return string(b)
}

// randStrings fills every string and *string field of the struct *p.
func randStrings(r *rand.Rand, p any) {
	v := reflect.ValueOf(p).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(randNasty(r))
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.String && r.IntN(2) == 0 {
				s := randNasty(r)
				f.Set(reflect.ValueOf(&s))
			}
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		}
	}
}

// randRec is a T of random fields, by pointer or by value.
func randRec[T any](r *rand.Rand, byValue bool) any {
	p := new(T)
	randStrings(r, p)
	if byValue {
		return *p
	}
	return p
}

func randRecord(r *rand.Rand) any {
	switch n := r.IntN(7); n {
	case 0, 1, 2:
		return randRec[DurableRecord](r, n == 2)
	case 3, 4, 5:
		return randRec[RegistryRecord](r, n == 5)
	}
	c := &ConflictRecord{}
	randStrings(r, c)
	if r.IntN(3) > 0 {
		c.Candidate = &DurableRecord{}
		randStrings(r, c.Candidate)
	}
	if n := r.IntN(4); n > 0 || r.IntN(2) == 0 {
		c.Reasons = make([]string, n)
		for i := range c.Reasons {
			c.Reasons[i] = randNasty(r)
		}
	}
	if r.IntN(5) == 0 {
		return *c
	}
	return c
}

// checkSameLine fails unless AppendLine (through EncodeLine and appending
// to a non-empty buffer) gives refEncodeLine's bytes and error.
func checkSameLine(t *testing.T, v any) {
	t.Helper()
	want, wantErr := refEncodeLine(v)
	got, err := EncodeLine(v)
	if (err == nil) != (wantErr == nil) || (err != nil && (err.Error() != wantErr.Error() ||
		settle.ErrorCode(err) != settle.ErrorCode(wantErr))) {
		t.Fatalf("%#v:\nerror %v\n want %v", v, err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%#v:\n got %q\nwant %q", v, got, want)
	}
	prefix := []byte("prefix")
	app, err := AppendLine(prefix, v)
	if wantErr != nil {
		if err == nil || err.Error() != wantErr.Error() || string(app) != "prefix" {
			t.Fatalf("%#v: AppendLine on error gave %q, %v", v, app, err)
		}
		return
	}
	if err != nil || string(app) != "prefix"+string(want) {
		t.Fatalf("%#v: AppendLine gave %q, %v", v, app, err)
	}
}

func TestAppendLineMatchesGenericEncoder(t *testing.T) {
	for _, v := range []any{
		(*DurableRecord)(nil), (*RegistryRecord)(nil), (*ConflictRecord)(nil), "x", 5, nil,
		&DurableRecord{}, DurableRecord{}, &RegistryRecord{}, RegistryRecord{NoFallback: true},
		&ConflictRecord{}, ConflictRecord{Reasons: []string{}}, &ConflictRecord{Reasons: []string{"a"}},
		&ConflictRecord{Candidate: &DurableRecord{TaskID: "t\xff"}}, &ConflictRecord{Reasons: []string{"a", "\xed\xa0\x80\xed\xb0\x80"}},
	} {
		checkSameLine(t, v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	invalid := 0
	for i := 0; i < n; i++ {
		v := randRecord(r)
		if _, err := refEncodeLine(v); err != nil {
			invalid++
		}
		checkSameLine(t, v)
	}
	// The generator must exercise both outcomes.
	if invalid < n/20 || invalid > n*19/20 {
		t.Fatalf("%d of %d random records invalid", invalid, n)
	}
}

// FuzzAppendLine checks AppendLine against the generic encoder on records
// whose strings come from the fuzzer.
func FuzzAppendLine(f *testing.F) {
	f.Add("task-1", "T1", "\u2028\u0085\"\\\n", "\xed\xa0\x80", true, uint8(0))
	f.Add("é😀", "\x00\x1f\x7f", "", "\xff", false, uint8(1))
	f.Add("\xed\xa0\xbd\xed\xb8\x80", "\xed\x9f\xbf", "\ufffd", "x", true, uint8(2))
	f.Add("a", "b", "c", "d", false, uint8(3))
	f.Fuzz(func(t *testing.T, s1, s2, s3, s4 string, flag bool, pick uint8) {
		var fb *string
		if flag {
			fb = &s3
		}
		d := &DurableRecord{
			Schema: DurableSchema, TaskID: s1, TrackID: s2, DispatchID: s3, DispatchIDSource: s4,
			NormalCollectorCronID: s2 + s1, NormalCollectorCronIDSource: s4, CollectorKey: s1,
			CollectorRole: "ANU", AuthoritativeVerdict: s4, TerminalStatus: s3, CompletedAt: s1,
			SourceResultPath: s2, BatchID: s3, ExecutorKey: s4, ChatID: s1, FallbackCallbackCronID: fb,
			WritebackClassification: s2, WritebackID: s3 + s4,
		}
		// Each string alone in one field, so every field's error is seen.
		single := &DurableRecord{}
		fields := reflect.ValueOf(single).Elem()
		i := int(pick) % fields.NumField()
		if fields.Field(i).Kind() == reflect.String {
			fields.Field(i).SetString(s1)
		} else {
			single.FallbackCallbackCronID = &s1
		}
		g := &RegistryRecord{
			Schema: RegistrySchema, TaskID: s1, DispatchID: s2, DispatchCronID: s2, Executor: s3,
			ChatID: s4, NormalCollectorCronID: s1, FallbackCallbackCronID: fb, Role: s2,
			Status: s3, NoFallback: !flag, TsKST: s4,
		}
		c := &ConflictRecord{
			Schema: ConflictSchema, ConflictID: s4, Classification: s3, TaskID: s1, TrackID: s2,
			BatchID: s3, WritebackID: s4, Reasons: []string{s1, s2, s3, s4}[:pick%5], RecordedAt: s2,
		}
		if flag {
			c.Candidate = d
		}
		for _, v := range []any{d, *d, single, g, *g, c, *c} {
			checkSameLine(t, v)
		}
	})
}
