package writeback_test

import (
	"fmt"
	"testing"

	"github.com/settlehq/settle/writeback"
)

// The per-write-back domain work of the file store's group commit:
// Evaluate, MirrorRecord, EncodeLine of the durable record and of its
// mirror, and MemView.Add of both, on a view that already holds
// domainBenchRecords records (domainBenchRecords/2 write-backs).

const domainBenchRecords = 100_000

// domainBinding is the clean binding of write-back i: three tracks per
// batch, one task per track, as the HTTP benchmark writes them.
func domainBinding(i int) writeback.Binding {
	b := cleanBinding()
	b.TaskID = fmt.Sprintf("task-%07d", i)
	b.TrackID = fmt.Sprintf("T%d", i%3+1)
	b.BatchID = fmt.Sprintf("batch-%06d", i/3)
	b.DispatchID = "disp-" + b.TaskID
	b.NormalCollectorCronID = "ncc-" + b.TaskID
	b.SourceResultPath = "verdicts/" + b.TaskID + ".json"
	return b
}

// domainRecords returns write-back i's durable record and registry mirror
// as the store indexes them (decoded from their lines).
func domainRecords(b *testing.B, i int) (writeback.LedgerRecord, writeback.LedgerRecord) {
	b.Helper()
	rec := domainBinding(i).Record(writeback.DurableSuccessWritten)
	mirror, problems := writeback.MirrorRecord(rec, testConfig)
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	var out [2]writeback.LedgerRecord
	for j, v := range []any{rec, &mirror} {
		line, err := writeback.EncodeLine(v)
		if err != nil {
			b.Fatal(err)
		}
		r, ok := writeback.DecodeLine(line)
		if !ok {
			b.Fatalf("line %q not decoded", line)
		}
		r.Seq = int64(2*i + j)
		r.Raw = nil
		out[j] = r
	}
	return out[0], out[1]
}

var lineSink []byte

var domainViewCache *writeback.MemView

// domainView returns a view of domainBenchRecords records, shared by the
// benchmarks that only read it.
func domainView(b *testing.B) *writeback.MemView {
	b.Helper()
	if domainViewCache == nil {
		domainViewCache = newDomainView(b)
	}
	return domainViewCache
}

// newDomainView returns a new view of domainBenchRecords records, presized
// for them.
func newDomainView(b *testing.B) *writeback.MemView {
	b.Helper()
	v := writeback.NewMemView()
	v.Presize(domainBenchRecords)
	for i := 0; i < domainBenchRecords/2; i++ {
		d, r := domainRecords(b, i)
		v.Add(d)
		v.Add(r)
	}
	return v
}

func BenchmarkDomainEncodeLine(b *testing.B) {
	rec := domainBinding(domainBenchRecords).Record(writeback.DurableSuccessWritten)
	mirror, _ := writeback.MirrorRecord(rec, testConfig)
	fb := "fallback-cron"
	withFB := *rec
	withFB.FallbackCallbackCronID = &fb
	for _, c := range []struct {
		name string
		v    any
	}{
		{"durable", rec},
		{"durable_fallback", &withFB},
		{"registry", &mirror},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				line, err := writeback.EncodeLine(c.v)
				if err != nil {
					b.Fatal(err)
				}
				lineSink = line
			}
		})
	}
}

// BenchmarkDomainAppendLine appends a write-back's two lines to a reused
// buffer, as a group commit can.
func BenchmarkDomainAppendLine(b *testing.B) {
	rec := domainBinding(domainBenchRecords).Record(writeback.DurableSuccessWritten)
	mirror, _ := writeback.MirrorRecord(rec, testConfig)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = writeback.AppendLine(buf[:0], rec); err != nil {
			b.Fatal(err)
		}
		if buf, err = writeback.AppendLine(buf, &mirror); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDomainEvaluate(b *testing.B) {
	v := domainView(b)
	req := writeback.WritebackRequest{Binding: domainBinding(domainBenchRecords)}
	d := writeback.Evaluate(req, testConfig, v)
	if d.Classification != writeback.DurableSuccessWritten {
		b.Fatalf("fresh write-back: %s %v", d.Classification, d.Reasons)
	}
	replay := writeback.WritebackRequest{Binding: domainBinding(7)}
	if d := writeback.Evaluate(replay, testConfig, v); d.Classification != writeback.WritebackIdempotentSkip {
		b.Fatalf("replay: %s %v", d.Classification, d.Reasons)
	}
	for _, c := range []struct {
		name string
		req  writeback.WritebackRequest
	}{
		{"fresh", req},
		{"replay", replay},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				writeback.Evaluate(c.req, testConfig, v)
			}
		})
	}
}

func BenchmarkDomainMirrorRecord(b *testing.B) {
	rec := domainBinding(domainBenchRecords).Record(writeback.DurableSuccessWritten)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, problems := writeback.MirrorRecord(rec, testConfig); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

// BenchmarkDomainMemViewAdd adds a write-back's two records (one op) to a
// view that starts with domainBenchRecords records.
func BenchmarkDomainMemViewAdd(b *testing.B) {
	v := newDomainView(b)
	recs := make([][2]writeback.LedgerRecord, b.N)
	for i := range recs {
		recs[i][0], recs[i][1] = domainRecords(b, domainBenchRecords/2+i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range recs {
		v.Add(recs[i][0])
		v.Add(recs[i][1])
	}
}

// BenchmarkDomainWriteback is the whole per-write-back domain work of a
// group commit, as file.Ledger.apply and commit do it (the view grows).
func BenchmarkDomainWriteback(b *testing.B) {
	v := newDomainView(b)
	reqs := make([]writeback.WritebackRequest, b.N)
	for i := range reqs {
		reqs[i].Binding = domainBinding(domainBenchRecords/2 + i)
	}
	seq := int64(domainBenchRecords)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range reqs {
		d := writeback.Evaluate(reqs[i], testConfig, v)
		if !writeback.ShouldApply(&d) {
			b.Fatalf("not applied: %s %v", d.Classification, d.Reasons)
		}
		rec := *d.DurableRecord
		line1, err := writeback.EncodeLine(&rec)
		if err != nil {
			b.Fatal(err)
		}
		mirror, problems := writeback.MirrorRecord(&rec, testConfig)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		line2, err := writeback.EncodeLine(&mirror)
		if err != nil {
			b.Fatal(err)
		}
		writeback.MarkApplied(&d, problems)
		v.Add(writeback.LedgerRecord{Seq: seq, Kind: writeback.KindDurable, Durable: &rec, Raw: line1[:len(line1)-1]})
		v.Add(writeback.LedgerRecord{Seq: seq + 1, Kind: writeback.KindRegistry, Registry: &mirror, Raw: line2[:len(line2)-1]})
		seq += 2
	}
}
