package httpapi

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/settlehq/settle/writeback"
)

// The hand-written appenders must write exactly json.Marshal's bytes, and
// must be updated when a struct gains a field.
func TestFastJSONMatchesMarshal(t *testing.T) {
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[writeback.DurableRecord](): 19,
		reflect.TypeFor[writeback.Decision]():      9,
		reflect.TypeFor[RecordedData]():            9,
	} {
		if typ.NumField() != fields {
			t.Fatalf("%v has %d fields, the appender writes %d: update httpapi/fastjson.go", typ, typ.NumField(), fields)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		const pick = "aZ09<>&\"\\\n\t\x01\xff\xe2\x80\xa8é日_-:/"
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = pick[r.IntN(len(pick))]
		}
		return string(b)
	}
	for i := range 3000 {
		rec := &writeback.DurableRecord{}
		v := reflect.ValueOf(rec).Elem()
		for f := range v.NumField() {
			switch fv := v.Field(f); fv.Kind() {
			case reflect.String:
				fv.SetString(str())
			case reflect.Pointer:
				if r.IntN(2) == 0 {
					s := str()
					fv.Set(reflect.ValueOf(&s))
				}
			}
		}
		d := &writeback.Decision{Schema: str(), Verdict: str(), Classification: str(), TaskID: str(), TrackID: str(),
			BatchID: str(), Appended: r.IntN(2) == 0}
		if i%3 != 0 {
			d.DurableRecord = rec
		}
		switch i % 4 {
		case 1:
			d.Reasons = []string{}
		case 2, 3:
			d.Reasons = []string{str(), str()}
		}
		want, _ := json.Marshal(d)
		if got := appendDecision(nil, d); string(got) != string(want) {
			t.Fatalf("decision:\n got %s\nwant %s", got, want)
		}
		rd := &RecordedData{WritebackID: str(), TaskID: str(), TrackID: str(), BatchID: str(), DispatchID: str(),
			CollectorKey: str(), AuthoritativeVerdict: str(), CompletedAt: str()}
		if i%2 == 0 {
			rd.Principal = str()
		}
		want, _ = json.Marshal(rd)
		if got := appendRecorded(nil, rd); string(got) != string(want) {
			t.Fatalf("recorded:\n got %s\nwant %s", got, want)
		}
	}
}
