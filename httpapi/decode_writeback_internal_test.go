package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
)

// wbBodySeeds are write-back bodies as clients send them, and the shapes
// the scanner must decline.
var wbBodySeeds = []string{
	`{"verdict":{"authoritative_verdict":"PASS","collector_key":"anu1","collector_role":"ANU","dispatch_id":"d-1","task_id":"t-1","track":"T1","n":[1,-2.5e3,0,true,false,null,{}]},"batch_id":"b-1","track_id":"T1"}`,
	` { "verdict" : { "a" : "x\u00e9\n\"" } , "batch_id" : "b" , "dry_run" : true , "expected" : {"task_id":"t"} } `,
	`{"verdict":{"a":1},"batch_id":"b","source_path":"/tmp/v.json","executor_key":"e","dry_run":false}`,
	`{}`,
	`{"binding":{"collector_key":"k"}}`,
	`{"verdict":null,"batch_id":"b"}`,
	`{"verdict":{},"batch_id":"b","batch_id":"c"}`,
	`{"verdict":{},"Batch_ID":"b"}`,
	`{"verdict":{},"batch_id":"b\u0041"}`,
	`{"verdict":{},"batch_id":"b\u00e9"}`,
	`{"verdict":{},"batch_id":"é"}`,
	`{"verdict":{},"batch_id":"b"} x`,
	`{"verdict":{"a":01},"batch_id":"b"}`,
	`{"verdict":{"a":1.},"batch_id":"b"}`,
	`{"verdict":{"a":NaN},"batch_id":"b"}`,
	`{"verdict":{"a":"\x"},"batch_id":"b"}`,
	`{"verdict":[1,2,],"batch_id":"b"}`,
	`{"verdict":{"a":1,},"batch_id":"b"}`,
	`{"verdict":{"a" 1},"batch_id":"b"}`,
	`{"verdict":"` + "\x01" + `","batch_id":"b"}`,
	`{"verdict":{},"batch_id":1}`,
	`{"verdict":{},"dry_run":"yes"}`,
	`{"verdict":{},"unknown":1}`,
	`[]`,
	``,
	`{"verdict":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
}

// wbBatchSeeds wrap the bodies in batch documents.
func wbBatchSeeds() []string {
	out := []string{`{"writebacks":[]}`, `{"writebacks":null}`, `{"writebacks":[],"x":1}`, `{"Writebacks":[]}`, `{"writebacks":[{}],}`}
	for i := 0; i+1 < len(wbBodySeeds); i++ {
		out = append(out, `{"writebacks":[`+wbBodySeeds[i]+`,`+wbBodySeeds[i+1]+`]}`)
	}
	return out
}

// checkScan: whenever the scanner accepts a body, encoding/json accepts
// it too and decodes the same value.
func checkScan[T any](t *testing.T, body []byte, scan func(*wbScanner, []byte, *T) bool) (fast bool) {
	t.Helper()
	var got, want T
	var d wbScanner
	if !scan(&d, body, &got) {
		return false
	}
	if err := decodeStrict(body, &want); err != nil {
		t.Fatalf("scanner accepted %q, encoding/json refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q\nscanner       %+v\nencoding/json %+v", body, got, want)
	}
	return true
}

func checkWritebackDecode(t *testing.T, body []byte) bool {
	t.Helper()
	return checkScan(t, body, (*wbScanner).body)
}

func checkWritebackBatchDecode(t *testing.T, body []byte) bool {
	t.Helper()
	return checkScan(t, body, (*wbScanner).batch)
}

// mutate changes body at random: a byte replaced, removed or inserted, or
// a JSON token spliced in.
func mutate(rng *rand.Rand, body []byte) []byte {
	b := bytes.Clone(body)
	tokens := []string{`"`, `\`, `\u00`, `null`, `,`, `:`, `{`, `}`, `[`, `]`, ` `, `-`, `0`, `1e5`, `.`, `"batch_id":"x",`, `"dry_run":true,`, "\x00", "\xff", `true`}
	for n := 1 + rng.IntN(3); n > 0; n-- {
		i := 0
		if len(b) > 0 {
			i = rng.IntN(len(b) + 1)
		}
		switch rng.IntN(4) {
		case 0:
			if i < len(b) {
				b[i] = byte(rng.IntN(128))
			}
		case 1:
			if i < len(b) {
				b = append(b[:i], b[i+1:]...)
			}
		default:
			tok := tokens[rng.IntN(len(tokens))]
			b = append(b[:i], append([]byte(tok), b[i:]...)...)
		}
	}
	return b
}

