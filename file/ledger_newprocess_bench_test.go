package file_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
)

// The new-process benchmarks run the settle binary as the seed's pipelines
// do: one process per verdict. Each reports the wall time of the process
// itself (ns/op: exec'd directly, from Start to Wait), its CPU time (user +
// system, from the process's own rusage) and its peak resident memory
// (maxrss-KB), taken from separate, untimed runs under /usr/bin/time (see
// lgPeakRSS).

var (
	lgBinOnce sync.Once
	lgBinPath string
	lgBinErr  error
)

// lgSettleBinary builds cmd/settle once per test process.
func lgSettleBinary(b *testing.B) string {
	b.Helper()
	lgBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "settle-bench-bin-")
		if err != nil {
			lgBinErr = err
			return
		}
		lgBinPath = filepath.Join(dir, "settle")
		// As the README builds it: without cgo, a static binary starts
		// about 10 ms faster than one linked against the C library.
		build := exec.Command("go", "build", "-o", lgBinPath, "github.com/settlehq/settle/cmd/settle")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			lgBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if lgBinErr != nil {
		b.Fatal(lgBinErr)
	}
	return lgBinPath
}

// lgVerdictFile writes a verdict file of a new task (the workload of
// testdata/seed_bench.py).
func lgVerdictFile(b *testing.B, root, task string) string {
	b.Helper()
	p := filepath.Join(root, "memory", "results", task+".json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{
		"task_id": task, "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "ts_kst": "2025-11-22T09:00:00+09:00",
		"four_tuple_record": map[string]any{
			"collector_key": storetest.Keys[0], "collector_role": "ANU", "executor_key": "exec000000000001",
			"dispatch_id": "dispatch-" + task, "normal_collector_cron_id": "ncc-" + task,
		},
	})
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// lgEnv is the environment of a benchmarked process on root.
func lgEnv(root string, env []string) []string {
	return append(append(os.Environ(), "SETTLE_ROOT="+root, "SETTLE_COLLECTOR_KEYS="+strings.Join(storetest.Keys, ",")), env...)
}

// lgRunSettle runs the settle binary and returns its wall and CPU time
// (see lgRunDirect).
func lgRunSettle(b *testing.B, bin, root string, args ...string) (time.Duration, time.Duration) {
	b.Helper()
	return lgRunDirect(b, root, nil, bin, args...)
}

