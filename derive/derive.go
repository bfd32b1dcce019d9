package derive

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/jsonw"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Event key prefixes: a keyed event is appended at most once per log.
const (
	recordedKeyPrefix       = "writeback.recorded:"
	settledKeyPrefix        = "batch.settled:"
	versionCreatedKeyPrefix = "scene.version_created:"
	statusSavedKeyPrefix    = "scene.status_saved:"
	activatedKeyPrefix      = "scene.activated:"
)

// RecordedKey is the key of a durable record's writeback.recorded event.
func RecordedKey(writebackID string) string { return recordedKeyPrefix + writebackID }

// SettledKey is the key of a batch's batch.settled event.
func SettledKey(batchID string) string { return settledKeyPrefix + batchID }

// VersionCreatedKey makes scene.version_created exactly-once per version
// (a candidate equal to a registered version returns that version).
func VersionCreatedKey(d SceneEventData) string {
	return versionCreatedKeyPrefix + d.Project + "/" + d.Episode + "/" + d.Batch + "/v" + strconv.Itoa(d.Version)
}

// StatusSavedKey makes scene.status_saved exactly-once per save: a save
// is its version, the revision of the body it wrote and the stamp of the
// file or row (scene.Loaded.Stamp), which the writer and a follower of
// the files both see. "" when d has no stamp (a store without stamps):
// the event is then appended by its writer alone, unkeyed.
func StatusSavedKey(d SceneEventData) string {
	if d.Stamp == "" || d.Revision == "" {
		return ""
	}
	return statusSavedKeyPrefix + d.Project + "/" + d.Episode + "/" + d.Batch + "/v" + strconv.Itoa(d.Version) + "/" + d.Revision + "/" + d.Stamp
}

// ActivatedKey makes scene.activated exactly-once per activation: its
// version and the stamp of the manifest it wrote (the file and
// PostgreSQL stores' scene.StampedActivator), which the writer and a
// follower of the files both see. "" when d has no stamp (a store without
// stamps): the event is then appended by its writer alone, unkeyed.
func ActivatedKey(d SceneEventData) string {
	if d.Stamp == "" {
		return ""
	}
	return activatedKeyPrefix + d.Project + "/" + d.Episode + "/" + d.Batch + "/v" + strconv.Itoa(d.Version) + "/" + d.Stamp
}

// RecordedData is the data of a writeback.recorded event.
type RecordedData struct {
	WritebackID          string `json:"writeback_id"`
	TaskID               string `json:"task_id"`
	TrackID              string `json:"track_id"`
	BatchID              string `json:"batch_id"`
	DispatchID           string `json:"dispatch_id"`
	CollectorKey         string `json:"collector_key"`
	AuthoritativeVerdict string `json:"authoritative_verdict"`
	CompletedAt          string `json:"completed_at"`
	// Principal is who wrote it back ("" when derived from the ledger
	// alone: written by another tool, or found after a crash).
	Principal string `json:"principal,omitempty"`
}

// AppendJSON appends the data as json.Marshal encodes it, without
// reflection (an event log that can takes it instead of json.Marshal: one
// writeback.recorded event per write-back).
func (r RecordedData) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonw.String(jsonw.Field(dst, "writeback_id"), r.WritebackID)
	dst = jsonw.String(jsonw.Field(dst, "task_id"), r.TaskID)
	dst = jsonw.String(jsonw.Field(dst, "track_id"), r.TrackID)
	dst = jsonw.String(jsonw.Field(dst, "batch_id"), r.BatchID)
	dst = jsonw.String(jsonw.Field(dst, "dispatch_id"), r.DispatchID)
	dst = jsonw.String(jsonw.Field(dst, "collector_key"), r.CollectorKey)
	dst = jsonw.String(jsonw.Field(dst, "authoritative_verdict"), r.AuthoritativeVerdict)
	dst = jsonw.String(jsonw.Field(dst, "completed_at"), r.CompletedAt)
	if r.Principal != "" {
		dst = jsonw.String(jsonw.Field(dst, "principal"), r.Principal)
	}
	return append(dst, '}')
}