// TestDecodeWritebackMatchesEncodingJSON: the seeds, then random mutations
// of them; every body the scanner accepts decodes as encoding/json decodes
// it, and the usual bodies take the scanner.
func TestDecodeWritebackMatchesEncodingJSON(t *testing.T) {
	for i, s := range wbBodySeeds {
		fast := checkWritebackDecode(t, []byte(s))
		if i < 4 && !fast {
			t.Errorf("seed %d declined: %s", i, s)
		}
		if i >= 4 && fast {
			t.Errorf("seed %d accepted, but encoding/json must decide it: %s", i, s)
		}
	}
	batches := wbBatchSeeds()
	for i, s := range batches {
		fast := checkWritebackBatchDecode(t, []byte(s))
		if want := i == 0 || (i >= 5 && i < 8); fast != want {
			t.Errorf("batch seed %d: scanner took it %v, want %v: %s", i, fast, want, s)
		}
	}
	seed := testenv.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)))
	var accepted, tried int
	for range 20000 {
		if rng.IntN(2) == 0 {
			body := mutate(rng, []byte(wbBodySeeds[rng.IntN(len(wbBodySeeds))]))
			if checkWritebackDecode(t, body) {
				accepted++
			}
		} else {
			body := mutate(rng, []byte(batches[rng.IntN(len(batches))]))
			if checkWritebackBatchDecode(t, body) {
				accepted++
			}
		}
		tried++
	}
	if accepted == 0 {
		t.Fatal("no mutated body was accepted: the differential checks nothing")
	}
	t.Logf("%d of %d mutated bodies decoded by the scanner, all as encoding/json", accepted, tried)
}

func FuzzDecodeWriteback(f *testing.F) {
	for _, s := range wbBodySeeds {
		f.Add([]byte(s))
	}
	for _, s := range wbBatchSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkWritebackDecode(t, body)
		checkWritebackBatchDecode(t, body)
	})
}

// benchBatchBody is a batch of 64 write-backs as the load generator sends.
func benchBatchBody() []byte {
	var b bytes.Buffer
	b.WriteString(`{"writebacks":[`)
	for i := range 64 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(wbBodySeeds[0])
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodeWritebackBatch: the scanner against encoding/json on a
// batch of 64 write-backs.
func BenchmarkDecodeWritebackBatch(b *testing.B) {
	body := benchBatchBody()
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var dst WritebackBatchBody
			var d wbScanner
			if !d.batch(body, &dst) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var dst WritebackBatchBody
			if err := decodeStrict(body, &dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The raw verdict the scanner returns is the body's bytes, as encoding/json
// keeps them (whitespace inside included).
func TestDecodeWritebackKeepsRawBytes(t *testing.T) {
	body := []byte(`{"verdict": { "a" : [ 1 , 2 ] } ,"batch_id":"b"}`)
	var got WritebackBody
	var d wbScanner
	if !d.body(body, &got) {
		t.Fatal("declined")
	}
	if want := `{ "a" : [ 1 , 2 ] }`; string(got.Verdict) != want {
		t.Fatalf("verdict %q, want %q", got.Verdict, want)
	}
	if !json.Valid(got.Verdict) {
		t.Fatal("invalid raw verdict")
	}
}
