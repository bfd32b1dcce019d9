"""Time the seed's structure_fingerprint on the scenes BenchmarkFingerprint
uses (10, 100 and 1000 beats with plan_shot metadata and takes with
receipts; bench_scene below mirrors benchScene in bench_test.go).

    cd <reference py dir> && python3 <this file>                # timings
    cd <reference py dir> && python3 <this file> --fingerprints # for the Go check

Prints one line per size: beats, loops, ns/op (best of 5 repeats).
"""
import json
import os
import sys
import timeit

sys.path.insert(0, os.getcwd())  # run from the reference py dir

from recoil.pipeline.core import persistence as P
from recoil.pipeline.core.take import Scene


def bench_scene(n):
    beats = []
    for i in range(n):
        sid = "SH_%04d" % i
        takes = []
        for j in range(2):
            takes.append({
                "take_id": "%s_t%d" % (sid, j),
                "status": "succeeded" if j == 0 else "running",
                "created_at": "2026-06-02T10:00:00+00:00",
                "started_at": "2026-06-02T10:00:01.250000+00:00",
                "finished_at": "2026-06-02T10:01:00+00:00" if j == 0 else None,
                "artifact_path": "renders/%s/take_%d.mp4" % (sid, j),
                "receipt": {"job_id": "job-%d-%d" % (i, j), "cost_usd": 0.42, "latency_ms": 53000 + i,
                            "provider": "gen", "meta": {"gpu": "a100", "region": "us-east"}},
                "error": None,
            })
        beats.append({
            "beat_id": sid,
            "max_takes": 3,
            "beat_metadata": {
                "scene_id": "BATCH_007",
                "plan_shot": {
                    "shot_id": sid,
                    "prompt": "Wide establishing shot %d of the harbour at dawn, slow dolly in, 35mm, soft light" % i,
                    "duration": 4.5 + (i % 7) * 0.25,
                    "camera": {"move": "dolly_in", "lens_mm": 35, "height_m": 1.6},
                    "characters": ["char_%d" % (i % 5), "char_%d" % ((i + 1) % 5)],
                    "aspect_ratio": "16:9",
                    "is_env_only": i % 4 == 0,
                },
                "grouping": {"group": i // 4, "position": i % 4},
                "generation_config": {"model": "video-gen-3", "seed": 1000 + i, "guidance": 7.5, "steps": 30},
                "prompt_directive": "keep continuity with the previous shot \u2014 caf\u00e9 sign stays lit",
                "inputs_fingerprint": "%064x" % i,
            },
            "takes": takes,
            "primary_take_id": "%s_t0" % sid,
            "phantom_recovery_count": 0,
            "board": {"state": "open", "decided_by": None},
            "approved": i % 3 == 0,
        })
    return Scene.from_dict({
        "scene_id": "BATCH_007",
        "beats": beats,
        "scene_metadata": {"episode": "1", "project": "demo"},
        "locked": False,
        "lock_reason": None,
    })


def main():
    sizes = (10, 100, 1000)
    if "--fingerprints" in sys.argv:
        print(json.dumps({str(n): P.structure_fingerprint(bench_scene(n)) for n in sizes}))
        return
    for n in sizes:
        sc = bench_scene(n)
        timer = timeit.Timer(lambda: P.structure_fingerprint(sc))
        loops, _ = timer.autorange()
        best = min(timer.repeat(repeat=5, number=loops)) / loops
        print("beats=%d loops=%d %.0f ns/op" % (n, loops, best * 1e9))


if __name__ == "__main__":
    main()
