# Regenerates ../openapi.json, the OpenAPI document served at /v1/openapi.json:
#   python3 httpapi/testdata/openapi_gen.py
# TestOpenAPIListsExactlyTheRoutes holds the document to the server's routes and roles.
import json
import os

def ref(name): return {"$ref": "#/components/schemas/" + name}
def body(schema, ctype="application/json", desc=None):
    d = {"required": True, "content": {ctype: {"schema": schema}}}
    if desc: d["description"] = desc
    return d
def resp(desc, schema=None, headers=None, ctype="application/json"):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {ctype: {"schema": schema}}
    if headers: r["headers"] = headers
    return r
ERR = lambda d: resp(d, ref("Error"))
def errs(*codes):
    m = {
        "400": ERR("INVALID_INPUT (or INVALID_EPISODE): a malformed request."),
        "401": ERR("UNAUTHORIZED: no or unknown bearer token."),
        "403": ERR("FORBIDDEN: the principal's role may not call this operation (or PATH_REFUSED)."),
        "404": ERR("NOT_FOUND."),
        "409": ERR("STRUCTURE_IMMUTABLE or IDENTITY_MISMATCH."),
        "412": ERR("VERSION_CONFLICT: the active version moved since the If-Match version was read."),
        "413": ERR("INVALID_INPUT: the request body exceeds the server's limit."),
        "415": ERR("INVALID_INPUT: unsupported content type."),
        "422": ERR("SCHEMA_MISMATCH, CORRUPT, UNSAFE_ARTIFACT or MANIFEST_IDENTITY."),
        "423": ERR("SCENE_LOCKED."),
        "428": ERR("INVALID_INPUT: If-Match is required."),
        "500": ERR("INTERNAL."),
        "503": ERR("UNAVAILABLE: the store refuses writes after a failed write or fsync (until it is reopened), or a recorded write's event failed (retry)."),
    }
    return {c: m[c] for c in codes}
AUTH = ("400", "401", "403", "500")
P = lambda name, desc, schema={"type": "string"}: {"name": name, "in": "path", "required": True, "description": desc, "schema": schema}
Q = lambda name, desc, schema={"type": "string"}: {"name": name, "in": "query", "required": False, "description": desc, "schema": schema}
H = lambda name, desc, req=False: {"name": name, "in": "header", "required": req, "description": desc, "schema": {"type": "string"}}
project, episode, batch = P("project", "Project."), P("episode", "Episode token: an integer (\"1\") or ep_NNN."), P("batch", "Batch (scene) id.")
ETAG = {"ETag": {"description": "The scene's active version, quoted: \"3\".", "schema": {"type": "string"}}}
IFM = H("If-Match", "The ETag of the active version the change was prepared against (required: 428 without it, 412 when the version moved).", True)
def roles(*rs): return {"x-settle-roles": list(rs)}

def op(opid, summary, roles_=None, public=False, params=None, req=None, responses=None, desc=None):
    o = {"operationId": opid, "summary": summary}
    if desc: o["description"] = desc
    if params: o["parameters"] = params
    if req: o["requestBody"] = req
    o["responses"] = responses
    if public:
        o["security"] = []
        o["x-settle-roles"] = ["public"]
    else:
        o["x-settle-roles"] = roles_ or ["collector", "dispatcher", "runner", "operator", "reader"]
    return o

paths = {}
def add(path, method, o): paths.setdefault(path, {})[method] = o

add("/healthz", "get", op("healthz", "Liveness: the process serves requests.", public=True,
    responses={"200": resp("Alive.", ref("Health"))}))
add("/readyz", "get", op("readyz", "Readiness: startup reconciliation done, stores accept writes, not shutting down.", public=True,
    responses={"200": resp("Ready.", ref("Health")), "503": resp("Not ready, with the reason.", ref("Health"))}))
add("/metrics", "get", op("metrics", "Prometheus metrics: requests by route and status, latency histograms, fsync latency, group commit sizes, ledger record counts, index memory.", public=True,
    responses={"200": resp("Prometheus text exposition format.", {"type": "string"}, ctype="text/plain")}))
