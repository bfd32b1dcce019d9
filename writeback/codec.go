package writeback

import (
	"unicode/utf8"

	"github.com/settlehq/settle/pyjson"
)

// EncodeLine returns the ledger line of a record (*DurableRecord,
// *RegistryRecord or *ConflictRecord, or the same by value): the bytes of
// Python's json.dumps(rec, ensure_ascii=False, sort_keys=True) followed by
// "\n", except that U+0085, U+2028, U+2029 and lone surrogates are written
// as \uXXXX escapes (Python reads them back as the same string) so that
// every line is valid UTF-8 and no Python reader splits it. A string that
// is neither UTF-8 nor WTF-8 is an InvalidInput error. See AppendLine.
func EncodeLine(v any) ([]byte, error) {
	// A constant capacity: when the caller only copies the line (and
	// EncodeLine is inlined), the buffer can live on the stack.
	b, err := AppendLine(make([]byte, 0, lineSize), v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeLine reads one ledger line (without or with its "\n") leniently,
// as the seed's readers do: the line is stripped of Python whitespace and
// parsed as json.loads would. A line that is empty, not UTF-8, not JSON,
// not an object, or of a schema other than the three ledger schemas gives
// ok=false (the caller counts it as skipped; the seed would crash on a
// non-object line). A field that is missing or not a string reads as "";
// fallback_callback_cron_id reads as nil unless it is a string; no_fallback
// is Python's truthiness of its value. Raw aliases line.
//
// Flat lines of strings, booleans and nulls (every line settle writes but
// conflict records) take a fast path that allocates the line once.
func DecodeLine(line []byte) (LedgerRecord, bool) {
	raw := line
	line = trimPySpace(line)
	if len(line) == 0 || !utf8.Valid(line) {
		return LedgerRecord{}, false
	}
	var buf [24]kv
	var obj *pyjson.Object
	pairs, ok := scanFlat(string(line), buf[:0])
	if !ok {
		v, err := pyjson.Parse(line)
		if err != nil {
			return LedgerRecord{}, false
		}
		o, isObj := v.(*pyjson.Object)
		if !isObj {
			return LedgerRecord{}, false
		}
		obj = o
		pairs = objectPairs(o, buf[:0])
	}
	schema := ""
	for i := range pairs {
		if pairs[i].key == "schema" {
			schema = pairs[i].str()
		}
	}
	rec := LedgerRecord{Raw: raw}
	switch schema {
	case DurableSchema:
		rec.Kind = KindDurable
		rec.Durable = durableFromPairs(pairs)
	case RegistrySchema:
		rec.Kind = KindRegistry
		rec.Registry = registryFromPairs(pairs)
	case ConflictSchema:
		rec.Kind = KindConflict
		rec.Conflict = conflictFromPairs(pairs, obj)
	default:
		return LedgerRecord{}, false
	}
	return rec, true
}

// kv is one member of a decoded flat object.
type kv struct {
	key    string
	val    string // the value when kind is 's'
	kind   byte   // 's' string, 't' true, 'f' false, 'n' null, 'o' other
	truthy bool   // Python truthiness of the value
}

func (p *kv) str() string {
	if p.kind == 's' {
		return p.val
	}
	return ""
}

// isPyASCIISpace reports the ASCII bytes Python's str.isspace accepts.
func isPyASCIISpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)
}

// trimPySpace is Python's str.strip() on a UTF-8 line.
func trimPySpace(b []byte) []byte {
	for len(b) > 0 && isPyASCIISpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isPyASCIISpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && (b[0] >= utf8.RuneSelf || b[len(b)-1] >= utf8.RuneSelf) {
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			if !pyjson.IsSpace(r) {
				break
			}
			b = b[n:]
		}
		for len(b) > 0 {
			r, n := utf8.DecodeLastRune(b)
			if !pyjson.IsSpace(r) {
				break
			}
			b = b[:len(b)-n]
		}
	}
	return b
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanFlat parses s when it is a JSON object whose values are all strings
// without \u escapes, booleans or nulls. ok=false means "not handled
// here", not "invalid": the caller then uses the full parser.
func scanFlat(s string, pairs []kv) ([]kv, bool) {
	i := 0
	ws := func() {
		for i < len(s) && isJSONSpace(s[i]) {
			i++
		}
	}
	ws()
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i++
	ws()
	if i < len(s) && s[i] == '}' {
		i++
		ws()
		return pairs, i == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return nil, false
		}
		key, n, ok := scanString(s, i)
		if !ok {
			return nil, false
		}
		i = n
		ws()
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		ws()
		if i >= len(s) {
			return nil, false
		}
		p := kv{key: key}
		switch s[i] {
		case '"':
			v, n, ok := scanString(s, i)
			if !ok {
				return nil, false
			}
			p.kind, p.val, p.truthy = 's', v, v != ""
			i = n
		case 't':
			if len(s)-i < 4 || s[i:i+4] != "true" {
				return nil, false
			}
			p.kind, p.truthy = 't', true
			i += 4
		case 'f':
			if len(s)-i < 5 || s[i:i+5] != "false" {
				return nil, false
			}
			p.kind = 'f'
			i += 5
		case 'n':
			if len(s)-i < 4 || s[i:i+4] != "null" {
				return nil, false
			}
			p.kind = 'n'
			i += 4
		default:
			return nil, false
		}
		pairs = append(pairs, p)
		ws()
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i++
			ws()
			continue
		case '}':
			i++
			ws()
			return pairs, i == len(s)
		}
		return nil, false
	}
}

