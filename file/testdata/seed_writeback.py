"""One write-back by the SEED (batch_settle_writeback.py) as its pipelines
run it: a new process evaluates one verdict file and applies it to the
ledger under a root (file/ledger_newprocess_bench_test.go times it beside
`settle writeback`).

usage:
  REFERENCE_ANU_KEYS=anu0000000000001,anu0000000000002 \
    python3 file/testdata/seed_writeback.py REFDIR ROOT VERDICT BATCH

Exits 0 when the write-back was appended, 1 otherwise (with the reasons).
"""
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])

from anu_v3 import batch_settle_writeback as W  # noqa: E402


def main():
    root, verdict, batch = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    lp = root / W.DEFAULT_LEDGER_RELPATH
    d = W.evaluate_durable_success_writeback(
        verdict, batch_id=batch, track_id="T1", ledger_path=lp,
        canonical_root=root)
    d = W.apply_durable_success_writeback(d, ledger_path=lp, canonical_root=root)
    if not d.appended:
        print("not appended:", d.classification, d.reasons, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
