"""Oracle for scene's differential test: runs jobs through the seed
persistence.py (and the reference modules it imports) in one process.

    cd <reference py dir> && REFERENCE_ROOT=<dir> python3 seed_oracle.py JOBS.jsonl

JOBS.jsonl holds one JSON object per line; one JSON result line is printed
per job, in order. Jobs ("op"):

  fp        {"path", "save"?}: structure_fingerprint(load_scene(path)) and
            _disk_structure_fingerprint(path); with "save", save_scene of the
            loaded scene to that path.
  mut       {"disk", "rebuild"}: both files json.loads'ed; structural_mutations
            and _serialize_scene_dict(_writer1_overlay_scene_dict(...)) with
            allow_structural_enrichment False and True.
  manifest  {"project", "batch", "out"}: load_manifest(project, "1", batch),
            then atomic_write_json(out, manifest).
  ep        {"token"}: _canonical_episode_token(token).
  iso       {"sec", "us"}: datetime.fromtimestamp(sec, utc) with microseconds,
            .isoformat().

A Python exception is reported as {"<field>_error": <class name>,
"<field>_msg": <message>}.
"""
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import os

from recoil.core.atomic_write import atomic_write_json
from recoil.pipeline.core import persistence as P

# The oracle compares bytes and decisions, not durability: without fsync the
# hundreds of seed writes take milliseconds instead of most of a minute.
os.fsync = lambda fd: None


def attempt(out, field, fn):
    try:
        out[field] = fn()
    except Exception as e:  # noqa: BLE001 - every seed failure is a result
        out[field + "_error"] = type(e).__name__
        out[field + "_msg"] = str(e)[:300]


def run(job):
    op = job["op"]
    out = {}
    if op == "fp":
        path = Path(job["path"])
        attempt(out, "model", lambda: P.structure_fingerprint(P.load_scene(path)))
        attempt(out, "disk", lambda: P._disk_structure_fingerprint(path))
        if "save" in job:
            def save():
                P.save_scene(P.load_scene(path), Path(job["save"]))
                return True
            attempt(out, "saved", save)
    elif op == "mut":
        disk = json.loads(Path(job["disk"]).read_text(encoding="utf-8"))
        rebuild = json.loads(Path(job["rebuild"]).read_text(encoding="utf-8"))
        attempt(out, "mut", lambda: P.structural_mutations(disk, rebuild))
        for allow in (False, True):
            attempt(out, "ov%d" % allow, lambda: P._serialize_scene_dict(
                P._writer1_overlay_scene_dict(disk, rebuild, allow_structural_enrichment=allow)))
    elif op == "manifest":
        def load_and_write():
            m = P.load_manifest(job["project"], "1", job["batch"])
            atomic_write_json(Path(job["out"]), m)
            return True
        attempt(out, "manifest", load_and_write)
    elif op == "ep":
        attempt(out, "ep", lambda: P._canonical_episode_token(job["token"]))
    elif op == "iso":
        attempt(out, "iso", lambda: datetime.fromtimestamp(job["sec"], timezone.utc)
                .replace(microsecond=job["us"]).isoformat())
    else:
        raise SystemExit("unknown op %r" % op)
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                print(json.dumps(run(json.loads(line))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
