package writeback

import "context"

// Schemas and constants of the seed module.
const (
	ModuleSchema          = "anu_v3.batch_settle_writeback.v1"
	DurableSchema         = "durable_success_writeback.v1"
	RegistrySchema        = "callback_4tuple_ledger_record.v1"
	ConflictSchema        = "writeback_conflict.v1"
	BatchSettleSchema     = "batch_settle_result.v1"
	EvaluatedAtBasis      = "normal_callback_durable_success_event"
	DefaultLedgerRelPath  = "memory/events/callback_4tuple_index.jsonl"
	SummariesRelDir       = "memory/events/batch_summaries"
	MirrorRole            = "anu_collector_durable_success"
	UnknownTrack          = "UNKNOWN_TRACK"
	DerivedDispatchPrefix = "derived:"
)

// Write-back classifications (decisions, not errors).
const (
	DurableSuccessWritten    = "DURABLE_SUCCESS_WRITTEN"
	WritebackIdempotentSkip  = "WRITEBACK_IDEMPOTENT_SKIP"
	WritebackBindingConflict = "WRITEBACK_BINDING_CONFLICT"
	TrackMismatch            = "TRACK_MISMATCH"
	SelfChainNoWriteback     = "SELF_CHAIN_NO_WRITEBACK"
)

// Selector classifications.
const (
	AuthoritativePass      = "AUTHORITATIVE_PASS"
	AuthoritativeFail      = "AUTHORITATIVE_FAIL"
	NoAuthoritativeVerdict = "NO_AUTHORITATIVE_VERDICT"
)

// Batch settle decisions.
const (
	AllSettledConsolidate = "ALL_SETTLED_CONSOLIDATE"
	RecordAndDefer        = "RECORD_AND_DEFER"
)

// Registry statuses and classify() results.
const (
	StatusRegistered = "REGISTERED"
	StatusDispatched = "DISPATCHED"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusCancelled  = "CANCELLED"

	ClassNormalCallbackCompleted = "NORMAL_CALLBACK_COMPLETED"
	ClassFailed                  = "FAILED"
	ClassRegistered              = "REGISTERED"
	ClassUnknown                 = "UNKNOWN"
)

// TerminalVerdicts authorise a durable-success write-back (seed §3.1).
var TerminalVerdicts = []string{"AUTHORITATIVE_PASS", "PASS", "ACCEPTED"}

// Fields11 are the §3.2 mandatory write-back fields.
var Fields11 = []string{
	"task_id", "track_id", "dispatch_id", "normal_collector_cron_id",
	"collector_key", "collector_role", "authoritative_verdict",
	"terminal_status", "completed_at", "source_result_path", "batch_id",
}

// BindingIdentityFields are never silently skipped on a mismatch (§3.9).
var BindingIdentityFields = []string{
	"task_id", "track_id", "collector_key", "dispatch_id", "authoritative_verdict",
}

// Config is the configuration the domain needs. Nothing of it is a
// constant of the code: the seed's hard-coded key set and chat id are here.
type Config struct {
	// CollectorKeys is the set of independent collector keys (the seed's
	// DEFAULT_ANU_KEYS).
	CollectorKeys []string
	// DefaultChatID is used for the binding guard and the registry mirror
	// when the verdict names no chat id (the seed's "6937032012").
	DefaultChatID string
}

// Binding is the §3.2 binding extracted from a verdict file (the seed's
// WritebackBinding).
type Binding struct {
	TaskID                      string  `json:"task_id"`
	TrackID                     string  `json:"track_id"`
	DispatchID                  string  `json:"dispatch_id"`
	DispatchIDSource            string  `json:"dispatch_id_source"`
	NormalCollectorCronID       string  `json:"normal_collector_cron_id"`
	NormalCollectorCronIDSource string  `json:"normal_collector_cron_id_source"`
	CollectorKey                string  `json:"collector_key"`
	CollectorRole               string  `json:"collector_role"`
	AuthoritativeVerdict        string  `json:"authoritative_verdict"`
	TerminalStatus              string  `json:"terminal_status"`
	CompletedAt                 string  `json:"completed_at"`
	SourceResultPath            string  `json:"source_result_path"`
	BatchID                     string  `json:"batch_id"`
	ExecutorKey                 string  `json:"executor_key"`
	ChatID                      string  `json:"chat_id"`
	FallbackCallbackCronID      *string `json:"fallback_callback_cron_id"`
	SessionIsExecutorSelf       bool    `json:"session_is_executor_self"`
}

