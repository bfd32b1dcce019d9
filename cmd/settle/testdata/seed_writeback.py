"""Write back verdicts with the seed's own code, which appends to the ledger
file directly and knows nothing of settle's events.

usage: python3 seed_writeback.py REFDIR ROOT LEDGER COLLECTOR_KEY

Reads lines "TASK TRACK BATCH" from stdin; for each, writes a verdict file
under ROOT/verdicts, evaluates and applies it with the seed
(evaluate_durable_success_writeback, apply_durable_success_writeback) and
prints "ACK <classification> <appended>" once the append returned.
"""
import json
import os
import sys

sys.path.insert(0, sys.argv[1])
root, ledger, key = sys.argv[2], sys.argv[3], sys.argv[4]

from anu_v3 import batch_settle_writeback as W  # noqa: E402

os.makedirs(os.path.join(root, "verdicts"), exist_ok=True)
print("READY", flush=True)
for line in sys.stdin:
    task, track, batch = line.split()
    path = os.path.join(root, "verdicts", task + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({
            "task_id": task, "track": track, "authoritative_verdict": "AUTHORITATIVE_PASS",
            "collector_role": "ANU", "collector_key": key, "executor_key": "exec000000000001",
            "dispatch_id": "dispatch-" + task, "normal_collector_cron_id": "ncc-" + task,
            "chat_id": "chat-0001", "ts_kst": "2026-01-01T00:00:00+09:00",
        }, f)
    d = W.evaluate_durable_success_writeback(
        path, batch_id=batch, ledger_path=ledger, anu_keys=(key,), canonical_root=root)
    d = W.apply_durable_success_writeback(d, ledger_path=ledger, canonical_root=root)
    print("ACK", d.classification, d.appended, flush=True)