add("/v1/openapi.json", "get", op("openapi", "This document.", public=True,
    responses={"200": resp("The OpenAPI 3 document.", {"type": "object"})}))

DEC_H = {
    "Settle-Conflict-Recorded": {"description": "\"true\" when this request appended a writeback_conflict.v1 record.", "schema": {"type": "string"}},
    "Settle-Batch-Decision": {"description": "The settle decision of the record's declared batch, re-evaluated in the same request.", "schema": {"type": "string"}},
    "Settle-First-Consolidation": {"description": "\"true\" when this request wrote the batch's consolidated summary.", "schema": {"type": "string"}},
}
add("/v1/writebacks", "post", op("writeback", "Write back a verdict (or an extracted binding).",
    roles_=["collector", "operator"],
    desc="Evaluates the verdict against the ledger and, unless dry_run, applies the decision: a durable success is appended with its registry COMPLETED mirror (group-committed: one write and one fsync for all concurrent write-backs; no response before its fsync), a refusal is recorded once as writeback_conflict.v1. After a recorded success the record's declared batch is re-evaluated; the first ALL_SETTLED_CONSOLIDATE writes the consolidated summary and emits exactly one batch.settled event. A collector may only write back verdicts whose collector key is its own: another key is refused 403 FORBIDDEN and recorded as refused. Decisions: DURABLE_SUCCESS_WRITTEN 201 (200 on a dry run), WRITEBACK_IDEMPOTENT_SKIP 200, WRITEBACK_BINDING_CONFLICT 409, TRACK_MISMATCH 409, SELF_CHAIN_NO_WRITEBACK 403.",
    req=body(ref("WritebackRequest")),
    responses={
        "201": resp("DURABLE_SUCCESS_WRITTEN: appended and fsynced.", ref("Decision"), DEC_H),
        "200": resp("WRITEBACK_IDEMPOTENT_SKIP, or a dry run's DURABLE_SUCCESS_WRITTEN.", ref("Decision"), DEC_H),
        "409": resp("WRITEBACK_BINDING_CONFLICT or TRACK_MISMATCH (a decision).", ref("Decision"), DEC_H),
        "403": resp("SELF_CHAIN_NO_WRITEBACK (a decision), FORBIDDEN (the verdict names another collector key than the caller's: a Forbidden body), or the role may not write back.",
                    {"oneOf": [ref("Decision"), ref("Forbidden"), ref("Error")]}, DEC_H),
        **errs("400", "401", "413", "500", "503")}))
add("/v1/records", "get", op("records", "Page through the ledger's records in append order.",
    params=[Q("kind", "durable, registry or conflict (default: every kind).", {"type": "string", "enum": ["durable", "registry", "conflict"]}),
            Q("batch", "Only records of this batch."), Q("task", "Only records of this task."),
            Q("after", "Exclusive cursor: records with seq > after (default -1).", {"type": "integer"}),
            Q("limit", "Page size (default 100, capped by the store).", {"type": "integer"})],
    responses={"200": resp("A page; next is the cursor of the next page or -1.", ref("RecordsPage")), **errs(*AUTH)}))
add("/v1/registry", "post", op("registryAppend", "Register a task: append a callback 4-tuple registry record.",
    roles_=["dispatcher", "operator"], req=body(ref("RegistryRecord")),
    responses={"201": resp("Appended (fsynced).", ref("RegistryRecord")), **errs("400", "401", "403", "413", "500", "503")}))
add("/v1/registry/{task}", "get", op("registryHistory", "A task's registry records in ledger order.",
    params=[P("task", "Task id.")], responses={"200": resp("The history.", ref("RegistryHistory")), **errs(*AUTH)}))
add("/v1/registry/{task}/classification", "get", op("registryClassify", "A task's registry classification.",
    params=[P("task", "Task id.")], responses={"200": resp("NORMAL_CALLBACK_COMPLETED, FAILED, REGISTERED or UNKNOWN.", ref("Classification")), **errs(*AUTH)}))