// DurableRecord is a durable_success_writeback.v1 ledger record (the seed's
// WritebackBinding.to_record). JSON field names are the on-disk contract.
type DurableRecord struct {
	Schema                      string  `json:"schema"`
	TaskID                      string  `json:"task_id"`
	TrackID                     string  `json:"track_id"`
	DispatchID                  string  `json:"dispatch_id"`
	DispatchIDSource            string  `json:"dispatch_id_source"`
	NormalCollectorCronID       string  `json:"normal_collector_cron_id"`
	NormalCollectorCronIDSource string  `json:"normal_collector_cron_id_source"`
	CollectorKey                string  `json:"collector_key"`
	CollectorRole               string  `json:"collector_role"`
	AuthoritativeVerdict        string  `json:"authoritative_verdict"`
	TerminalStatus              string  `json:"terminal_status"`
	CompletedAt                 string  `json:"completed_at"`
	SourceResultPath            string  `json:"source_result_path"`
	BatchID                     string  `json:"batch_id"`
	ExecutorKey                 string  `json:"executor_key"`
	ChatID                      string  `json:"chat_id"`
	FallbackCallbackCronID      *string `json:"fallback_callback_cron_id"`
	WritebackClassification     string  `json:"writeback_classification"`
	WritebackID                 string  `json:"writeback_id"`
}

// RegistryRecord is a callback_4tuple_ledger_record.v1 record.
type RegistryRecord struct {
	Schema                 string  `json:"schema"`
	TaskID                 string  `json:"task_id"`
	DispatchID             string  `json:"dispatch_id"`
	DispatchCronID         string  `json:"dispatch_cron_id"`
	Executor               string  `json:"executor"`
	ChatID                 string  `json:"chat_id"`
	NormalCollectorCronID  string  `json:"normal_collector_cron_id"`
	FallbackCallbackCronID *string `json:"fallback_callback_cron_id"`
	Role                   string  `json:"role"`
	Status                 string  `json:"status"`
	NoFallback             bool    `json:"no_fallback"`
	TsKST                  string  `json:"ts_kst"`
}

// ConflictRecord is a writeback_conflict.v1 record: a refused candidate,
// recorded once per distinct candidate and never read as a success.
type ConflictRecord struct {
	Schema         string         `json:"schema"`
	ConflictID     string         `json:"conflict_id"`
	Classification string         `json:"classification"`
	TaskID         string         `json:"task_id"`
	TrackID        string         `json:"track_id"`
	BatchID        string         `json:"batch_id"`
	WritebackID    string         `json:"writeback_id"`
	Candidate      *DurableRecord `json:"candidate"`
	Reasons        []string       `json:"reasons"`
	RecordedAt     string         `json:"recorded_at"`
}

// Decision is the outcome of a write-back (the seed's WritebackDecision).
// Its JSON is the seed's to_json().
type Decision struct {
	Schema         string         `json:"schema"`
	Verdict        string         `json:"verdict"` // PASS | FAIL
	Classification string         `json:"classification"`
	TaskID         string         `json:"task_id"`
	TrackID        string         `json:"track_id"`
	BatchID        string         `json:"batch_id"`
	DurableRecord  *DurableRecord `json:"durable_record"`
	// Appended keeps the seed's meaning: a durable success was appended.
	Appended bool     `json:"appended"`
	Reasons  []string `json:"reasons"`
}

// OK reports a PASS decision.
func (d *Decision) OK() bool { return d.Verdict == "PASS" }

// TrackTask is one expected track of a batch and the task behind it.
type TrackTask struct {
	TrackID string `json:"track_id"`
	TaskID  string `json:"task_id"`
}

// TrackState is one entry of SettleResult.TrackStates.
type TrackState struct {
	TrackID                 string  `json:"track_id"`
	TaskID                  string  `json:"task_id"`
	TerminalStatus          string  `json:"terminal_status"`
	AuthoritativeVerdict    *string `json:"authoritative_verdict"`
	DurableSuccessPresent   bool    `json:"durable_success_present"`
	WritebackClassification *string `json:"writeback_classification"`
}

