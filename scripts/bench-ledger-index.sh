#!/usr/bin/env bash
# The persistent ledger index's figures (BENCHMARKS.md, "Persistent ledger
# index") in one command: new-process `settle writeback` at 1k, 100k and 1M
# records beside the seed's own write-back on the same ledgers (wall, CPU,
# peak RSS), opening a ledger whose index is current (with an empty and a
# full index log), `settle serve`'s RSS after start-up at 1M, the one
# write-back in ~4,000 that merges the index log at 1M, and the latency from
# a foreign append (the seed's) to its event on a running server's SSE
# stream. It ends with a summary table. Wall and CPU time are the child's
# own (exec'd directly, Start to Wait); peak RSS comes from separate,
# untimed runs under /usr/bin/time (file/ledger_newprocess_bench_test.go
# says why).
#
# Ledgers are cached across runs (SETTLE_BENCH_CACHE, default
# $TMPDIR/settle-bench-cache): the first run builds them (a few minutes at
# 1M). The seed column needs python3 and the Python seed reference
# (SETTLE_REFERENCE_DIR, default ../shared/reference/py); without them it is
# skipped, with a warning. The seed's write-back at 1M takes 20 s or more.
#
# usage: scripts/bench-ledger-index.sh [N]   (N new processes per cell, default 20)
#        scripts/bench-ledger-index.sh --summary FILE...   (the table of earlier outputs)
set -euo pipefail
cd "$(dirname "$0")/.."
summary_only=0
if [ "${1:-}" = "--summary" ]; then
	summary_only=1
	shift
	out=$(mktemp -t settle-bench-index.XXXXXX)
	cat "$@" > "$out"
fi
n=${1:-20}
[ "$summary_only" = 1 ] || out=$(mktemp -t settle-bench-index.XXXXXX)
ref=${SETTLE_REFERENCE_DIR:-../shared/reference/py}

[ "$summary_only" = 1 ] || {
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(go version | cut -d' ' -f3), $(python3 --version 2>&1 || echo 'no python3')"
} | tee "$out"
if [ "$summary_only" = 0 ] && { [ ! -f "$ref/anu_v3/batch_settle_writeback.py" ] || ! command -v python3 >/dev/null; }; then
	echo "WARNING: no Python seed reference at $ref (or no python3): the seed column is SKIPPED" | tee -a "$out" >&2
fi

# A failed step is reported and the others still run; the script then
# exits with status 1.
failed=0
run() {
	echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)  ($*)" | tee -a "$out"
	if ! "$@" 2>&1 | tee -a "$out"; then
		echo "FAILED: $*" | tee -a "$out" >&2
		failed=1
	fi
	echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
}

if [ "$summary_only" = 0 ]; then
	run go test -run '^$' -bench 'BenchmarkNewProcess(Floor|Writeback)$' -benchtime "${n}x" ./file/
	run go test -run '^$' -bench 'BenchmarkNewProcessSeedWriteback$' -benchtime 1x ./file/
	run go test -run '^$' -bench 'BenchmarkOpen$/records=.*/indexed' -benchtime 200x ./file/
	run go test -run '^$' -bench 'BenchmarkServeRSS$' -benchtime 5x ./file/
	run go test -run '^$' -bench 'BenchmarkNewProcessMerge$' -benchtime 1x ./file/
	run go test -run '^$' -bench 'BenchmarkSeedAppendToSSE$' -benchtime 30x ./cmd/settle/
fi

# The summary: every benchmark line's metrics by name, then the table.
awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) m[name, $(i+1)] = $i
}
/^# load before/ { loads = loads " " $4 }
function ms(v) { return v == "" ? "–" : sprintf("%.1f ms", v / 1e6) }
function mb(v) { return v == "" ? "–" : sprintf("%.1f MB", v / 1024) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "–" : sprintf("%.2f×", a / b) }
END {
	w = "BenchmarkNewProcessWriteback/records="
	s = "BenchmarkNewProcessSeedWriteback/records="
	print ""
	print "| new process, 1 verdict | records | settle wall | CPU | peak RSS | seed wall | seed peak RSS | seed / settle |"
	print "|---|---|---|---|---|---|---|---|"
	f = "BenchmarkNewProcessFloor"
	printf "| `settle --help` (floor) | – | %s | %s | %s | | | |\n", ms(m[f, "ns/op"]), ms(m[f, "cpu-ns/op"]), mb(m[f, "maxrss-KB-max"])
	split("1k 100k 1M", sizes, " ")
	for (k = 1; k <= 3; k++) {
		z = sizes[k]
		printf "| `settle writeback` | %s | %s | %s | %s (max %s) | %s | %s | %s |\n", z, ms(m[w z, "ns/op"]), ms(m[w z, "cpu-ns/op"]), mb(m[w z, "maxrss-KB/op"]), mb(m[w z, "maxrss-KB-max"]), ms(m[s z, "ns/op"]), mb(m[s z, "maxrss-KB-max"]), ratio(m[s z, "ns/op"], m[w z, "ns/op"])
	}
	for (k = 1; k <= 3; k++) {
		z = sizes[k]
		printf "| `settle writeback --dry-run` | %s | %s | %s | %s | | | |\n", z, ms(m[w z "/dry-run", "ns/op"]), ms(m[w z "/dry-run", "cpu-ns/op"]), mb(m[w z "/dry-run", "maxrss-KB-max"])
	}
	printf "\n1M / 1k, `settle writeback` wall: %s\n", ratio(m[w "1M", "ns/op"], m[w "1k", "ns/op"])
	g = "BenchmarkNewProcessMerge"
	printf "the write-back that merges the index log at 1M: %s wall, %s CPU, %s peak RSS\n", ms(m[g, "merge-wall-ns/op"]), ms(m[g, "cpu-ns/op"]), mb(m[g, "maxrss-KB-max"])
	print ""
	print "| open, index current | records | index log empty | index log full |"
	print "|---|---|---|---|"
	o = "BenchmarkOpen/records="
	for (k = 1; k <= 3; k++) {
		z = sizes[k]
		printf "| wall (CPU) | %s | %s (%s) | %s (%s) |\n", z, ms(m[o z "/indexed", "ns/op"]), ms(m[o z "/indexed", "cpu-ns/op"]), ms(m[o z "/indexed-full-log", "ns/op"]), ms(m[o z "/indexed-full-log", "cpu-ns/op"])
	}
	print ""
	printf "`settle serve` at 1M, RSS once it listens: %s\n", mb(m["BenchmarkServeRSS", "rss-KB"])
	v = m["BenchmarkSeedAppendToSSE", "µs-to-sse/op"]
	printf "seed append → its SSE event on a running server: %s\n", v == "" ? "–" : sprintf("%.1f ms", v / 1000)
	print "load average (1 min) before each step:" loads
}' "$out"
echo "(full output: $out)"
exit $failed
