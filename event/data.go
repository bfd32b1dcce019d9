package event

import (
	"bytes"
	"encoding/json"

	settle "github.com/settlehq/settle"
)

// jsonAppender is event data that encodes itself as json.Marshal would,
// without reflection (derive.RecordedData).
type jsonAppender interface{ AppendJSON(dst []byte) []byte }

// EncodeData is an event's data as every log stores it: compact JSON. A
// json.RawMessage or []byte is taken as JSON and compacted (empty: null);
// data with an AppendJSON method is taken as it encodes itself; anything
// else is json.Marshal's. Errors: InvalidInput.
func EncodeData(data any) (json.RawMessage, error) {
	var b []byte
	switch v := data.(type) {
	case jsonAppender:
		return v.AppendJSON(make([]byte, 0, 384)), nil
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		// json.Marshal's output is compact and valid already.
		b, err := json.Marshal(data)
		if err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "event data")
		}
		return b, nil
	}
	if len(b) == 0 {
		b = []byte("null")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "event data is not JSON")
	}
	return buf.Bytes(), nil
}