// scanString decodes the JSON string starting at s[i] == '"' and returns
// it and the index after its closing quote. A string without escapes is a
// substring of s; \u escapes and anything json.loads would refuse are not
// handled (ok=false).
func scanString(s string, i int) (string, int, bool) {
	j := i + 1
	for j < len(s) && !strSpecial[s[j]] {
		j++
	}
	if j >= len(s) {
		return "", 0, false
	}
	switch s[j] {
	case '"':
		return s[i+1 : j], j + 1, true
	case '\\':
		return scanEscaped(s, i+1, j)
	}
	return "", 0, false // a control character: json.loads refuses it
}

// strSpecial marks the bytes that end a run of plain string bytes.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func scanEscaped(s string, start, j int) (string, int, bool) {
	b := make([]byte, 0, j-start+16)
	b = append(b, s[start:j]...)
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			return string(b), j + 1, true
		case c == '\\':
			if j+1 >= len(s) {
				return "", 0, false
			}
			e, ok := pyjson.SimpleEscape(s[j+1])
			if !ok {
				return "", 0, false
			}
			b = append(b, e)
			j += 2
		case c < 0x20:
			return "", 0, false
		default:
			b = append(b, c)
			j++
		}
	}
	return "", 0, false
}

// objectPairs lists an object's members (each key once, its last value).
func objectPairs(o *pyjson.Object, pairs []kv) []kv {
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		p := kv{key: k, truthy: pyjson.Truthy(v)}
		switch x := v.(type) {
		case string:
			p.kind, p.val = 's', x
		case bool:
			p.kind = 'f'
			if x {
				p.kind = 't'
			}
		case nil:
			p.kind = 'n'
		default:
			p.kind = 'o'
		}
		pairs = append(pairs, p)
	}
	return pairs
}

func optStrPtr(p *kv) *string {
	if p.kind != 's' {
		return nil
	}
	s := p.val
	return &s
}

func durableFromPairs(pairs []kv) *DurableRecord {
	r := &DurableRecord{}
	for i := range pairs {
		p := &pairs[i]
		if f := r.strField(p.key); f != nil {
			*f = p.str()
		} else if p.key == "fallback_callback_cron_id" {
			r.FallbackCallbackCronID = optStrPtr(p)
		}
	}
	return r
}

func registryFromPairs(pairs []kv) *RegistryRecord {
	r := &RegistryRecord{}
	for i := range pairs {
		p := &pairs[i]
		switch p.key {
		case "schema":
			r.Schema = p.str()
		case "task_id":
			r.TaskID = p.str()
		case "dispatch_id":
			r.DispatchID = p.str()
		case "dispatch_cron_id":
			r.DispatchCronID = p.str()
		case "executor":
			r.Executor = p.str()
		case "chat_id":
			r.ChatID = p.str()
		case "normal_collector_cron_id":
			r.NormalCollectorCronID = p.str()
		case "fallback_callback_cron_id":
			r.FallbackCallbackCronID = optStrPtr(p)
		case "role":
			r.Role = p.str()
		case "status":
			r.Status = p.str()
		case "no_fallback":
			r.NoFallback = p.truthy
		case "ts_kst":
			r.TsKST = p.str()
		}
	}
	return r
}

func conflictFromPairs(pairs []kv, obj *pyjson.Object) *ConflictRecord {
	r := &ConflictRecord{}
	for i := range pairs {
		p := &pairs[i]
		switch p.key {
		case "schema":
			r.Schema = p.str()
		case "conflict_id":
			r.ConflictID = p.str()
		case "classification":
			r.Classification = p.str()
		case "task_id":
			r.TaskID = p.str()
		case "track_id":
			r.TrackID = p.str()
		case "batch_id":
			r.BatchID = p.str()
		case "writeback_id":
			r.WritebackID = p.str()
		case "recorded_at":
			r.RecordedAt = p.str()
		}
	}
	if obj == nil {
		return r
	}
	if c, ok := obj.GetObject("candidate"); ok {
		r.Candidate = durableFromPairs(objectPairs(c, nil))
	}
	if v, ok := obj.Get("reasons"); ok {
		if list, ok := v.([]any); ok {
			r.Reasons = make([]string, len(list))
			for i, e := range list {
				if s, ok := e.(string); ok {
					r.Reasons[i] = s
				}
			}
		}
	}
	return r
}
