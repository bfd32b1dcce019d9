"""Differential-test driver: runs a list of write-back operations through
the seed module batch_settle_writeback.py in ONE process.

Usage: REFERENCE_ANU_KEYS=k1,k2 python3 seed_driver.py REFDIR OPS.json
Prints one JSON document: {"results": [...]} (ensure_ascii, one per op).
"""
import json
import os
import sys

refdir, ops_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.abspath(refdir))

from anu_v3 import batch_settle_writeback as W  # noqa: E402
from anu_v3.callback_4tuple_registry import Callback4TupleRegistry  # noqa: E402

with open(ops_path, encoding="utf-8") as fh:
    spec = json.load(fh)

ledger = spec["ledger"]
os.chdir(spec["cwd"])
results = []
for op in spec["ops"]:
    kind = op["op"]
    if kind == "writeback":
        try:
            d = W.evaluate_durable_success_writeback(
                op["source"],
                batch_id=op["batch"],
                track_id=op.get("track"),
                executor_key=op.get("executor_key"),
                expected=op.get("expected"),
                ledger_path=ledger,
                canonical_root=op["root"],
            )
        except Exception as e:  # the seed crashes: the port refuses
            results.append({"error": type(e).__name__ + ": " + str(e)})
            continue
        d = W.apply_durable_success_writeback(
            d, ledger_path=ledger, canonical_root=op["root"])
        results.append({"decision": d.to_json()})
    elif kind == "raw":
        if op.get("go_only"):
            # A valid-JSON non-object line such as [1,2]: the seed's
            # readers crash on it (a seed defect settle fixes), so it is
            # written to settle's ledger only.
            results.append({})
            continue
        with open(ledger, "ab") as fh:
            fh.write(op["line"].encode("utf-8") + b"\n")
        results.append({})
    elif kind == "registry":
        try:
            Callback4TupleRegistry(ledger).append(op["record"])
            results.append({"appended": True})
        except ValueError as e:
            results.append({"appended": False, "error": str(e)})
    elif kind == "settle":
        r = W.evaluate_batch_settle(
            batch_id=op["batch"],
            expected_tracks=[tuple(t) for t in op["tracks"]],
            ledger_path=ledger,
            this_track_id=op.get("this_track"),
        )
        results.append({"settle": r.to_json()})
    elif kind == "classify":
        results.append({"classify": Callback4TupleRegistry(ledger).classify(op["task"])})
    else:
        raise SystemExit("unknown op " + kind)

json.dump({"results": results}, sys.stdout, ensure_ascii=True)
