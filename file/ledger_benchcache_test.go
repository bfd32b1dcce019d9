package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/storetest"
)

// Benchmark ledgers of 1M records take tens of seconds to write and index,
// so the new-process benchmarks keep them across runs in a cache directory
// (SETTLE_BENCH_CACHE, default <tmp>/settle-bench-cache), one per size,
// variant and index format. A cached ledger grows by the write-backs each
// run makes (a few hundred records, each to a new task: the size stays
// within 0.1% of its name at 1M). Remove the directory to start afresh.

// lgCacheDir is the cache directory.
func lgCacheDir() string {
	if d := os.Getenv("SETTLE_BENCH_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "settle-bench-cache")
}

var lgCacheMu sync.Mutex

// lgCachedRoot returns the cached root of a benchmark ledger of a size with
// a current index, building it the first time. With fullLog, the index log
// also holds about as many records as it does just before a merge (the
// root is then only read, never written, by the benchmarks).
func lgCachedRoot(b *testing.B, records int, fullLog bool) string {
	b.Helper()
	lgCacheMu.Lock()
	defer lgCacheMu.Unlock()
	name := fmt.Sprintf("%s-%d", file.BenchIndexFormat, records)
	if fullLog {
		name += fmt.Sprintf("-log%d", file.BenchMergeRows())
	}
	root := filepath.Join(lgCacheDir(), name)
	if _, err := os.Stat(lgLedgerPath(root)); err == nil {
		return root
	}
	if err := os.MkdirAll(lgCacheDir(), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Logf("building the cached %d-record ledger %s (once)", records, root)
	tmp, err := os.MkdirTemp(lgCacheDir(), "build-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	path := lgLedgerPath(tmp)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, lgBenchBase(b, records), 0o644); err != nil {
		b.Fatal(err)
	}
	// The first store indexes the ledger and saves the index.
	l, err := file.OpenLedger(file.LedgerOptions{Root: tmp, Config: storetest.Config(), Logger: lgQuiet()})
	if err != nil {
		b.Fatal(err)
	}
	if fullLog {
		// Write-backs until the log holds all but a few records of a
		// merge; each write-back appends two records and a log frame.
		n := file.BenchMergeRows()/2 - 8
		for i := 0; i < n; i++ {
			out, err := l.Writeback(context.Background(), lgReq(storetest.Binding(fmt.Sprintf("log-task-%d", i), "T1", "log-batch")))
			if err != nil || !out.Decision.Appended {
				b.Fatalf("%+v %v", out.Decision, err)
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if fullLog {
		fi, err := os.Stat(path + ".idxlog")
		if err != nil || fi.Size() < int64(file.BenchMergeRows())*20 {
			b.Fatalf("the index log is not full: %v %v", fi, err)
		}
	}
	// The index names the ledger by inode: the directory is renamed into
	// place, never copied.
	if err := os.Rename(tmp, root); err != nil {
		if _, serr := os.Stat(lgLedgerPath(root)); serr != nil {
			b.Fatal(err)
		} // another process built it meanwhile
	}
	return root
}