SETTLE_H = {k: v for k, v in DEC_H.items() if k != "Settle-Conflict-Recorded"}
add("/v1/batches/{batch}", "put", op("declareBatch", "Declare (or replace) a batch's expected tracks, then re-evaluate it.",
    roles_=["dispatcher", "operator"], params=[P("batch", "Batch id.")], req=body(ref("BatchDeclaration")),
    responses={"200": resp("Declared.", ref("Batch"), SETTLE_H), **errs("400", "401", "403", "413", "500", "503")}))
add("/v1/batches/{batch}", "get", op("getBatch", "A batch's declaration.",
    params=[P("batch", "Batch id.")], responses={"200": resp("The declaration.", ref("Batch")), **errs(*AUTH, "404")}))
add("/v1/batches/{batch}/status", "get", op("batchStatus", "Evaluate a declared batch's settlement (never on a clock).",
    desc="The first ALL_SETTLED_CONSOLIDATE writes the consolidated summary; its batch.settled event is appended if missing.",
    params=[P("batch", "Batch id."), Q("this_track", "The caller's track (this_collector_is_last_settle_track).")],
    responses={"200": resp("The settle result (the seed's to_json).", ref("SettleResult"), SETTLE_H), **errs(*AUTH, "404", "503")}))
add("/v1/batches/{batch}/settle", "post", op("settleBatch", "Evaluate a batch with explicit tracks (default: its declaration).",
    roles_=["dispatcher", "operator"], params=[P("batch", "Batch id.")], req=body(ref("SettleRequest")),
    responses={"200": resp("The settle result.", ref("SettleResult"), SETTLE_H), **errs("400", "401", "403", "404", "500", "503")}))
add("/v1/batches/{batch}/summary", "get", op("batchSummary", "A batch's consolidated summary.",
    params=[P("batch", "Batch id.")], responses={"200": resp("The summary.", ref("Summary")), **errs(*AUTH, "404")}))
add("/v1/events", "get", op("events", "Stream events as Server-Sent Events.",
    desc="Every event after Last-Event-ID (or ?after), in id order, then new ones as they are appended. Types: writeback.recorded, writeback.refused, batch.settled, scene.version_created, scene.activated, scene.status_saved. Each message: id, event (the type), data (the event as JSON). Ids are the durable log's: a client reconnecting with Last-Event-ID misses nothing, also after a server restart.",
    params=[H("Last-Event-ID", "Resume after this event id."), Q("after", "Resume after this event id (when no Last-Event-ID).", {"type": "integer"}),
            Q("types", "Comma-separated event types to keep.")],
    responses={"200": resp("text/event-stream of Event messages.", {"type": "string"}, ctype="text/event-stream"), **errs(*AUTH)}))

SB = "/v1/projects/{project}/episodes/{episode}"
SI = SB + "/scenes/{batch}"
add(SB + "/scenes", "get", op("sceneList", "An episode's flat scene files.",
    params=[project, episode], responses={"200": resp("Sorted file names.", ref("SceneList")), **errs(*AUTH, "404")}))
add(SB + "/init", "post", op("sceneInit", "Create a scene for each plan sequence without one; re-stamp max_takes on existing ones.",
    roles_=["operator"], params=[project, episode], req=body(ref("InitRequest")),
    responses={"200": resp("What was done per sequence.", ref("InitResult")), **errs("400", "401", "403", "409", "413", "422", "423", "500", "503")}))
SCENE_ERRS = ("404", "422")
add(SI, "get", op("sceneLoad", "The active scene, its version (also the ETag) and fingerprint.",
    params=[project, episode, batch], responses={"200": resp("The scene.", ref("SceneDocument"), ETAG), **errs(*AUTH, *SCENE_ERRS)}))
add(SI, "patch", op("scenePatch", "Status write: apply an RFC 6902 JSON Patch to the active body (structure guard applies).",
    roles_=["runner", "operator"], params=[project, episode, batch, IFM],
    req=body({"type": "array", "items": {"type": "object"}}, "application/json-patch+json"),
    responses={"200": resp("Saved.", ref("SceneDocument"), ETAG), **errs("400", "401", "403", "404", "409", "412", "413", "415", "422", "428", "500", "503")}))