// SettledData is the data of a batch.settled event.
type SettledData struct {
	BatchID       string   `json:"batch_id"`
	Decision      string   `json:"decision"`
	TracksSettled []string `json:"tracks_settled"`
	SummaryPath   *string  `json:"summary_path"`
}

// RefusedData is the data of a writeback.refused event.
type RefusedData struct {
	Classification   string   `json:"classification"`
	Code             string   `json:"code,omitempty"` // FORBIDDEN for a forged collector key
	TaskID           string   `json:"task_id"`
	TrackID          string   `json:"track_id"`
	BatchID          string   `json:"batch_id"`
	WritebackID      string   `json:"writeback_id"`
	CollectorKey     string   `json:"collector_key"`
	Principal        string   `json:"principal"`
	ConflictRecorded bool     `json:"conflict_recorded"`
	Reasons          []string `json:"reasons"`
}

// SceneEventData is the data of the scene.* events.
type SceneEventData struct {
	Project string `json:"project"`
	Episode string `json:"episode"`
	Batch   string `json:"batch"`
	Version int    `json:"version"`
	// Fingerprint is the structure fingerprint of the saved body
	// (status_saved, version_created).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Revision is the revision of the body the event announces
	// (status_saved, version_created; scene.Revision).
	Revision string `json:"revision,omitempty"`
	// Stamp is the saved body file's stamp (scene.Loaded.Stamp), part of
	// a status_saved event's key, or the written manifest's, part of an
	// activated event's key; never of the data.
	Stamp string `json:"-"`
	// Via says which write saved a status: patch, runner or recover_stale.
	Via string `json:"via,omitempty"`
	// Stale counts the takes recover_stale marked.
	Stale     int    `json:"stale,omitempty"`
	Activated bool   `json:"activated,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Principal string `json:"principal,omitempty"`
}

// SceneEvent fills the common fields of a scene event (the episode in its
// canonical ep_NNN form when it has one).
func SceneEvent(ref scene.Ref, version int, principal string) SceneEventData {
	ep := ref.Episode
	if c, err := scene.CanonicalEpisode(ep); err == nil {
		ep = c
	}
	return SceneEventData{Project: ref.Project, Episode: ep, Batch: ref.Batch, Version: version, Principal: principal}
}

// Options configures a Deriver.
type Options struct {
	// Ledger is needed by everything but Scene (nil for a Deriver of
	// scene events only).
	Ledger writeback.Store
	Events event.Log
	// Logger receives settlements and follower progress (nil =
	// slog.Default()).
	Logger *slog.Logger
	// OnSettled, if set, is called once for each batch.settled event this
	// Deriver appended (for metrics).
	OnSettled func(batchID string)
	// Sync appends every event durably before returning, never posting
	// one (event.Poster): for a process that exits after its write.
	Sync bool
}

// Deriver computes the consequences of writes; safe for concurrent use.
type Deriver struct {
	ledger    writeback.Store
	events    event.Log
	log       *slog.Logger
	onSettled func(string)
	sync      bool

	// handled holds the writeback ids whose consequences this process has
	// derived already, so the follower does not evaluate their batch
	// again; the follower removes each id as it passes it.
	hmu     sync.Mutex
	handled map[string]struct{}

	// writing counts the scene writes of this process in progress per
	// batch (SceneWriting), whose bodies FollowScenes leaves to them.
	wmu     sync.Mutex
	writing map[string]int
}

// New returns a Deriver over a ledger and an event log.
func New(opts Options) (*Deriver, error) {
	if opts.Events == nil {
		return nil, settle.Errorf(settle.InvalidInput, "derive: Events is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Deriver{ledger: opts.Ledger, events: opts.Events, log: log, onSettled: opts.OnSettled, sync: opts.Sync, handled: map[string]struct{}{}, writing: map[string]int{}}, nil
}

// maxHandled bounds the handled set when no follower drains it.
const maxHandled = 1 << 16

func (d *Deriver) markHandled(wid string) {
	d.hmu.Lock()
	if len(d.handled) >= maxHandled {
		clear(d.handled)
	}
	d.handled[wid] = struct{}{}
	d.hmu.Unlock()
}

// takeHandled reports whether wid was handled by this process, and forgets it.
func (d *Deriver) takeHandled(wid string) bool {
	d.hmu.Lock()
	_, ok := d.handled[wid]
	if ok {
		delete(d.handled, wid)
	}
	d.hmu.Unlock()
	return ok
}

// Recorded appends a durable record's writeback.recorded event once. With
// post set and a log that can (event.Poster), the event is queued without
// waiting for its fsync: the record it announces is durable in the ledger
// already, and Reconcile or Follow re-create the event if it is lost.
func (d *Deriver) Recorded(ctx context.Context, rec *writeback.DurableRecord, principal string, post bool) error {
	data := recordedData(rec, principal)
	if p, ok := d.events.(event.Poster); ok && post && !d.sync {
		return p.PostOnce(ctx, RecordedKey(rec.WritebackID), event.WritebackRecorded, data)
	}
	_, _, err := d.events.AppendOnce(ctx, RecordedKey(rec.WritebackID), event.WritebackRecorded, data)
	return err
}

// AfterWriteback derives the consequences of an applied (not dry-run)
// write-back decision: for a durable success or an idempotent skip, its
// writeback.recorded event and its declared batch's settlement (the
// returned outcome, nil when the batch is not declared); for a refusal, a
// writeback.refused event. A fresh record's event is posted; an idempotent
// skip appends it durably if it is missing, so the retry of a write-back
// whose consequences failed completes them.
func (d *Deriver) AfterWriteback(ctx context.Context, dec *writeback.Decision, conflictRecorded bool, principal string) (*writeback.SettleOutcome, error) {
	// The write is durable: its consequences are completed even if the
	// caller goes away meanwhile.
	ctx = context.WithoutCancel(ctx)
	switch dec.Classification {
	case writeback.DurableSuccessWritten, writeback.WritebackIdempotentSkip:
		rec := dec.DurableRecord
		if rec == nil {
			return nil, settle.Errorf(settle.Internal, "%s decision without its durable record", dec.Classification)
		}
		if err := d.Recorded(ctx, rec, principal, dec.Classification == writeback.DurableSuccessWritten); err != nil {
			return nil, err
		}
		// The follower has nothing left to add: its event is appended or
		// queued, and the batch is settled below.
		d.markHandled(rec.WritebackID)
		b, so, err := d.settleDeclared(ctx, rec.BatchID, rec.TrackID)
		if err != nil || so == nil {
			return so, err
		}
		// Whoever wrote the summary (this call, another writer, or a
		// follower), the write-back that completed the batch is told so,
		// and only that one (also on its idempotent retries).
		so.FirstConsolidation = false
		if so.Result.Decision == writeback.AllSettledConsolidate {
			if so.FirstConsolidation, err = d.completes(ctx, b, rec.WritebackID); err != nil {
				return nil, err
			}
		}
		return so, nil
	default:
		return nil, d.Refused(ctx, refusedOf(dec, conflictRecorded, principal))
	}
}

// refusedOf is the writeback.refused event data of a refused decision.
func refusedOf(dec *writeback.Decision, conflictRecorded bool, principal string) RefusedData {
	data := RefusedData{
		Classification:   dec.Classification,
		TaskID:           dec.TaskID,
		TrackID:          dec.TrackID,
		BatchID:          dec.BatchID,
		Principal:        principal,
		ConflictRecorded: conflictRecorded,
		Reasons:          dec.Reasons,
	}
	if dec.DurableRecord != nil {
		data.WritebackID = dec.DurableRecord.WritebackID
		data.CollectorKey = dec.DurableRecord.CollectorKey
	}
	return data
}

// Refused appends a writeback.refused event.
func (d *Deriver) Refused(ctx context.Context, data RefusedData) error {
	_, err := d.events.Append(context.WithoutCancel(ctx), event.WritebackRefused, data)
	return err
}

// SettleDeclared re-evaluates a declared batch (nil, nil when the batch is
// not declared) and announces its settlement.
func (d *Deriver) SettleDeclared(ctx context.Context, batchID, thisTrack string) (*writeback.SettleOutcome, error) {
	_, so, err := d.settleDeclared(ctx, batchID, thisTrack)
	return so, err
}

func (d *Deriver) settleDeclared(ctx context.Context, batchID, thisTrack string) (writeback.Batch, *writeback.SettleOutcome, error) {
	if batchID == "" {
		return writeback.Batch{}, nil, nil
	}
	b, declared, err := d.findBatch(ctx, batchID)
	if err != nil || !declared {
		return b, nil, err
	}
	so, err := d.SettleAndAnnounce(ctx, batchID, b.Tracks, thisTrack)
	if err != nil {
		return b, nil, err
	}
	return b, &so, nil
}

// findBatch returns a declared batch; declared is false when the batch is
// not declared or its id cannot be declared (GetBatch's NotFound and
// InvalidInput).
func (d *Deriver) findBatch(ctx context.Context, batchID string) (writeback.Batch, bool, error) {
	if f, ok := d.ledger.(writeback.BatchFinder); ok {
		return f.FindBatch(ctx, batchID)
	}
	b, err := d.ledger.GetBatch(ctx, batchID)
	switch settle.ErrorCode(err) {
	case settle.NotFound, settle.InvalidInput:
		return b, false, nil
	}
	return b, err == nil, err
}

// completes reports whether the durable record wid is the one that first
// consolidated the batch: the batch evaluated on the records before it is
// not ALL_SETTLED_CONSOLIDATE, and on the records up to it is.
func (d *Deriver) completes(ctx context.Context, b writeback.Batch, wid string) (bool, error) {
	recs, err := d.batchRecords(ctx, b.BatchID)
	if err != nil {
		return false, err
	}
	return completesIn(recs, b, wid), nil
}

// batchRecords returns the batch's durable successes in ledger order.
func (d *Deriver) batchRecords(ctx context.Context, batchID string) ([]*writeback.DurableRecord, error) {
	var out []*writeback.DurableRecord
	cursor := int64(-1)
	for {
		page, err := d.ledger.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, BatchID: batchID, After: cursor, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, lr := range page.Records {
			r := lr.Durable
			if r == nil || r.WritebackClassification != writeback.DurableSuccessWritten || r.BatchID != batchID {
				continue
			}
			out = append(out, r)
		}
		if page.Next < 0 || len(page.Records) == 0 {
			return out, nil
		}
		cursor = page.Next
	}
}

// completesIn reports whether wid is the record of recs (the batch's
// durable successes in ledger order) that first consolidated the batch.
func completesIn(recs []*writeback.DurableRecord, b writeback.Batch, wid string) bool {
	latest := map[string]*writeback.DurableRecord{}
	lookup := func(track string) *writeback.DurableRecord { return latest[track] }
	for _, r := range recs {
		if r.WritebackID == wid {
			before := writeback.Settle(b.BatchID, b.Tracks, "", lookup).Decision
			latest[r.TrackID] = r
			after := writeback.Settle(b.BatchID, b.Tracks, "", lookup).Decision
			return before != writeback.AllSettledConsolidate && after == writeback.AllSettledConsolidate
		}
		latest[r.TrackID] = r
	}
	return false
}

// SettleAndAnnounce evaluates a batch (the store writes the consolidated
// summary on its first consolidation) and, when it is
// ALL_SETTLED_CONSOLIDATE, appends its batch.settled event unless the log
// already has it. Settlement is judged on the event of a write-back or a
// declaration, never on a clock; the keyed append makes the event
// exactly-once across concurrent writers and restarts (a crash between the
// summary and the event is repaired by the next evaluation).
func (d *Deriver) SettleAndAnnounce(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	return d.settleAnnounce(ctx, batchID, tracks, thisTrack, nil)
}

// settleAnnounce is SettleAndAnnounce on the batch's records but those in
// without (writeback.SettlerWithout).
func (d *Deriver) settleAnnounce(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string, without map[string]bool) (writeback.SettleOutcome, error) {
	var (
		so  writeback.SettleOutcome
		err error
	)
	if sw, ok := d.ledger.(writeback.SettlerWithout); ok && len(without) > 0 {
		so, err = sw.SettleWithout(ctx, batchID, tracks, thisTrack, without)
	} else {
		so, err = d.ledger.Settle(ctx, batchID, tracks, thisTrack)
	}
	if err != nil {
		return so, err
	}
	if so.Result.Decision != writeback.AllSettledConsolidate {
		return so, nil
	}
	settled := so.Result.TracksSettled
	if settled == nil {
		settled = []string{}
	}
	// The summary is written: announce it even if the caller goes away.
	_, appended, err := d.events.AppendOnce(context.WithoutCancel(ctx), SettledKey(batchID), event.BatchSettled, SettledData{
		BatchID:       batchID,
		Decision:      so.Result.Decision,
		TracksSettled: settled,
		SummaryPath:   so.Result.ConsolidatedSummaryCandidatePath,
	})
	if err != nil {
		return so, err
	}
	if appended {
		if d.onSettled != nil {
			d.onSettled(batchID)
		}
		d.log.Info("batch settled", "batch_id", batchID, "tracks", len(settled))
	}
	return so, nil
}

// Scene appends the event of a done scene write: scene.version_created
// once per version (the returned bool says whether this call appended
// it), scene.status_saved and scene.activated once per write when it
// has a stamp (StatusSavedKey, ActivatedKey: the follower of the files
// may have derived it already), the others each time.
func (d *Deriver) Scene(ctx context.Context, typ string, data SceneEventData) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	key := ""
	switch typ {
	case event.SceneVersionCreated:
		key = VersionCreatedKey(data)
	case event.SceneStatusSaved:
		key = StatusSavedKey(data)
	case event.SceneActivated:
		key = ActivatedKey(data)
	}
	if key != "" {
		_, appended, err := d.events.AppendOnce(ctx, key, typ, data)
		return appended, err
	}
	_, err := d.events.Append(ctx, typ, data)
	return err == nil, err
}

// StatusSaved appends the events of a done status save: when the save
// created the batch (scene.Loaded.Created, the seed's cold start), the
// scene.version_created of its version first, as a follower of the
// files announces a body it finds new; then the save's
// scene.status_saved. The server's handlers and the CLI both call it.
func (d *Deriver) StatusSaved(ctx context.Context, data SceneEventData, created bool) error {
	if created {
		c := data
		c.Via, c.Stale, c.Stamp = "", 0, ""
		if _, err := d.Scene(ctx, event.SceneVersionCreated, c); err != nil {
			return err
		}
	}
	_, err := d.Scene(ctx, event.SceneStatusSaved, data)
	return err
}

// recordedData is the data of a durable record's writeback.recorded event.
func recordedData(rec *writeback.DurableRecord, principal string) RecordedData {
	return RecordedData{
		WritebackID:          rec.WritebackID,
		TaskID:               rec.TaskID,
		TrackID:              rec.TrackID,
		BatchID:              rec.BatchID,
		DispatchID:           rec.DispatchID,
		CollectorKey:         rec.CollectorKey,
		AuthoritativeVerdict: rec.AuthoritativeVerdict,
		CompletedAt:          rec.CompletedAt,
		Principal:            principal,
	}
}
