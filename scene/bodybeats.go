package scene

import (
	"bytes"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// A status write changes a take or two and writes the whole body again.
// encodeBodyBeats writes each beat apart and remembers where its bytes
// lie, so that the next write of the same body copies the bytes of every
// beat that is written as before instead of encoding it again: the body
// is indent=2 JSON, in which a beat's bytes depend on the beat alone.

// beatSpan is where one beat's bytes lie in an encoded body.
type beatSpan struct{ start, end int }

// beatsMarker is the body's beats member with no beats, as the encoder
// writes it: the top-level members are on lines indented by two spaces,
// deeper ones by four or more, and no string holds a raw newline, so it
// occurs once.
var beatsMarker = []byte("\n  \"beats\": []")

// beatIndent indents a beat's lines in the body: it is written at level
// 2 (the body's object, its beats list, the beat).
const beatIndent = "    "

// encodeBodyBeats is encodeBody, which it writes byte for byte, with the
// span of each beat's bytes in the result. reuse(i), when not nil and not
// returning nil, gives beat i's bytes as an earlier encodeBodyBeats wrote
// them for a beat written as this one (so within the limits).
func encodeBodyBeats(sc *Scene, sizeHint int, reuse func(i int) []byte) ([]byte, []beatSpan, error) {
	if sc == nil {
		return nil, nil, settle.Errorf(settle.InvalidInput, "encode scene body: nil scene")
	}
	top := sc.toTreeBeats(shareValue, []any{})
	trees := make([]*pyjson.Object, len(sc.Beats))
	reused := make([][]byte, len(sc.Beats))
	for i, b := range sc.Beats {
		if reuse != nil {
			if r := reuse(i); r != nil {
				reused[i] = r
				continue
			}
		}
		trees[i] = b.toTree(shareValue)
	}
	if err := checkBeatsLimits(sc, top, trees); err != nil {
		return nil, nil, settle.Wrap(settle.InvalidInput, err, "encode scene body")
	}
	var buf []byte
	if sizeHint > 0 {
		buf = make([]byte, 0, sizeHint+sizeHint/16+512)
	}
	out, err := appendBodyTree(buf, top)
	if err != nil {
		return nil, nil, err
	}
	spans := make([]beatSpan, len(sc.Beats))
	if len(sc.Beats) == 0 {
		return out, spans, nil
	}
	at := bytes.Index(out, beatsMarker)
	if at < 0 {
		return nil, nil, settle.Errorf(settle.Internal, "encode scene body: no beats member")
	}
	at += len(beatsMarker) - len("[]")
	tail := append([]byte(nil), out[at+len("[]"):]...)
	out = append(out[:at], '[')
	var one []byte
	for i := range sc.Beats {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '\n')
		out = append(out, beatIndent...)
		start := len(out)
		if reused[i] != nil {
			out = append(out, reused[i]...)
		} else {
			if one, err = pyjson.AppendEncode(one[:0], trees[i], bodyOptions); err != nil {
				return nil, nil, settle.Wrap(settle.InvalidInput, err, "encode scene body")
			}
			out = appendIndented(out, one, beatIndent)
		}
		spans[i] = beatSpan{start, len(out)}
	}
	out = append(out, "\n  ]"...)
	out = append(out, tail...)
	if len(out) > settle.MaxSceneBytes {
		return nil, nil, settle.Wrap(settle.InvalidInput, settle.LimitError("MaxSceneBytes", settle.MaxSceneBytes, "scene body of %d bytes", len(out)), "encode scene body")
	}
	return out, spans, nil
}

// checkBeatsLimits is checkBodyLimits on the body top (whose beats are
// empty) with the beats trees (nil: a reused beat, within the limits when
// first written, at the same depth), in the same order and with the same
// errors.
func checkBeatsLimits(sc *Scene, top *pyjson.Object, trees []*pyjson.Object) error {
	exceeds := pyjson.DepthExceeds(top, settle.MaxJSONDepth)
	for _, t := range trees {
		if exceeds {
			break
		}
		if t != nil {
			// The beat at its depth in the body: body, beats, beat.
			w := pyjson.NewObjectSize(1)
			w.Set("beats", []any{t})
			exceeds = pyjson.DepthExceeds(w, settle.MaxJSONDepth)
		}
	}
	if exceeds {
		return settle.LimitError("MaxJSONDepth", settle.MaxJSONDepth, "scene nesting")
	}
	if len(sc.Beats) > settle.MaxBeats {
		return settle.LimitError("MaxBeats", settle.MaxBeats, "scene of %d beats", len(sc.Beats))
	}
	for i, b := range sc.Beats {
		if len(b.Takes) > settle.MaxTakesPerBeat {
			return settle.LimitError("MaxTakesPerBeat", settle.MaxTakesPerBeat, "beat %d of %d takes", i, len(b.Takes))
		}
	}
	return nil
}

// appendIndented appends src to dst with indent after every newline: a
// value written at level 0 moved down to the level of indent. A newline
// in the encoder's output is always a line break (strings escape theirs).
func appendIndented(dst, src []byte, indent string) []byte {
	for {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i+1]...)
		dst = append(dst, indent...)
		src = src[i+1:]
	}
}

// sameBeat reports whether b is written exactly as a (false may still be
// the same bytes: the caller then encodes b).
func sameBeat(a, b *Beat) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.BeatID != b.BeatID || a.Approved != b.Approved ||
		!sameStr(a.PrimaryTakeID, b.PrimaryTakeID) ||
		!sameWritten(a.MaxTakes, b.MaxTakes) || !sameWritten(a.PhantomRecoveryCount, b.PhantomRecoveryCount) ||
		!sameWritten(a.Board, b.Board) || !sameObject(a.BeatMetadata, b.BeatMetadata) ||
		!sameMembers(a.Extra, b.Extra) || len(a.Takes) != len(b.Takes) {
		return false
	}
	for i, at := range a.Takes {
		if !sameTake(at, b.Takes[i]) {
			return false
		}
	}
	return true
}

func sameTake(a, b *Take) bool {
	if a == b {
		return true
	}
	return a != nil && b != nil && a.TakeID == b.TakeID && a.Status == b.Status &&
		sameStr(a.CreatedAt, b.CreatedAt) && sameStr(a.StartedAt, b.StartedAt) &&
		sameStr(a.FinishedAt, b.FinishedAt) && sameStr(a.ArtifactPath, b.ArtifactPath) &&
		sameStr(a.Error, b.Error) && sameWritten(a.Receipt, b.Receipt) && sameMembers(a.Extra, b.Extra)
}

func sameStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameMembers(a, b []Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !sameWritten(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// sameObject is sameWritten for two objects, nil included (both nil:
// written alike).
func sameObject(a, b *pyjson.Object) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameWritten(a, b)
}

// sameWritten reports whether a and b are written as the same bytes
// without sort_keys: objects member by member in order (see jsonEqual).
func sameWritten(a, b any) bool { return jsonEqual(a, b, eqWritten) }