// SettleResult is the seed's BatchSettleResult; its JSON is to_json().
type SettleResult struct {
	Schema                           string       `json:"schema"`
	BatchID                          string       `json:"batch_id"`
	EvaluatedAtBasis                 string       `json:"evaluated_at_basis"`
	TracksExpected                   []string     `json:"tracks_expected"`
	TracksSettled                    []string     `json:"tracks_settled"`
	AllSettled                       bool         `json:"all_settled"`
	AllAuthoritativePass             bool         `json:"all_authoritative_pass"`
	Decision                         string       `json:"decision"`
	ThisCollectorIsLastSettleTrack   bool         `json:"this_collector_is_last_settle_track"`
	FallbackPendingNonBlocking       bool         `json:"fallback_pending_non_blocking"`
	TrackStates                      []TrackState `json:"track_states"`
	ConsolidatedSummaryCandidatePath *string      `json:"consolidated_summary_candidate_path"`
	Reasons                          []string     `json:"reasons"`
}

// Summary is the consolidated summary written once when a batch first
// reaches ALL_SETTLED_CONSOLIDATE: the settle result plus each track's
// durable record.
type Summary struct {
	Schema    string          `json:"schema"` // "batch_consolidated_summary.v1"
	BatchID   string          `json:"batch_id"`
	Result    SettleResult    `json:"settle_result"`
	Records   []DurableRecord `json:"track_records"`
	WrittenAt string          `json:"written_at"`
}

// SummarySchema is the schema of the consolidated summary file.
const SummarySchema = "batch_consolidated_summary.v1"

// Batch is a batch declaration: its expected tracks, as declared with
// PUT /v1/batches/{batch}.
type Batch struct {
	BatchID string      `json:"batch_id"`
	Tracks  []TrackTask `json:"tracks"`
}

// Indexed is a durable record with its position in the ledger (0-based
// record sequence number among all records of all schemas).
type Indexed struct {
	Seq int64
	Rec *DurableRecord
}

// View is what the pure evaluator needs to know of the ledger. A store
// provides it from its index, under the store's write lock.
type View interface {
	// DurableByWritebackID returns the durable records whose writeback_id
	// is id, in ledger order.
	DurableByWritebackID(id string) []Indexed
	// DurableByIdentity returns the durable records with this task, track,
	// dispatch, collector and batch, in ledger order.
	DurableByIdentity(k IdentityKey) []Indexed
	// RegistryHistory returns the registry records of the task in ledger
	// order.
	RegistryHistory(task string) []RegistryRecord
}

// IdentityKey is the seed's idempotency identity (everything of the
// writeback_id but the verdict).
type IdentityKey struct {
	TaskID, TrackID, DispatchID, CollectorKey, BatchID string
}

// WritebackRequest is one write-back: an extracted binding plus the caller's
// expectations.
type WritebackRequest struct {
	Binding Binding
	// Expected maps identity fields to expected values (values compared as
	// Python's str()). nil or empty: no expectation.
	Expected map[string]any
	// DryRun evaluates without writing anything.
	DryRun bool
}

// RecordKind selects the schema of records in a query.
type RecordKind string

const (
	KindDurable  RecordKind = "durable"
	KindRegistry RecordKind = "registry"
	KindConflict RecordKind = "conflict"
)

// RecordQuery selects ledger records. Empty fields match anything.
type RecordQuery struct {
	Kind    RecordKind // "" = every kind
	BatchID string
	TaskID  string
	// After is an exclusive cursor: only records with Seq > After. Use -1
	// for the start.
	After int64
	Limit int // 0 = default (100); capped by the store
}

// LedgerRecord is one record of the ledger in append order. Exactly one of
// Durable, Registry, Conflict is set. Raw is the record's exact JSON line
// (without the newline) as stored.
type LedgerRecord struct {
	Seq      int64           `json:"seq"`
	Kind     RecordKind      `json:"kind"`
	Durable  *DurableRecord  `json:"durable,omitempty"`
	Registry *RegistryRecord `json:"registry,omitempty"`
	Conflict *ConflictRecord `json:"conflict,omitempty"`
	Raw      []byte          `json:"-"`
}

// Body is the record's body, the one of Durable, Registry and Conflict
// that is set (what EncodeLine writes), or nil when none is.
func (r *LedgerRecord) Body() any {
	switch {
	case r.Durable != nil:
		return r.Durable
	case r.Registry != nil:
		return r.Registry
	case r.Conflict != nil:
		return r.Conflict
	}
	return nil
}

// RecordPage is a page of records; Next is the cursor for the next page, or
// -1 when there is none.
type RecordPage struct {
	Records []LedgerRecord `json:"records"`
	Next    int64          `json:"next"`
}