add(SI + "/save-runner", "post", op("sceneSaveRunner", "Runner save: overlay a runner's scene (takes, primary take) on the active body.",
    roles_=["runner", "operator"], params=[project, episode, batch, IFM], req=body(ref("SceneCarrier")),
    responses={"200": resp("Saved.", ref("SceneDocument"), ETAG), **errs("400", "401", "403", "404", "409", "412", "413", "422", "428", "500", "503")}))
add(SI + "/recover-stale", "post", op("sceneRecoverStale", "Mark takes running longer than older_than stale (a status write).",
    roles_=["runner", "operator"], params=[project, episode, batch], req=body(ref("RecoverStaleRequest")),
    responses={"200": resp("How many takes changed.", ref("RecoverStaleResult")), **errs("400", "401", "403", "404", "409", "413", "422", "500", "503")}))
add(SI + "/versions", "get", op("sceneVersions", "A batch's versions.",
    params=[project, episode, batch], responses={"200": resp("The versions.", ref("Versions")), **errs(*AUTH, *SCENE_ERRS)}))
add(SI + "/versions", "post", op("sceneCandidate", "Store a candidate version (an equal structure returns the registered version).",
    roles_=["operator"], params=[project, episode, batch], req=body(ref("CandidateRequest")),
    responses={"201": resp("A version new to the event log.", ref("CandidateResult")), "200": resp("An already announced version.", ref("CandidateResult")),
               **errs("400", "401", "403", "409", "413", "422", "423", "500", "503")}))
add(SI + "/versions/{version}", "get", op("sceneLoadVersion", "A registered version's body.",
    params=[project, episode, batch, P("version", "Version number.", {"type": "integer"})],
    responses={"200": resp("The scene.", ref("SceneDocument")), **errs(*AUTH, *SCENE_ERRS)}))
add(SI + "/activate", "post", op("sceneActivate", "Move the active-version pointer.",
    roles_=["operator"], params=[project, episode, batch, H("If-Match", "Optional: the ETag of the scene (\"3-<revision>\") or of its active version (\"3\") the activation was decided on; the move is refused 412 when the active version moved (checked with the move).")], req=body(ref("ActivateRequest")),
    responses={"200": resp("Activated.", ref("ActivateResult"), ETAG), **errs("400", "401", "403", "404", "413", "422", "500", "503"),
               "412": ERR("VERSION_CONFLICT: the active version moved since the If-Match version was read; nothing was activated.")}))

add(SI + "/flat", "put", op("sceneSaveGuarded", "Guarded save of the batch's flat body (the seed's save_scene_guarded): refused 423 SCENE_LOCKED when the existing body is locked.",
    roles_=["operator"], params=[project, episode, batch], req=body(ref("SceneCarrier")),
    responses={"200": resp("Saved.", ref("SavedResult")), **errs("400", "401", "403", "413", "422", "423", "500", "503"),
               "501": ERR("INVALID_INPUT: the scene store has no guarded save.")}))

S = lambda props, req=None, extra=True: dict({"type": "object", "properties": props}, **({"required": req} if req else {}), **({} if extra else {"additionalProperties": False}))
str_ = {"type": "string"}; nstr = {"type": ["string", "null"]}; bool_ = {"type": "boolean"}; int_ = {"type": "integer"}
strs = {"type": "array", "items": str_}
durable_fields = ["schema", "task_id", "track_id", "dispatch_id", "dispatch_id_source", "normal_collector_cron_id", "normal_collector_cron_id_source",
                  "collector_key", "collector_role", "authoritative_verdict", "terminal_status", "completed_at", "source_result_path", "batch_id",
                  "executor_key", "chat_id"]
