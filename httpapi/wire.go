package httpapi

import (
	"encoding/json"

	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Headers the API sets or reads besides the standard ones.
const (
	// HeaderRequestID carries the request id (accepted from the client
	// when well formed, else generated) on every response.
	HeaderRequestID = "X-Request-ID"
	// HeaderConflictRecorded is "true" on a write-back response when the
	// request appended a writeback_conflict.v1 record.
	HeaderConflictRecorded = "Settle-Conflict-Recorded"
	// HeaderBatchDecision is the settle decision of the record's declared
	// batch, re-evaluated after a recorded write-back or a declaration.
	HeaderBatchDecision = "Settle-Batch-Decision"
	// HeaderFirstConsolidation is "true" on a batch settle answer when
	// that evaluation wrote the batch's consolidated summary, and on a
	// write-back answer when its record is the one that first
	// consolidated the batch (whoever wrote the summary: the write-back's
	// own evaluation, another writer's or the ledger follower's); an
	// idempotent retry of that write-back gets it again.
	HeaderFirstConsolidation = "Settle-First-Consolidation"
)

// WritebackBody is the body of POST /v1/writebacks. Exactly one of
// Verdict (a collector's verdict document, extracted by the server) or
// Binding (an already extracted binding, as the Go client sends) is set.
type WritebackBody struct {
	// Verdict is the verdict document (the CLI's verdict file contents).
	Verdict json.RawMessage `json:"verdict,omitempty"`
	// SourcePath is recorded as source_result_path (relative to the
	// server's root when under it). Default: "api:verdict-sha256:<hex>"
	// of the document.
	SourcePath string `json:"source_path,omitempty"`
	// BatchID is required with Verdict.
	BatchID string `json:"batch_id,omitempty"`
	// TrackID and ExecutorKey override the document's (as the CLI's
	// --track and --executor-key).
	TrackID     string `json:"track_id,omitempty"`
	ExecutorKey string `json:"executor_key,omitempty"`

	Binding *writeback.Binding `json:"binding,omitempty"`

	// Expected maps identity fields to expected values (compared as
	// Python's str()).
	Expected json.RawMessage `json:"expected,omitempty"`
	// DryRun evaluates without writing anything.
	DryRun bool `json:"dry_run,omitempty"`
}

// WritebackBatchBody is the body of POST /v1/writebacks/batch: up to
// settle.MaxBatchWritebacks write-back bodies (no dry runs), committed
// together.
type WritebackBatchBody struct {
	Writebacks []WritebackBody `json:"writebacks"`
}

// WritebackBatchResponse is the 200 answer of POST /v1/writebacks/batch:
// one result per write-back, in order.
type WritebackBatchResponse struct {
	Results []WritebackBatchResult `json:"results"`
}

// WritebackBatchResult is one write-back's answer in a batch: the status
// and body POST /v1/writebacks would have answered it with, the headers
// as fields. Error is set for an item refused alone (400, 403 for a
// foreign collector key, with the decision its refusal was recorded
// with; 503 when its consequences failed: retry it).
type WritebackBatchResult struct {
	Status             int                 `json:"status"`
	Decision           *writeback.Decision `json:"decision,omitempty"`
	ConflictRecorded   bool                `json:"conflict_recorded"`
	BatchDecision      string              `json:"batch_decision,omitempty"`
	FirstConsolidation bool                `json:"first_consolidation,omitempty"`
	Error              *APIError           `json:"error,omitempty"`
}

// ForbiddenBody is the 403 answer to a collector that wrote back a
// verdict naming another collector key: the error, plus the decision the
// refusal was recorded with (absent for a dry run).
type ForbiddenBody struct {
	Error            APIError            `json:"error"`
	Decision         *writeback.Decision `json:"decision,omitempty"`
	ConflictRecorded bool                `json:"conflict_recorded"`
}

// APIError is the error object of every error response:
// {"error": {"code": "...", "message": "..."}}.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is an error response.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// WireRecord is one ledger record on the wire: writeback.LedgerRecord plus
// its stored line.
type WireRecord struct {
	Seq      int64                     `json:"seq"`
	Kind     writeback.RecordKind      `json:"kind"`
	Durable  *writeback.DurableRecord  `json:"durable,omitempty"`
	Registry *writeback.RegistryRecord `json:"registry,omitempty"`
	Conflict *writeback.ConflictRecord `json:"conflict,omitempty"`
	// Raw is the record's exact JSON line as stored, when the store
	// provides it.
	Raw string `json:"raw,omitempty"`
}

// RecordsPage is the body of GET /v1/records.
type RecordsPage struct {
	Records []WireRecord `json:"records"`
	Next    int64        `json:"next"`
}

// RegistryHistoryBody is the body of GET /v1/registry/{task}.
type RegistryHistoryBody struct {
	TaskID  string                     `json:"task_id"`
	Records []writeback.RegistryRecord `json:"records"`
}

// ClassificationBody is the body of GET /v1/registry/{task}/classification.
type ClassificationBody struct {
	TaskID         string `json:"task_id"`
	Classification string `json:"classification"`
}

// DeclareBody is the body of PUT /v1/batches/{batch}.
type DeclareBody struct {
	BatchID string                `json:"batch_id,omitempty"` // must equal the path's when set
	Tracks  []writeback.TrackTask `json:"tracks"`
}

// SettleBody is the body of POST /v1/batches/{batch}/settle. Without
// tracks (absent or null) the batch's declaration is used.
type SettleBody struct {
	Tracks    []writeback.TrackTask `json:"tracks,omitempty"`
	ThisTrack string                `json:"this_track,omitempty"`
}

// SceneBody is a scene as GET returns it: {"version", "fingerprint",
// "revision", "scene"} (the CLI's scene show --json). The ETag is
// "version-revision" (BodyETag).
type SceneBody struct {
	Version     int             `json:"version"`
	Fingerprint string          `json:"fingerprint"`
	Revision    string          `json:"revision,omitempty"`
	Scene       json.RawMessage `json:"scene"`
}

// ScenePut carries a scene: the body of save-runner.
type ScenePut struct {
	Scene json.RawMessage `json:"scene"`
}

// SavedResult answers a guarded save of a flat body.
type SavedResult struct {
	BatchID     string `json:"batch_id"`
	Fingerprint string `json:"fingerprint"`
}

// CandidateBody is the body of POST .../scenes/{batch}/versions.
type CandidateBody struct {
	Scene    json.RawMessage `json:"scene"`
	Reason   string          `json:"reason,omitempty"`
	Activate bool            `json:"activate,omitempty"`
}

// CandidateResult answers a candidate: its version (an existing one when
// the structure was already registered) and whether it was created.
type CandidateResult struct {
	BatchID     string `json:"batch_id"`
	Version     int    `json:"version"`
	Fingerprint string `json:"fingerprint"`
	Activated   bool   `json:"activated"`
	Created     bool   `json:"created"`
}

// ActivateBody is the body of POST .../scenes/{batch}/activate.
type ActivateBody struct {
	Version int `json:"version"`
}

// ActivateResult answers an activation.
type ActivateResult struct {
	BatchID       string `json:"batch_id"`
	ActiveVersion int    `json:"active_version"`
}

// RecoverStaleBody is the body of POST .../scenes/{batch}/recover-stale.
type RecoverStaleBody struct {
	// OlderThan is a Go duration ("5m"); default 5m.
	OlderThan string `json:"older_than,omitempty"`
	// Now is an RFC 3339 time; default the server's clock.
	Now string `json:"now,omitempty"`
}

// RecoverStaleResult answers recover-stale.
type RecoverStaleResult struct {
	BatchID string `json:"batch_id"`
	Stale   int    `json:"stale"`
}

// VersionsBody is the body of GET .../scenes/{batch}/versions.
type VersionsBody struct {
	BatchID  string              `json:"batch_id"`
	Versions []scene.VersionInfo `json:"versions"`
}

// ListBody is the body of GET .../episodes/{episode}/scenes.
type ListBody struct {
	Scenes []string `json:"scenes"`
}

// InitBody is the body of POST .../episodes/{episode}/init.
type InitBody struct {
	Plan     json.RawMessage `json:"plan"`
	MaxTakes *int            `json:"max_takes,omitempty"`
	DryRun   bool            `json:"dry_run,omitempty"`
}

// InitScene is one scene of an init answer.
type InitScene struct {
	Batch       string          `json:"batch"`
	Created     bool            `json:"created"`
	Beats       int             `json:"beats"`
	Fingerprint string          `json:"fingerprint"`
	Scene       json.RawMessage `json:"scene"`
}

// InitResultBody answers init.
type InitResultBody struct {
	DryRun bool        `json:"dry_run"`
	Scenes []InitScene `json:"scenes"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Warnings name what the server will refuse although it is ready (no
	// collector keys configured: every write-back is refused).
	Warnings []string `json:"warnings,omitempty"`
}
