package file_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
)

// BenchmarkNewProcessWritebackEventLog: `settle writeback` of one new
// verdict as a new process on the cached 1M-record ledger, with the event
// log's active file nearly empty (50 events) or nearly full (8,000 of the
// DefaultSegmentEvents a seal takes). The event log is filled, untimed,
// before the first op; each op adds the write-back's own events, so runs
// of -benchtime up to about 40x stay near the state named.
//
// SETTLE_BENCH_BASE_BIN names another settle binary (say, one built from
// main) to run as well, as bin=base, for a same-run reference.
func BenchmarkNewProcessWritebackEventLog(b *testing.B) {
	bins := []struct{ name, path string }{{"this", lgSettleBinary(b)}}
	if p := os.Getenv("SETTLE_BENCH_BASE_BIN"); p != "" {
		bins = append(bins, struct{ name, path string }{"base", p})
	}
	for _, active := range []int{50, 8000} {
		for _, bb := range bins {
			lgBenchEventLog(b, bb.name, bb.path, active)
		}
	}
}

func lgBenchEventLog(b *testing.B, name, bin string, active int) {
	b.Run(fmt.Sprintf("records=1M/active=%d/bin=%s", active, name), func(b *testing.B) {
		root := lgCachedRoot(b, 1_000_000, false)
		warm := lgVerdictFile(b, root, fmt.Sprintf("ev-warm-%s-%d-%s-%d", lgRun, active, name, lgFills))
		lgRunSettle(b, bin, root, "writeback", "--batch", "np-batch", warm)
		lgFillActive(b, root, active)
		// One more write-back, untimed: whatever it leaves behind
		// for the next process (an index of the active file) is
		// what a steady stream of write-backs finds.
		warm = lgVerdictFile(b, root, fmt.Sprintf("ev-warm2-%s-%d-%s-%d", lgRun, active, name, lgFills))
		lgRunSettle(b, bin, root, "writeback", "--batch", "np-batch", warm)
		var cpu time.Duration
		lgFills++ // new task names: a task written back before appends nothing
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			v := lgVerdictFile(b, root, fmt.Sprintf("ev-%s-%d-%s-%d-%d", lgRun, active, name, lgFills, i))
			b.StartTimer()
			_, c := lgRunSettle(b, bin, root, "writeback", "--batch", "np-batch", v)
			cpu += c
		}
		b.StopTimer()
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(lgActiveEvents(b, root)), "active-events-after")
	})
}

// lgActiveEvents counts the events in the active event log file of root.
func lgActiveEvents(b *testing.B, root string) int {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file.EventsRelPath)))
	if err != nil {
		b.Fatal(err)
	}
	n := bytes.Count(data, []byte{'\n'})
	if bytes.HasPrefix(data, []byte(`{"events_floor":`)) {
		n--
	}
	return n
}

// lgFills counts lgFillActive calls: each posts new keys.
var lgFills int

// lgFillActive posts events to root's event log until its active file
// holds exactly n events (sealing a full one first if it holds more).
func lgFillActive(b *testing.B, root string, n int) {
	b.Helper()
	cur := lgActiveEvents(b, root)
	need := n - cur
	if need < 0 {
		need += file.DefaultSegmentEvents
	}
	ev, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: lgQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lgFills++
	for i := range need {
		if err := ev.PostOnce(ctx, fmt.Sprintf("fill-%s-%d-%d", lgRun, lgFills, i), "bench.fill", map[string]any{"i": i, "pad": "settle benchmark event of a typical size, about the size of a recorded write-back's event data"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := ev.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if st := ev.Stats(); st.PostLost > 0 {
		b.Fatalf("%d fill events lost", st.PostLost)
	}
	if err := ev.Close(); err != nil {
		b.Fatal(err)
	}
	if got := lgActiveEvents(b, root); got != n {
		b.Fatalf("active file holds %d events, want %d", got, n)
	}
}

// BenchmarkEventsOpenActive: what a new process spends on the event log
// for one write-back, in process: open the log, AppendOnce one new key,
// close, with 8,000 events in the active file, with its key index
// (keyidx=yes) and without it (keyidx=no: the index is removed before
// each op, so the whole file is read, as before the index existed).
func BenchmarkEventsOpenActive(b *testing.B) {
	for _, keep := range []bool{true, false} {
		name := "keyidx=yes"
		if !keep {
			name = "keyidx=no"
		}
		b.Run("active=8000/"+name, func(b *testing.B) {
			root := b.TempDir()
			ev, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: lgQuiet()})
			if err != nil {
				b.Fatal(err)
			}
			ev.Close()
			lgFillActive(b, root, 8000)
			idx := filepath.Join(root, filepath.FromSlash(file.EventsRelPath)) + ".keyidx"
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !keep {
					b.StopTimer()
					if err := os.Remove(idx); err != nil && !os.IsNotExist(err) {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				ev, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: lgQuiet()})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := ev.AppendOnce(ctx, fmt.Sprintf("open-%d", i), "bench.open", nil); err != nil {
					b.Fatal(err)
				}
				ev.Close()
			}
		})
	}
}
