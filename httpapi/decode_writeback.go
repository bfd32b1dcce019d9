package httpapi

import (
	"encoding/json"
	"net/http"
)

// Write-back bodies are decoded by a scanner of their usual shape before
// encoding/json: a write-back carries a whole verdict document, which
// encoding/json scans twice (once to frame the body, once to skip the raw
// verdict), and at 64 verdicts per request that was a tenth of a batched
// write-back's CPU (BenchmarkDecodeWritebackBatch). The scanner accepts
// only bodies whose meaning leaves encoding/json no choice: members named
// exactly as the fields, each at most once, plain ASCII strings without
// escapes, true or false for dry_run, and raw values that are valid JSON
// (checked at least as strictly as encoding/json checks them). On anything
// else (a binding, an escape, null, a duplicate, another spelling of a
// name, an error) it declines and encoding/json decodes the body, so the
// answer and every error message stay encoding/json's.

// decodeScanned decodes a write-back body (scan: (*wbScanner).body) or a
// batch of them ((*wbScanner).batch), with encoding/json where the scanner
// declines.
func decodeScanned[T any](r *http.Request, dst *T, scan func(*wbScanner, []byte, *T) bool) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var d wbScanner
	if scan(&d, body, dst) {
		return nil
	}
	var zero T
	*dst = zero
	return decodeStrict(body, dst)
}

// maxFastDepth bounds the nesting the scanner follows (encoding/json
// allows 10,000; deeper bodies are declined, not refused).
const maxFastDepth = 256

type wbScanner struct {
	b []byte
	i int
}

func (d *wbScanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// eat consumes c after whitespace.
func (d *wbScanner) eat(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports that only whitespace is left.
func (d *wbScanner) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// batch scans {"writebacks":[body, ...]}.
func (d *wbScanner) batch(b []byte, dst *WritebackBatchBody) bool {
	d.b, d.i = b, 0
	if !d.eat('{') {
		return false
	}
	if k, ok := d.plain(); !ok || string(k) != "writebacks" || !d.eat(':') || !d.eat('[') {
		return false
	}
	dst.Writebacks = make([]WritebackBody, 0, 64)
	if !d.eat(']') {
		for {
			dst.Writebacks = append(dst.Writebacks, WritebackBody{})
			if !d.object(&dst.Writebacks[len(dst.Writebacks)-1]) {
				return false
			}
			if d.eat(']') {
				break
			}
			if !d.eat(',') {
				return false
			}
		}
	}
	return d.eat('}') && d.end()
}

// body scans one write-back body as the whole document.
func (d *wbScanner) body(b []byte, dst *WritebackBody) bool {
	d.b, d.i = b, 0
	return d.object(dst) && d.end()
}

// object scans one write-back body object.
func (d *wbScanner) object(dst *WritebackBody) bool {
	if !d.eat('{') {
		return false
	}
	if d.eat('}') {
		return true
	}
	var seen uint8
	for {
		k, ok := d.plain()
		if !ok || !d.eat(':') {
			return false
		}
		var bit uint8
		switch string(k) {
		case "verdict":
			bit, ok = 1, d.rawInto(&dst.Verdict)
		case "source_path":
			bit, ok = 2, d.stringInto(&dst.SourcePath)
		case "batch_id":
			bit, ok = 4, d.stringInto(&dst.BatchID)
		case "track_id":
			bit, ok = 8, d.stringInto(&dst.TrackID)
		case "executor_key":
			bit, ok = 16, d.stringInto(&dst.ExecutorKey)
		case "expected":
			bit, ok = 32, d.rawInto(&dst.Expected)
		case "dry_run":
			bit, ok = 64, d.boolInto(&dst.DryRun)
		default:
			return false // binding, or a name encoding/json may fold
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.eat('}') {
			return true
		}
		if !d.eat(',') {
			return false
		}
	}
}

// stringInto scans a string of printable ASCII without escapes into dst.
func (d *wbScanner) stringInto(dst *string) bool {
	b, ok := d.plain()
	*dst = string(b)
	return ok
}

// plain scans a string of printable ASCII without escapes and returns its
// content, aliasing the body.
func (d *wbScanner) plain() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			d.i++
			return d.b[start : d.i-1], true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return nil, false
		}
		d.i++
	}
	return nil, false
}

func (d *wbScanner) boolInto(dst *bool) bool {
	d.ws()
	switch {
	case hasAt(d.b, d.i, "true"):
		d.i += 4
		*dst = true
		return true
	case hasAt(d.b, d.i, "false"):
		d.i += 5
		*dst = false
		return true
	}
	return false
}

func hasAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// rawInto scans one JSON value other than null into dst. Its bytes alias
// the body, which the handler read for this request alone.
func (d *wbScanner) rawInto(dst *json.RawMessage) bool {
	d.ws()
	if hasAt(d.b, d.i, "null") {
		return false // a RawMessage of null: encoding/json's call
	}
	start := d.i
	if !d.value(0) {
		return false
	}
	*dst = json.RawMessage(d.b[start:d.i:d.i])
	return true
}

// value skips one JSON value, checking its grammar.
func (d *wbScanner) value(depth int) bool {
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{' || c == '[':
		if depth >= maxFastDepth {
			return false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.i++
		if d.eat(closer) {
			return true
		}
		for {
			if c == '{' {
				d.ws()
				if !d.str() || !d.eat(':') {
					return false
				}
			}
			if !d.value(depth + 1) {
				return false
			}
			if d.eat(closer) {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case hasAt(d.b, d.i, "true"):
		d.i += 4
	case hasAt(d.b, d.i, "false"):
		d.i += 5
	case hasAt(d.b, d.i, "null"):
		d.i += 4
	default:
		return false
	}
	return true
}

// str skips a string: no control characters, only JSON's escapes. Other
// bytes pass, as encoding/json's scanner lets them pass.
func (d *wbScanner) str() bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	d.i++
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return false
			}
			switch d.b[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				if len(d.b)-d.i < 6 {
					return false
				}
				for _, h := range d.b[d.i+2 : d.i+6] {
					if !isHex(h) {
						return false
					}
				}
				d.i += 6
			default:
				return false
			}
		default:
			d.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number skips -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (d *wbScanner) number() bool {
	b := d.b
	if d.i < len(b) && b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(b) && b[d.i] == '0':
		d.i++
	case d.i < len(b) && b[d.i] >= '1' && b[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.i < len(b) && b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return false
		}
	}
	if d.i < len(b) && (b[d.i] == 'e' || b[d.i] == 'E') {
		d.i++
		if d.i < len(b) && (b[d.i] == '+' || b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits skips one or more digits.
func (d *wbScanner) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
