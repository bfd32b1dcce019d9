package file

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// ixmCPU returns the process's user + system time so far.
func ixmCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexBaseMerge: the rewrite of a base of 100k or 1M records
// (a file, read as a store reads it) with the mergeRows records after it,
// as a group commit does every mergeRows records. "oracle" and "merge" time
// the reference and the current writeBaseTo into io.Discard (ns/op per
// rewrite; ns/base-record; MB/s of the base read); "writeBase" is the whole
// rewrite into the store's file (fsyncs, reopen and new log included), with
// its CPU time (cpu-ns/op).
func BenchmarkIndexBaseMerge(b *testing.B) {
	ixmEachBase(b, func(b *testing.B, n int, x *Index, delta []ientry, rows []irow, ents []ientry) {
		basePath := x.b.f.Name()
		for _, impl := range []string{"oracle", "merge", "writeBase"} {
			b.Run(impl, func(b *testing.B) {
				b.SetBytes(x.b.size())
				b.ReportAllocs()
				cpu0 := ixmCPU(b)
				b.ResetTimer()
				for range b.N {
					cp := ledgerCheckpoint{Off: int64(x.len()) * 300, Recs: int64(x.len())}
					var err error
					switch impl {
					case "oracle":
						err = x.writeBaseToOracle(io.Discard, 42, &cp, delta)
					case "merge":
						err = x.writeBaseTo(io.Discard, 42, &cp, delta)
					case "writeBase":
						b.StopTimer()
						old := x.b
						f, ferr := os.Open(basePath)
						if ferr != nil {
							b.Fatal(ferr)
						}
						nb, perr := parseBase(f, old.size())
						if perr != nil {
							b.Fatal(perr)
						}
						nb.f = f
						x.b = nb
						x.rows, x.ents = slices.Clone(rows), slices.Clone(ents)
						cp = ledgerCheckpoint{Off: int64(x.len()) * 300, Recs: int64(x.len())}
						b.StartTimer()
						err = x.writeBase(&cp)
						b.StopTimer()
						// writeBase replaced and closed the base read: the next
						// rewrite starts from the same base again.
						x.b.close()
						x.b = old
						b.StartTimer()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/base-record")
				b.ReportMetric(float64((ixmCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	})
}

// BenchmarkIndexMergePause: how long a save holds the ledger's lock for
// a base rewrite of a base of 100k or 1M records with the mergeRows
// records after it. "in-place" rewrites the base in the save (the whole
// rewrite is under the lock); "background" starts a background merge
// (under the lock: copies of the records after the base) and, once it
// has ended, installs it (under the lock: two renames, one directory
// fsync, the new log's frame). ns/op is the time under the lock;
// merge-ns/op the background merge's own time, off the lock.
func BenchmarkIndexMergePause(b *testing.B) {
	ixmEachBase(b, func(b *testing.B, n int, x *Index, _ []ientry, rows []irow, ents []ientry) {
		src, err := os.ReadFile(x.b.f.Name())
		if err != nil {
			b.Fatal(err)
		}
		x.b.close()
		for _, mode := range []string{"in-place", "background"} {
			b.Run(mode, func(b *testing.B) {
				var merge time.Duration
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					if err := os.WriteFile(x.path, src, 0o644); err != nil {
						b.Fatal(err)
					}
					os.Remove(x.logPath)
					nb, err := openBase(x.path)
					if err != nil {
						b.Fatal(err)
					}
					x.b, x.rows, x.ents, x.logLen = nb, slices.Clone(rows), slices.Clone(ents), 0
					cp := ledgerCheckpoint{Off: int64(x.len()) * 300, Recs: int64(x.len())}
					b.StartTimer()
					if mode == "in-place" {
						err = x.writeBase(&cp)
					} else {
						err = x.startMerge(&cp)
						m := x.merge
						b.StopTimer()
						if err == nil {
							<-m.done
							merge += m.took
						}
						b.StartTimer()
						if err == nil {
							var done bool
							done, err = x.installMerge(m, &cp)
							if err == nil && !done {
								err = fmt.Errorf("merge not installed")
							}
						}
					}
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					x.b.close()
					b.StartTimer()
				}
				if mode == "background" {
					b.ReportMetric(float64(merge.Nanoseconds())/float64(b.N), "merge-ns/op")
				}
			})
		}
	})
}

// ixmEachBase runs f on a base file of 100k and of 1M records with the
// mergeRows records after it (delta: their entries, sorted; rows and ents:
// copies of the index's, for resetting it), the index's files named in the
// same fresh directory.
func ixmEachBase(b *testing.B, f func(b *testing.B, n int, x *Index, delta []ientry, rows []irow, ents []ientry)) {
	for _, n := range []int{100_000, 1_000_000} {
		name := fmt.Sprintf("%dk", n/1000)
		if n >= 1_000_000 {
			name = fmt.Sprintf("%dM", n/1_000_000)
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			x, delta := ixmBuild(b, rand.New(rand.NewSource(1)), n, mergeRows, ixmShape{}, dir)
			x.path, x.logPath = filepath.Join(dir, "ledger"+idxSuffix), filepath.Join(dir, "ledger"+logSuffix)
			f(b, n, x, delta, slices.Clone(x.rows), slices.Clone(x.ents))
		})
	}
}
