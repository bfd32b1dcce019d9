"""Drive the seed scene store (persistence.py + SceneVersionStore) for settle's tests.

Run from the reference directory with REFERENCE_ROOT set:

    cd <reference>/py && REFERENCE_ROOT=/tmp/x python3 <this file> OPS.json OUT.json

OPS.json is a JSON array of operations; OUT.json receives one result per operation,
in order: {"ok": true, ...} or {"ok": false, "code": "<settle error code>", "message": "..."}.
With "-" as the only argument, it prints READY, then reads one operation per line
from standard input and prints its result as one line once the operation returned.
Operations (every one names "project", "episode", "batch" unless noted):

  load                          -> version, fingerprint, scene (Scene.to_dict())
  active_path                   -> path (active_scene_body_path)
  candidate  scene, requested, reason, activate -> version (write_scene_candidate)
  activate   version
  status     expected_version, patch (RFC 6902, applied in the mutate closure)
  save_active expected_version, scene (writer 1)
  save_guarded scene            (save_scene_guarded on the flat path)
  list       (project, episode) -> names
  init       plan, max_takes, persist -> scenes
  fingerprint scene             -> fingerprint
  read_body  path               -> fingerprint of the raw body (for checks)
"""
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.getcwd())  # the reference directory

from recoil.pipeline.core import persistence as P  # noqa: E402
from recoil.pipeline.core.scene_version_store import SceneVersionStore  # noqa: E402
from recoil.pipeline.core.take import Scene  # noqa: E402
from scene_jsonpatch import PatchError, apply_patch  # noqa: E402


class MutateError(Exception):
    """A patch that fails or does not rebuild a Scene (settle: INVALID_INPUT)."""


def classify(exc):
    if isinstance(exc, MutateError):
        return "INVALID_INPUT"
    if isinstance(exc, P.SceneStructureImmutableError):
        return "STRUCTURE_IMMUTABLE"
    if isinstance(exc, P.SceneVersionConflictError):
        return "VERSION_CONFLICT"
    if isinstance(exc, P.SceneIdentityMismatchError):
        return "IDENTITY_MISMATCH"
    if isinstance(exc, P.SceneLockedError):
        return "SCENE_LOCKED"
    if isinstance(exc, FileNotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, json.JSONDecodeError):
        return "CORRUPT"
    if isinstance(exc, KeyError):
        return "SCHEMA_MISMATCH"
    if isinstance(exc, ValueError):
        msg = str(exc)
        if "unsafe manifest artifact" in msg:
            return "UNSAFE_ARTIFACT"
        if "not registered" in msg:
            return "NOT_FOUND"
        if "episode" in msg and ("non-canonical" in msg or "negative" in msg or "bool" in msg):
            return "INVALID_EPISODE"
        if "identity" in msg or "carries scene_id" in msg:
            return "MANIFEST_IDENTITY"
    return "INTERNAL"


def patch_mutate(patch):
    def mutate(scene):
        try:
            patched = apply_patch(scene.to_dict(), patch)
            new = Scene.from_dict(patched)
        except (PatchError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise MutateError(f"{type(exc).__name__}: {exc}") from exc
        scene.scene_id = new.scene_id
        scene.beats = new.beats
        scene.scene_metadata = new.scene_metadata
        scene.locked = new.locked
        scene.lock_reason = new.lock_reason

    return mutate


def run(op):
    kind = op["op"]
    if kind == "list":
        return {"names": [p.name for p in P.list_scenes(op["project"], op["episode"])]}
    if kind == "fingerprint":
        return {"fingerprint": P.structure_fingerprint(Scene.from_dict(op["scene"]))}
    if kind == "init":
        scenes = P.init_scenes_from_plan(
            op["project"], op["episode"], op["plan"], op.get("max_takes", 3),
            persist=op.get("persist", True),
        )
        return {"scenes": [s.to_dict() for s in scenes]}
    project, episode, batch = op["project"], op["episode"], op["batch"]
    if kind == "load":
        scene, version = P.load_scene_active_with_version(project, episode, batch)
        return {"version": version, "fingerprint": P.structure_fingerprint(scene),
                "scene": scene.to_dict()}
    if kind == "active_path":
        return {"path": str(P.active_scene_body_path(project, episode, batch))}
    if kind == "candidate":
        store = SceneVersionStore(project, episode, batch)
        v = store.write_scene_candidate(
            Scene.from_dict(op["scene"]), requested_batch_id=op.get("requested", batch),
            reason=op.get("reason", ""), activate=op.get("activate", False),
        )
        return {"version": v}
    if kind == "activate":
        SceneVersionStore(project, episode, batch).activate(op["version"])
        return {}
    if kind == "status":
        P.save_active_scene_status(
            project, episode, batch, expected_version=op["expected_version"],
            mutate=patch_mutate(op["patch"]),
        )
        path = P.active_scene_body_path(project, episode, batch)
        return {"fingerprint": P.structure_fingerprint(P.load_scene(path))}
    if kind == "save_active":
        P.save_active_scene(project, episode, batch, Scene.from_dict(op["scene"]),
                            expected_version=op["expected_version"])
        return {}
    if kind == "save_guarded":
        P.save_scene_guarded(Scene.from_dict(op["scene"]), P.scene_path(project, episode, batch))
        return {}
    raise ValueError(f"unknown op {kind!r}")


def result(op):
    try:
        res = run(op)
        res["ok"] = True
    except Exception as exc:  # every refusal is reported, never fatal
        res = {"ok": False, "code": classify(exc), "message": f"{type(exc).__name__}: {exc}"}
        if classify(exc) == "INTERNAL":
            res["trace"] = traceback.format_exc()
    return res


def main():
    if sys.argv[1:] == ["-"]:
        print("READY", flush=True)
        for line in sys.stdin:
            print(json.dumps(result(json.loads(line))), flush=True)
        return
    with open(sys.argv[1], encoding="utf-8") as f:
        ops = json.load(f)
    out = [result(op) for op in ops]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
