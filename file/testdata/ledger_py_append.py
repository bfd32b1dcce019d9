"""Append registry records with the Python reference registry (which takes
an exclusive flock on the ledger), concurrently with settle writers.

usage: python3 ledger_py_append.py REFDIR LEDGER PREFIX N

Prints "ACK reg <task>" after each append returned.
"""
import sys

sys.path.insert(0, sys.argv[1])

from anu_v3.callback_4tuple_registry import Callback4TupleRegistry, make_record  # noqa: E402

reg = Callback4TupleRegistry(sys.argv[2])
prefix, n = sys.argv[3], int(sys.argv[4])
print("READY", flush=True)
for i in range(n):
    task = f"{prefix}-{i}"
    reg.append(make_record(
        task_id=task, dispatch_id="dispatch-" + task, dispatch_cron_id="dispatch-" + task,
        executor="python dispatcher", chat_id="6937032012",
        normal_collector_cron_id="ncc-" + task, fallback_callback_cron_id=None,
        role="dispatcher", status="REGISTERED", no_fallback=True,
        ts_kst="2025-11-22T08:00:00+09:00"))
    sys.stdout.write(f"ACK reg {task}\n")
    sys.stdout.flush()
