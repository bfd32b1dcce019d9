"""Time the SEED (batch_settle_writeback.py) on the workload of settle's
ledger benchmarks (file/ledger_bench_test.go): ledgers of N records made of
N/2 write-backs (a durable success and its registry mirror, three tracks per
batch, the same records byte for byte), then

  * Writeback: evaluate_durable_success_writeback + apply_durable_success_
    writeback of a NEW write-back (the seed re-reads the whole ledger on
    every evaluation, twice: durable lines and registry history);
  * Evaluate: evaluate_durable_success_writeback alone (a dry run);
  * Settle: evaluate_batch_settle of a settled batch of three tracks.

usage:
  REFERENCE_ANU_KEYS=anu0000000000001,anu0000000000002 \
    python3 file/testdata/seed_bench.py REFDIR [SIZE:ITERATIONS ...]

default sizes: 1000:200 100000:5 1000000:2. Prints Go-benchmark-like
lines (ns/op is wall time per operation, averaged over the iterations).
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, sys.argv[1])

from anu_v3 import batch_settle_writeback as W  # noqa: E402
from anu_v3.callback_4tuple_registry import make_record  # noqa: E402

KEY = "anu0000000000001"
EXEC = "exec000000000001"
CHAT = "6937032012"


def binding(task, track, batch):
    return W.WritebackBinding(
        task_id=task, track_id=track, dispatch_id="dispatch-" + task,
        dispatch_id_source="source_recorded",
        normal_collector_cron_id="ncc-" + task,
        normal_collector_cron_id_source="source_recorded",
        collector_key=KEY, collector_role="ANU",
        authoritative_verdict="AUTHORITATIVE_PASS", terminal_status="COMPLETED",
        completed_at="2025-11-22T09:00:00+09:00",
        source_result_path="memory/results/" + task + ".json",
        batch_id=batch, executor_key=EXEC, chat_id="",
        fallback_callback_cron_id=None)


def mirror(rec):
    return make_record(
        task_id=rec["task_id"], dispatch_id=rec["dispatch_id"],
        dispatch_cron_id=rec["dispatch_id"],
        executor=f"independent ANU collector (key {rec['collector_key']})",
        chat_id=rec.get("chat_id") or CHAT,
        normal_collector_cron_id=rec["normal_collector_cron_id"],
        fallback_callback_cron_id=None, role="anu_collector_durable_success",
        status="COMPLETED", no_fallback=True, ts_kst=rec["completed_at"])


def bench_task(i):
    return f"bench-task-{i:07d}", f"T{i % 3 + 1}", f"bench-batch-{i // 3:06d}"


def build(root, records):
    lp = root / W.DEFAULT_LEDGER_RELPATH
    lp.parent.mkdir(parents=True, exist_ok=True)
    with open(lp, "w", encoding="utf-8") as fh:
        for i in range(records // 2):
            rec = binding(*bench_task(i)).to_record(W.DURABLE_SUCCESS_WRITTEN)
            fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
            fh.write(json.dumps(mirror(rec), ensure_ascii=False, sort_keys=True) + "\n")
    return lp


def verdict_file(root, task):
    p = root / "memory" / "results" / (task + ".json")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({
        "task_id": task,
        "track": "T1",
        "authoritative_verdict": "AUTHORITATIVE_PASS",
        "ts_kst": "2025-11-22T09:00:00+09:00",
        "four_tuple_record": {
            "collector_key": KEY, "collector_role": "ANU", "executor_key": EXEC,
            "dispatch_id": "dispatch-" + task,
            "normal_collector_cron_id": "ncc-" + task,
        },
    }), encoding="utf-8")
    return p


def report(name, iters, seconds):
    print(f"seed/{name}\t{iters}\t{seconds / iters * 1e9:.0f} ns/op", flush=True)


def run(records, iters, label):
    tmp = Path(tempfile.mkdtemp(prefix="seed-bench-"))
    try:
        t0 = time.perf_counter()
        lp = build(tmp, records)
        print(f"# built {records} records ({lp.stat().st_size} bytes) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)

        def evaluate(src, batch):
            return W.evaluate_durable_success_writeback(
                src, batch_id=batch, track_id="T1", ledger_path=lp,
                canonical_root=tmp)

        sources = [verdict_file(tmp, f"dry-task-{i}") for i in range(iters)]
        t0 = time.perf_counter()
        for src in sources:
            d = evaluate(src, "dry-batch")
            assert d.classification == W.DURABLE_SUCCESS_WRITTEN, d.reasons
        report(f"BenchmarkEvaluate/records={label}", iters, time.perf_counter() - t0)

        sources = [verdict_file(tmp, f"new-task-{i}") for i in range(iters)]
        t0 = time.perf_counter()
        for src in sources:
            d = W.apply_durable_success_writeback(evaluate(src, "new-batch"), ledger_path=lp, canonical_root=tmp)
            assert d.appended, d.reasons
        report(f"BenchmarkWriteback/records={label}", iters, time.perf_counter() - t0)

        batches = records // 2 // 3
        t0 = time.perf_counter()
        for i in range(iters):
            k = (i * 7919) % batches
            tracks = []
            for t in range(3):
                task, track, _ = bench_task(3 * k + t)
                tracks.append((track, task))
            r = W.evaluate_batch_settle(batch_id=f"bench-batch-{k:06d}",
                                        expected_tracks=tracks, ledger_path=lp,
                                        this_track_id="T3")
            assert r.decision == "ALL_SETTLED_CONSOLIDATE", r.reasons
        report(f"BenchmarkSettle/records={label}", iters, time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp)


def main():
    specs = sys.argv[2:] or ["1000:200", "100000:5", "1000000:2"]
    for spec in specs:
        size, iters = (int(x) for x in spec.split(":"))
        label = {1000: "1k", 100000: "100k", 1000000: "1M"}.get(size, str(size))
        run(size, iters, label)


if __name__ == "__main__":
    main()