// lgRunDirect execs a program directly, with env added to the
// environment, and returns its wall time from Start to Wait and its CPU
// time (user + system: on a loaded machine the wall time mostly measures
// the wait for a core). Nothing else is exec'd: a wrapper such as
// /usr/bin/time would add its own start (about 6 ms here) to the wall time.
func lgRunDirect(b *testing.B, root string, env []string, bin string, args ...string) (time.Duration, time.Duration) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = lgEnv(root, env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", bin, args, err, out.Bytes())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// lgPeakRSS runs a program once more, untimed, under /usr/bin/time and
// returns its peak resident memory in KiB. The rusage of a direct child
// cannot give it: Go starts a child with vfork semantics (the child runs
// in the parent's address space until exec), and the kernel folds the
// high-water RSS of the address space the child leaves at exec into the
// child's maxrss, so it would report this (large) process's memory.
// /usr/bin/time is a small C program: its own address space is what its
// child leaves at exec.
func lgPeakRSS(b *testing.B, root string, env []string, bin string, args ...string) int64 {
	b.Helper()
	rss, _, _ := lgRunUnderTime(b, root, env, bin, args...)
	return rss
}

// lgRunUnderTime runs a program under /usr/bin/time and returns its peak
// RSS (KiB), its elapsed time as /usr/bin/time measured it (from its fork
// to its wait: without /usr/bin/time's own start, to 10 ms) and its CPU
// time.
func lgRunUnderTime(b *testing.B, root string, env []string, bin string, args ...string) (int64, time.Duration, time.Duration) {
	b.Helper()
	timeBin, err := exec.LookPath("time")
	if _, serr := os.Stat("/usr/bin/time"); serr == nil {
		timeBin, err = "/usr/bin/time", nil
	}
	if err != nil {
		b.Skip("no /usr/bin/time to measure the child's peak memory")
	}
	stats := filepath.Join(b.TempDir(), "time")
	cmd := exec.Command(timeBin, append([]string{"-o", stats, "-f", "%M %e %U %S", bin}, args...)...)
	cmd.Env = lgEnv(root, env)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
	data, err := os.ReadFile(stats)
	if err != nil {
		b.Fatal(err)
	}
	var rss int64
	var elapsed, user, sys float64
	if _, err := fmt.Sscanf(string(data), "%d %f %f %f", &rss, &elapsed, &user, &sys); err != nil {
		b.Fatalf("time output %q: %v", data, err)
	}
	return rss, time.Duration(elapsed * float64(time.Second)), time.Duration((user + sys) * float64(time.Second))
}

// lgRun names this run's tasks: the cached ledgers keep the tasks of
// earlier runs, and each write-back must be of a new task.
var lgRun = strconv.FormatInt(time.Now().UnixNano(), 36)

// BenchmarkNewProcessWriteback: `settle writeback` of one new verdict as a
// new process on a ledger of 1k, 100k and 1M records whose index is
// current (cached across runs, see lgCachedRoot; a first, untimed, process
// catches up with what earlier runs appended).
func BenchmarkNewProcessWriteback(b *testing.B) {
	bin := lgSettleBinary(b)
	for _, size := range lgBenchSizes {
		for _, dry := range []bool{false, true} {
			name := "records=" + size.name
			if dry {
				name += "/dry-run"
			}
			b.Run(name, func(b *testing.B) {
				root := lgCachedRoot(b, size.records, false)
				warm := lgVerdictFile(b, root, "np-warm-"+lgRun)
				lgRunSettle(b, bin, root, "writeback", "--batch", "np-batch", warm)
				var maxRSS, sumRSS int64
				var cpu time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					v := lgVerdictFile(b, root, fmt.Sprintf("np-%s-%d", lgRun, i))
					args := []string{"writeback", "--batch", "np-batch", v}
					if dry {
						args = []string{"writeback", "--dry-run", "--batch", "np-batch", v}
					}
					b.StartTimer()
					_, c := lgRunSettle(b, bin, root, args...)
					b.StopTimer()
					cpu += c
					// The same command on another new task, for its
					// peak memory.
					v = lgVerdictFile(b, root, fmt.Sprintf("np-%s-%d-rss", lgRun, i))
					args[len(args)-1] = v
					rss := lgPeakRSS(b, root, nil, bin, args...)
					sumRSS += rss
					maxRSS = max(maxRSS, rss)
					b.StartTimer()
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(sumRSS)/float64(b.N), "maxrss-KB/op")
				b.ReportMetric(float64(maxRSS), "maxrss-KB-max")
			})
		}
	}
}

// BenchmarkNewProcessSeedWriteback: the seed's own write-back of one new
// verdict (evaluate + apply, testdata/seed_writeback.py) as a new Python
// process, on the same cached ledgers as BenchmarkNewProcessWriteback.
// Skipped, with a message, when the seed reference or python3 is absent.
func BenchmarkNewProcessSeedWriteback(b *testing.B) {
	ref := testenv.ReferenceDir(b, "anu_v3/batch_settle_writeback.py")
	py := testenv.Python(b)
	script, err := filepath.Abs(filepath.Join("testdata", "seed_writeback.py"))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range lgBenchSizes {
		b.Run("records="+size.name, func(b *testing.B) {
			root := lgCachedRoot(b, size.records, false)
			var rss int64
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				task := fmt.Sprintf("seed-%s-%d", lgRun, i)
				v := lgVerdictFile(b, root, task)
				env := []string{"REFERENCE_ANU_KEYS=" + strings.Join(storetest.Keys, ",")}
				b.StartTimer()
				_, c := lgRunDirect(b, root, env, py, script, ref, root, v, "np-batch")
				b.StopTimer()
				cpu += c
				if i == 0 {
					// One run for the peak memory: the seed's
					// write-back takes seconds at 1M.
					v = lgVerdictFile(b, root, task+"-rss")
					rss = lgPeakRSS(b, root, env, py, script, ref, root, v, "np-batch")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(rss), "maxrss-KB/op")
			b.ReportMetric(float64(rss), "maxrss-KB-max")
		})
	}
}

