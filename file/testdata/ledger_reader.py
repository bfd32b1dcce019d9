"""Read a settle ledger with the Python reference and the seed.

usage: python3 ledger_reader.py REFDIR LEDGER [TASK...]

Prints one JSON object: the number of registry records the reference
Callback4TupleRegistry reads, the number of durable lines the seed's
_ledger_durable_lines reads, their writeback ids, and classify() of each
TASK. Any exception is a failure (non-zero exit).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])

from anu_v3 import batch_settle_writeback as W  # noqa: E402
from anu_v3.callback_4tuple_registry import Callback4TupleRegistry  # noqa: E402

ledger = Path(sys.argv[2])
reg = Callback4TupleRegistry(ledger)
records = reg._records()
durable = W._ledger_durable_lines(ledger)
out = {
    "registry": len(records),
    "durable": len(durable),
    "writeback_ids": sorted(d.get("writeback_id") for d in durable),
    "classify": {t: reg.classify(t) for t in sys.argv[3:]},
}
print(json.dumps(out, sort_keys=True))