// SettleOutcome is a settle evaluation plus whether this evaluation wrote
// the consolidated summary (the batch's first consolidation).
type SettleOutcome struct {
	Result SettleResult
	// FirstConsolidation is true for exactly one evaluation per batch: the
	// one that wrote the summary.
	FirstConsolidation bool
}

// WritebackOutcome is a decision plus what was written for it.
type WritebackOutcome struct {
	Decision Decision
	// ConflictRecorded is true when this call appended a
	// writeback_conflict.v1 record for a refused candidate.
	ConflictRecorded bool
}

// WritebackItem is one answer of WritebackMany: the item's outcome, or
// the error of that item alone.
type WritebackItem struct {
	Outcome WritebackOutcome
	Err     error
}

// Store is a durable ledger: the file store, the PostgreSQL store and the
// HTTP client implement it.
type Store interface {
	// Writeback evaluates the request against the ledger and, unless
	// DryRun, applies it atomically with respect to every other writer: a
	// success appends the durable record and its registry COMPLETED mirror
	// together; a refusal appends one writeback_conflict.v1 record the
	// first time that candidate is refused; an idempotent skip writes
	// nothing. Errors: InvalidInput (malformed request), Unavailable, Internal.
	Writeback(ctx context.Context, req WritebackRequest) (WritebackOutcome, error)

	// WritebackMany applies up to settle.MaxBatchWritebacks write-backs
	// in one group commit, each evaluated in order exactly as Writeback
	// would evaluate it sent alone after the ones before it (an item sees
	// what the earlier items staged). It answers one item per request, in
	// order; an item's own refusal (InvalidInput, a dry run) is its Err and
	// does not stop the others. Each item's records are all written or
	// none. The error is for the whole call: more items than the limit
	// (InvalidInput, nothing evaluated), a context ended before the group
	// started (Unavailable).
	WritebackMany(ctx context.Context, reqs []WritebackRequest) ([]WritebackItem, error)

	// Settle evaluates the batch on its durable records (no clock) and,
	// the first time it reaches ALL_SETTLED_CONSOLIDATE, writes the
	// consolidated summary once. Errors: InvalidInput, Internal.
	Settle(ctx context.Context, batchID string, tracks []TrackTask, thisTrack string) (SettleOutcome, error)

	// AppendRegistry validates and appends a registry record.
	// Errors: InvalidInput (with the validation reasons), Unavailable.
	AppendRegistry(ctx context.Context, rec RegistryRecord) error
	// RegistryHistory returns the task's registry records in ledger order.
	RegistryHistory(ctx context.Context, taskID string) ([]RegistryRecord, error)
	// Classify returns the registry classification of the task.
	Classify(ctx context.Context, taskID string) (string, error)

	// Records pages through the ledger in append order.
	Records(ctx context.Context, q RecordQuery) (RecordPage, error)

	// DeclareBatch stores (or replaces) a batch's expected tracks.
	// Errors: InvalidInput.
	DeclareBatch(ctx context.Context, b Batch) error
	// GetBatch returns a declared batch. Errors: NotFound.
	GetBatch(ctx context.Context, batchID string) (Batch, error)
	// Summary returns a batch's consolidated summary. Errors: NotFound.
	Summary(ctx context.Context, batchID string) (Summary, error)

	Close() error
}

// BatchFinder is a Store that answers a batch that is not declared
// without making an error: the server looks up the declared batch of
// every write-back, and most write-backs name a batch nobody declared.
// The file store implements it.
type BatchFinder interface {
	// FindBatch is GetBatch, except that where GetBatch fails with
	// NotFound or InvalidInput (a batch id that cannot be declared) it
	// returns (Batch{}, false, nil).
	FindBatch(ctx context.Context, batchID string) (Batch, bool, error)
}

// SettlerWithout is a Store whose Settle can leave records out: the
// items of one WritebackMany are all committed before the first is
// derived, so an item's batch is settled without the records of the items
// after it, as it would be had it been sent alone. The file and
// PostgreSQL stores implement it.
type SettlerWithout interface {
	// SettleWithout is Settle on the batch's durable records but those
	// whose writeback id is in without (nil: Settle).
	SettleWithout(ctx context.Context, batchID string, tracks []TrackTask, thisTrack string, without map[string]bool) (SettleOutcome, error)
}