// BenchmarkNewProcessMerge: the one `settle writeback` in about 4,000
// whose index log is full and which merges it into the base (rewriting the
// whole base file), on a 1M-record ledger. Each op runs write-backs on the
// cached full-log ledger until one merges and reports that one (ns/op is
// reported as merge-wall-ns/op); the merged ledger is then removed from the cache (a next
// op or run builds it again, untimed).
func BenchmarkNewProcessMerge(b *testing.B) {
	bin := lgSettleBinary(b)
	var maxRSS int64
	var cpu, mergeWall time.Duration
	b.StopTimer() // ns/op is not the figure: merge-wall-ns/op is
	for i := 0; i < b.N; i++ {
		root := lgCachedRoot(b, 1_000_000, true)
		logPath := lgLedgerPath(root) + ".idxlog"
		merged := false
		for j := 0; j < 64 && !merged; j++ {
			before, err := os.Stat(logPath)
			if err != nil {
				b.Fatal(err)
			}
			v := lgVerdictFile(b, root, fmt.Sprintf("merge-%s-%d-%d", lgRun, i, j))
			// Under /usr/bin/time: the merging run is known only
			// afterwards and cannot be repeated for its memory. Its
			// wall time is /usr/bin/time's (to 10 ms, of hundreds).
			rss, wall, c := lgRunUnderTime(b, root, nil, bin, "writeback", "--batch", "np-batch", v)
			after, err := os.Stat(logPath)
			if err != nil {
				b.Fatal(err)
			}
			if merged = after.Size() < before.Size(); merged {
				mergeWall += wall
				cpu += c
				maxRSS = max(maxRSS, rss)
			}
		}
		if !merged {
			b.Fatal("no write-back merged the index log in 64")
		}
		if err := os.RemoveAll(root); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mergeWall.Nanoseconds())/float64(b.N), "merge-wall-ns/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(maxRSS), "maxrss-KB-max")
}

// BenchmarkNewProcessFloor: `settle --help`, the cost of starting the
// binary at all, for comparison.
func BenchmarkNewProcessFloor(b *testing.B) {
	bin := lgSettleBinary(b)
	root := b.TempDir()
	var cpu time.Duration
	for b.Loop() {
		_, c := lgRunSettle(b, bin, root, "--help")
		cpu += c
	}
	rss := lgPeakRSS(b, root, nil, bin, "--help")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(rss), "maxrss-KB-max")
}

// BenchmarkServeRSS: the resident memory of `settle serve` on a 1M-record
// ledger once it listens (after a first start built the index), and after
// one write-back through it. One op is one start; ns/op is the time to
// listen.
func BenchmarkServeRSS(b *testing.B) {
	bin := lgSettleBinary(b)
	root := lgCachedRoot(b, 1_000_000, false)
	warm := lgVerdictFile(b, root, "serve-warm-"+lgRun)
	lgRunSettle(b, bin, root, "writeback", "--batch", "np-batch", warm)
	var rss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "SETTLE_ROOT="+root, "SETTLE_COLLECTOR_KEYS="+strings.Join(storetest.Keys, ","))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "listening on") {
		}
		b.StopTimer()
		rss = max(rss, lgVmRSS(b, cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(rss), "rss-KB")
}

// lgVmRSS reads a process's resident memory in KiB.
func lgVmRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