binding_fields = [f for f in durable_fields if f != "schema"]
schemas = {
    "Error": S({"error": S({"code": {"type": "string", "enum": ["NOT_FOUND", "SCHEMA_MISMATCH", "CORRUPT", "INVALID_EPISODE", "UNSAFE_ARTIFACT", "MANIFEST_IDENTITY", "SCENE_LOCKED", "STRUCTURE_IMMUTABLE", "VERSION_CONFLICT", "IDENTITY_MISMATCH", "PATH_REFUSED", "INVALID_INPUT", "UNAUTHORIZED", "FORBIDDEN", "UNAVAILABLE", "INTERNAL"]}, "message": str_}, ["code", "message"])}, ["error"]),
    "Forbidden": S({"error": ref("Error"), "decision": ref("Decision"), "conflict_recorded": bool_}, ["error", "conflict_recorded"]),
    "Health": S({"status": str_, "reason": str_, "warnings": strs}, ["status"]),
    "Binding": S(dict({f: str_ for f in binding_fields}, fallback_callback_cron_id=nstr, session_is_executor_self=bool_), extra=False),
    "WritebackRequest": S({
        "verdict": {"type": "object", "description": "A collector's verdict document (as the CLI's verdict file)."},
        "source_path": {"type": "string", "description": "Recorded as source_result_path (relative to the server's root when under it)."},
        "batch_id": {"type": "string", "description": "Required with verdict."},
        "track_id": {"type": "string", "description": "Overrides the document's track."},
        "executor_key": {"type": "string", "description": "Overrides the document's executor key."},
        "binding": ref("Binding"),
        "expected": {"type": ["object", "null"], "description": "Identity fields and their expected values (compared as Python's str())."},
        "dry_run": bool_}, extra=False),
    "DurableRecord": S(dict({f: str_ for f in durable_fields}, fallback_callback_cron_id=nstr, writeback_classification=str_, writeback_id=str_)),
    "Decision": S({"schema": str_, "verdict": {"type": "string", "enum": ["PASS", "FAIL"]},
                   "classification": {"type": "string", "enum": ["DURABLE_SUCCESS_WRITTEN", "WRITEBACK_IDEMPOTENT_SKIP", "WRITEBACK_BINDING_CONFLICT", "TRACK_MISMATCH", "SELF_CHAIN_NO_WRITEBACK"]},
                   "task_id": str_, "track_id": str_, "batch_id": str_, "durable_record": {"oneOf": [ref("DurableRecord"), {"type": "null"}]},
                   "appended": bool_, "reasons": strs},
                  ["schema", "verdict", "classification", "task_id", "track_id", "batch_id", "durable_record", "appended", "reasons"]),
    "RegistryRecord": S({"schema": str_, "task_id": str_, "dispatch_id": str_, "dispatch_cron_id": str_, "executor": str_, "chat_id": str_,
                         "normal_collector_cron_id": str_, "fallback_callback_cron_id": nstr, "role": str_,
                         "status": {"type": "string", "enum": ["REGISTERED", "DISPATCHED", "COMPLETED", "FAILED", "CANCELLED"]},
                         "no_fallback": bool_, "ts_kst": str_}, extra=False),
    "ConflictRecord": S({"schema": str_, "conflict_id": str_, "classification": str_, "task_id": str_, "track_id": str_, "batch_id": str_,
                         "writeback_id": str_, "candidate": {"oneOf": [ref("DurableRecord"), {"type": "null"}]}, "reasons": strs, "recorded_at": str_}),
    "Record": S({"seq": int_, "kind": {"type": "string", "enum": ["durable", "registry", "conflict"]},
                 "durable": ref("DurableRecord"), "registry": ref("RegistryRecord"), "conflict": ref("ConflictRecord"),
                 "raw": {"type": "string", "description": "The record's JSON line as stored."}}, ["seq", "kind"]),
    "RecordsPage": S({"records": {"type": "array", "items": ref("Record")}, "next": int_}, ["records", "next"]),
    "RegistryHistory": S({"task_id": str_, "records": {"type": "array", "items": ref("RegistryRecord")}}, ["task_id", "records"]),
    "Classification": S({"task_id": str_, "classification": {"type": "string", "enum": ["NORMAL_CALLBACK_COMPLETED", "FAILED", "REGISTERED", "UNKNOWN"]}}, ["task_id", "classification"]),
    "TrackTask": S({"track_id": str_, "task_id": str_}, ["track_id", "task_id"], extra=False),
    "BatchDeclaration": S({"batch_id": {"type": "string", "description": "Must equal the path's when set."}, "tracks": {"type": "array", "items": ref("TrackTask")}}, ["tracks"], extra=False),
    "Batch": S({"batch_id": str_, "tracks": {"type": "array", "items": ref("TrackTask")}}, ["batch_id", "tracks"]),
    "SettleRequest": S({"tracks": {"type": "array", "items": ref("TrackTask")}, "this_track": str_}, extra=False),
    "TrackState": S({"track_id": str_, "task_id": str_, "terminal_status": str_, "authoritative_verdict": nstr,
                     "durable_success_present": bool_, "writeback_classification": nstr}),
    "SettleResult": S({"schema": str_, "batch_id": str_, "evaluated_at_basis": str_, "tracks_expected": strs, "tracks_settled": strs,
                       "all_settled": bool_, "all_authoritative_pass": bool_,
                       "decision": {"type": "string", "enum": ["ALL_SETTLED_CONSOLIDATE", "RECORD_AND_DEFER"]},
                       "this_collector_is_last_settle_track": bool_, "fallback_pending_non_blocking": bool_,
                       "track_states": {"type": "array", "items": ref("TrackState")}, "consolidated_summary_candidate_path": nstr, "reasons": strs}),
    "Summary": S({"schema": str_, "batch_id": str_, "settle_result": ref("SettleResult"),
                  "track_records": {"type": "array", "items": ref("DurableRecord")}, "written_at": str_}),
    "Event": S({"id": int_, "type": str_, "time": {"type": "string", "format": "date-time"}, "key": str_, "data": {}}, ["id", "type", "time", "data"]),
    "Scene": {"type": "object", "description": "A scene (scene_id, beats, scene_metadata, locked, lock_reason; unknown members are kept).",
              "properties": {"scene_id": str_, "beats": {"type": "array", "items": {"type": "object"}}, "scene_metadata": {"type": "object"},
                             "locked": bool_, "lock_reason": nstr}, "required": ["scene_id"]},
    "SceneDocument": S({"version": int_, "fingerprint": str_, "scene": ref("Scene")}, ["version", "fingerprint", "scene"]),
    "SceneCarrier": S({"scene": ref("Scene")}, ["scene"], extra=False),
    "SceneList": S({"scenes": strs}, ["scenes"]),
    "VersionInfo": S({"version": int_, "artifact": str_, "structure_fingerprint": str_, "created_at": nstr, "reason": str_, "active": bool_}),
    "Versions": S({"batch_id": str_, "versions": {"type": "array", "items": ref("VersionInfo")}}, ["batch_id", "versions"]),
    "SavedResult": S({"batch_id": str_, "fingerprint": str_}),
    "CandidateRequest": S({"scene": ref("Scene"), "reason": str_, "activate": bool_}, ["scene"], extra=False),
    "CandidateResult": S({"batch_id": str_, "version": int_, "fingerprint": str_, "activated": bool_, "created": bool_}),
    "ActivateRequest": S({"version": int_}, ["version"], extra=False),
    "ActivateResult": S({"batch_id": str_, "active_version": int_}),
    "RecoverStaleRequest": S({"older_than": {"type": "string", "description": "A Go duration, default \"5m\"."},
                              "now": {"type": "string", "format": "date-time", "description": "Default: the server's clock."}}, extra=False),
    "RecoverStaleResult": S({"batch_id": str_, "stale": int_}),
    "InitRequest": S({"plan": {"type": "object", "description": "A plan with a \"sequences\" object."}, "max_takes": int_, "dry_run": bool_}, ["plan"], extra=False),
    "InitResult": S({"dry_run": bool_, "scenes": {"type": "array", "items": S({"batch": str_, "created": bool_, "beats": int_, "fingerprint": str_, "scene": ref("Scene")})}}),
}
doc = {
    "openapi": "3.1.0",
    "info": {"title": "settle", "version": "1",
             "description": "settle's HTTP API (settle serve): the durable-success write-back ledger, batch settlement, the callback 4-tuple registry, the versioned scene store and their events. Errors are {\"error\": {\"code\", \"message\"}} with the codes of docs/contracts.md §3. x-settle-roles lists the roles that may call an operation (an operator may call every operation)."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": paths,
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token from the server's config file (stored there as its sha256)."}},
                   "schemas": schemas},
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openapi.json"), "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
