package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// Benchmark ledgers: records/2 write-backs as the store writes them (a
// durable success followed by its registry mirror), three tracks per
// batch. testdata/seed_bench.py builds the same ledgers for the seed.

var lgBenchSizes = []struct {
	name    string
	records int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

var (
	lgBenchMu    sync.Mutex
	lgBenchBases = map[int][]byte{}
)

func lgBenchTask(i int) (task, track, batch string) {
	return fmt.Sprintf("bench-task-%07d", i), fmt.Sprintf("T%d", i%3+1), fmt.Sprintf("bench-batch-%06d", i/3)
}

// lgBenchBase returns the ledger bytes of a size, generated once per
// process.
func lgBenchBase(b *testing.B, records int) []byte {
	b.Helper()
	lgBenchMu.Lock()
	defer lgBenchMu.Unlock()
	if data, ok := lgBenchBases[records]; ok {
		return data
	}
	buf := make([]byte, 0, records*560)
	cfg := storetest.Config()
	for i := 0; i < records/2; i++ {
		task, track, batch := lgBenchTask(i)
		rec := storetest.Binding(task, track, batch).Record(writeback.DurableSuccessWritten)
		line, err := writeback.EncodeLine(rec)
		if err != nil {
			b.Fatal(err)
		}
		buf = append(buf, line...)
		mirror, problems := writeback.MirrorRecord(rec, cfg)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		if line, err = writeback.EncodeLine(mirror); err != nil {
			b.Fatal(err)
		}
		buf = append(buf, line...)
	}
	lgBenchBases[records] = buf
	return buf
}

// lgBenchRoot writes a fresh copy of the ledger of a size under a new root.
func lgBenchRoot(b *testing.B, records int) string {
	b.Helper()
	data := lgBenchBase(b, records)
	root := b.TempDir()
	path := lgLedgerPath(root)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	// Flushed before timing: the first fsync of a timed append must not
	// write back the whole copy.
	if err := durable.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return root
}

func lgBenchOpen(b *testing.B, root string) *file.Ledger {
	b.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkWriteback: evaluate and apply one new write-back (one group of
// one: flock, catch-up, evaluation against the index, one write + fsync) on
// a ledger of 1k, 100k and 1M records.
func BenchmarkWriteback(b *testing.B) {
	for _, size := range lgBenchSizes {
		b.Run("records="+size.name, func(b *testing.B) {
			l := lgBenchOpen(b, lgBenchRoot(b, size.records))
			i := 0
			cpu0 := lgCPUTime()
			for b.Loop() {
				out, err := l.Writeback(lgCtx, lgReq(storetest.Binding(fmt.Sprintf("new-task-%d", i), "T1", "new-batch")))
				if err != nil || !out.Decision.Appended {
					b.Fatalf("%+v %v", out.Decision, err)
				}
				i++
			}
			b.ReportMetric(float64(lgCPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(l.Stats().Fsyncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkWritebackParallel: 16 writers per CPU in one process, on 100k
// records: group commit shares fsyncs.
func BenchmarkWritebackParallel(b *testing.B) {
	l := lgBenchOpen(b, lgBenchRoot(b, 100_000))
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			out, err := l.Writeback(lgCtx, lgReq(storetest.Binding(fmt.Sprintf("par-task-%d", i), "T1", "par-batch")))
			if err != nil || !out.Decision.Appended {
				b.Errorf("%+v %v", out.Decision, err)
				return
			}
		}
	})
	st := l.Stats()
	b.ReportMetric(float64(st.Fsyncs)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(st.GroupedRequests)/float64(st.Groups), "reqs/group")
}

// BenchmarkEvaluate: a dry-run write-back (evaluation only, no write).
func BenchmarkEvaluate(b *testing.B) {
	for _, size := range lgBenchSizes {
		b.Run("records="+size.name, func(b *testing.B) {
			l := lgBenchOpen(b, lgBenchRoot(b, size.records))
			req := lgReq(storetest.Binding("dry-task", "T1", "dry-batch"))
			req.DryRun = true
			for b.Loop() {
				out, err := l.Writeback(lgCtx, req)
				if err != nil || out.Decision.Classification != writeback.DurableSuccessWritten {
					b.Fatalf("%+v %v", out.Decision, err)
				}
			}
		})
	}
}

// BenchmarkSettle: evaluate the settle of a settled batch of three tracks,
// cycling over 64 batches spread over the ledger whose summaries were
// written before the timer starts (the seed writes no summary; the first
// consolidation's CreateFile, an fsync or two, is timed by
// BenchmarkSettleFirst).
func BenchmarkSettle(b *testing.B) {
	for _, size := range lgBenchSizes {
		b.Run("records="+size.name, func(b *testing.B) {
			l := lgBenchOpen(b, lgBenchRoot(b, size.records))
			batches := size.records / 2 / 3
			settle := func(k int) bool {
				batch, tracks := lgBenchBatch(k)
				res, err := l.Settle(lgCtx, batch, tracks, "T3")
				if err != nil || res.Result.Decision != writeback.AllSettledConsolidate {
					b.Fatalf("%+v %v", res.Result, err)
				}
				return res.FirstConsolidation
			}
			for i := range 64 {
				settle((i * 7919) % batches)
			}
			i := 0
			for b.Loop() {
				if settle((i % 64 * 7919) % batches) {
					b.Fatal("summary written inside the timed loop")
				}
				i++
			}
		})
	}
}

// BenchmarkSettleFirst: the first consolidation of a batch (evaluation +
// the summary's durable CreateFile).
func BenchmarkSettleFirst(b *testing.B) {
	l := lgBenchOpen(b, lgBenchRoot(b, 100_000))
	batches := 100_000 / 2 / 3
	i := 0
	for b.Loop() {
		if i == batches {
			b.Fatal("out of batches")
		}
		batch, tracks := lgBenchBatch(i)
		i++
		res, err := l.Settle(lgCtx, batch, tracks, "T3")
		if err != nil || !res.FirstConsolidation {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

func lgBenchBatch(k int) (string, []writeback.TrackTask) {
	var tracks []writeback.TrackTask
	for t := range 3 {
		task, track, _ := lgBenchTask(3*k + t)
		tracks = append(tracks, writeback.TrackTask{TrackID: track, TaskID: task})
	}
	return fmt.Sprintf("bench-batch-%06d", k), tracks
}

// BenchmarkOpen: open and close, with the persistent index current
// (indexed: the index is checked and its log read; no ledger byte is
// decoded) and without it (scan: one parallel scan of the whole ledger,
// building the index).
func BenchmarkOpen(b *testing.B) {
	for _, size := range lgBenchSizes {
		for _, mode := range []string{"indexed", "indexed-full-log", "scan"} {
			indexed := mode != "scan"
			if !indexed && size.records < 100_000 {
				continue
			}
			b.Run("records="+size.name+"/"+mode, func(b *testing.B) {
				var root string
				if indexed {
					// Cached with a current index (and, for
					// full-log, an index log about to be merged).
					root = lgCachedRoot(b, size.records, mode == "indexed-full-log")
				} else {
					root = lgBenchRoot(b, size.records)
				}
				path := lgLedgerPath(root)
				if mode == "indexed" {
					lgIndexCurrent(b, root)
				}
				cpu0 := lgCPUTime()
				for b.Loop() {
					if !indexed {
						b.StopTimer()
						os.Remove(path + ".idx")
						os.Remove(path + ".idxlog")
						b.StartTimer()
					}
					l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
					if err != nil {
						b.Fatal(err)
					}
					st := l.Stats()
					// A cached ledger holds the write-backs of
					// earlier runs too.
					if got := st.Records[writeback.KindDurable]; got < int64(size.records/2) || got > int64(size.records/2+size.records/100+file.BenchMergeRows()) {
						b.Fatalf("%d durable records", got)
					}
					var total int64
					for _, n := range st.Records {
						total += n
					}
					if indexed && st.IndexLoaded != total {
						b.Fatalf("the index covered %d of %d records", st.IndexLoaded, total)
					}
					b.ReportMetric(float64(st.IndexBytes), "heap-index-B")
					l.Close()
				}
				b.ReportMetric(float64(lgCPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// lgCPUTime is the process's user + system CPU time in ns (the machine
// may be shared: CPU time shows the work, ns/op the wall time).
func lgCPUTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// lgIndexCurrent brings the index of a cached ledger up to date: other
// benchmarks (the seed's write-backs) append behind settle's back, and a
// store saves what it read only with its next write.
func lgIndexCurrent(b *testing.B, root string) {
	b.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	st := l.Stats()
	var total int64
	for _, n := range st.Records {
		total += n
	}
	if st.IndexLoaded != total {
		out, err := l.Writeback(lgCtx, lgReq(storetest.Binding("open-"+lgRun, "T1", "open-batch")))
		if err != nil || !out.Decision.Appended {
			b.Fatalf("%+v %v", out.Decision, err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
