"""Time the seed's scene writers on the scenes BenchmarkStatusSave and
BenchmarkCandidateWrite use (file/scene_bench_test.go): the same generator
shape (scGenTree: beats with plan shots, structural and volatile metadata,
0-3 takes in every status with receipts, boards on half the beats).

    cd <reference>/py && python3 <this file> [--seconds 2] [--sizes 10,100,1000]

REFERENCE_ROOT is set to a fresh temporary directory. Prints one line per
measurement: name, beats, iterations, wall ms/op, CPU ms/op, body bytes.
"""
import argparse
import atexit
import json
import os
import random
import shutil
import sys
import tempfile
import time

ROOT = tempfile.mkdtemp(prefix="seed-bench-")
atexit.register(shutil.rmtree, ROOT, True)
os.environ["REFERENCE_ROOT"] = ROOT
sys.path.insert(0, os.getcwd())  # the reference directory

from recoil.pipeline.core import persistence as P  # noqa: E402
from recoil.pipeline.core.scene_version_store import SceneVersionStore  # noqa: E402
from recoil.pipeline.core.take import Scene, Take  # noqa: E402

PROJECT, EPISODE = "demo", "1"
STATUSES = ["pending", "running", "succeeded", "failed", "stale"]


def gen_scene_dict(rng, batch, n_beats):
    beats = []
    for i in range(n_beats):
        bid = f"SH_{i:03d}"
        shot = {
            "shot_id": bid,
            "description": f"Shot {i}: the courier crosses the café ✓ plaza at dusk",
            "camera": {"move": rng.choice(["dolly", "pan", "static"]), "lens_mm": 35},
            "duration_s": 4.5,
            "characters": ["courier", f"extra_{rng.randrange(9)}"],
        }
        if rng.randrange(2) == 0:
            shot["aspect_ratio"] = "16:9"
            shot["is_env_only"] = False
        md = {
            "scene_id": batch,
            "plan_shot": shot,
            "modality": "t2v",
            "generation_config": {"model": "gen-3", "seed": rng.randrange(1_000_000), "steps": 30, "cfg": 6.5},
            "prompt_directive": "keep the palette warm",
            "inputs_fingerprint": f"{rng.getrandbits(64):016x}",
        }
        takes = []
        for k in range(rng.randrange(4)):
            st = rng.choice(STATUSES)
            take = {"take_id": f"{bid}_t{k}", "status": st, "created_at": "2026-06-03T10:00:00+00:00",
                    "started_at": None, "finished_at": None, "artifact_path": None, "receipt": None, "error": None}
            if st != "pending":
                take["started_at"] = "2026-06-03T10:01:00+00:00"
            if st == "succeeded":
                take["finished_at"] = "2026-06-03T10:05:00+00:00"
                take["artifact_path"] = f"renders/{batch}/{bid}_t{k}.mp4"
                take["receipt"] = {"provider": "gen-3", "job_id": f"job-{rng.getrandbits(63)}", "cost_usd": 0.42, "frames": 96}
            if st == "failed":
                take["error"] = "provider timeout after 300s"
            takes.append(take)
        primary = f"{bid}_t0" if takes and rng.randrange(2) == 0 else None
        board = None
        if rng.randrange(2) == 0:
            board = {"status": "pending", "decision": None, "artifact_path": f"boards/{bid}.png", "notes": []}
        beats.append({"beat_id": bid, "max_takes": 3, "beat_metadata": md, "takes": takes,
                      "primary_take_id": primary, "phantom_recovery_count": 0, "board": board,
                      "approved": rng.randrange(4) == 0})
    return {"scene_id": batch, "beats": beats,
            "scene_metadata": {"episode": EPISODE, "project": PROJECT, "created_by": "settle-test"},
            "locked": False, "lock_reason": None}


def timed(fn, seconds, min_iters=5):
    """Run fn(i) until seconds have passed; return (n, wall seconds, CPU seconds)."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn(n)
        n += 1
        el = time.perf_counter() - start
        if n >= min_iters and el >= seconds:
            return n, el, time.process_time() - cpu


def bench_status(n_beats, seconds):
    d = gen_scene_dict(random.Random(n_beats), "BENCH_S", n_beats)
    d["beats"][0]["takes"].append(Take(take_id="bench", status="running").to_dict())
    scene = Scene.from_dict(d)
    path = P.scene_path(PROJECT, EPISODE, "BENCH_S")
    P.save_scene(scene, path)
    size = path.stat().st_size
    statuses = ["running", "succeeded"]

    def one(i):
        def mutate(s):
            s.beats[0].takes[-1].status = statuses[i % 2]
        P.save_active_scene_status(PROJECT, EPISODE, "BENCH_S", expected_version=1, mutate=mutate)

    n, el, cpu = timed(one, seconds)
    return n, el, cpu, size


def bench_candidate(n_beats, seconds):
    base = gen_scene_dict(random.Random(n_beats), "X", n_beats)
    size = len(P._serialize_scene_dict(base).encode())
    state = {"t": 0.0, "cpu": 0.0}

    def one(i):
        batch = f"BENCH_C{n_beats}_{i // 50}"
        d = json.loads(json.dumps(base))
        d["scene_id"] = batch
        d["beats"][0]["beat_metadata"]["prompt_directive"] = f"take {i}"
        scene = Scene.from_dict(d)
        t0, c0 = time.perf_counter(), time.process_time()
        SceneVersionStore(PROJECT, EPISODE, batch).write_scene_candidate(
            scene, requested_batch_id=batch, reason="bench", activate=True)
        state["t"] += time.perf_counter() - t0
        state["cpu"] += time.process_time() - c0

    n, _, _ = timed(one, seconds)
    return n, state["t"], state["cpu"], size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--sizes", default="10,100,1000")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, root {ROOT}")
    for size in [int(s) for s in args.sizes.split(",")]:
        for name, fn in (("StatusSave", bench_status), ("CandidateWrite", bench_candidate)):
            n, el, cpu, body = fn(size, args.seconds)
            print(f"seed {name:15s} beats={size:<5d} {n:6d} iters {el / n * 1e3:9.3f} ms/op "
                  f"{cpu / n * 1e3:9.3f} cpu-ms/op  body {body} B")


if __name__ == "__main__":
    main()
