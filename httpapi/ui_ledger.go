package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/writeback"
)

// uiTrack is one track of a batch as the board shows it.
type uiTrack struct {
	TrackID, TaskID string
	Present         bool   // its durable success is recorded
	Status, Verdict string // of its latest durable record
}

// uiRow is one batch of the board.
type uiRow struct {
	BatchID    string
	DeclaredAt time.Time
	Decision   string
	Settled    bool
	Tracks     []uiTrack
	Done       int
	Err        string
	result     *writeback.SettleResult
}

// uiBoard is the board page's data.
type uiBoard struct {
	Rows             []uiRow
	Total, Matched   int
	Page, Pages      int
	Deferred         bool
	Age, Q           string
	PrevURL, NextURL string
	After            int64
	Ages             []string
	Unsupported      string
}

var uiAges = []string{"10m", "1h", "24h", "7d"}

// boardQuery is the board's filter in its URL form.
func boardQuery(deferred bool, age, q string, page int) string {
	v := []string{}
	if deferred {
		v = append(v, "deferred=1")
	}
	if age != "" {
		v = append(v, "age="+age)
	}
	if q != "" {
		v = append(v, "q="+url.QueryEscape(q))
	}
	if page > 1 {
		v = append(v, "page="+strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/ui/"
	}
	return "/ui/?" + strings.Join(v, "&")
}

// board lists the declared batches, newest declaration first, filtered
// and paginated on the server; only the page's batches are evaluated.
// "Deferred only" leaves out the batches with a batch.settled event.
func (u *uiState) board(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	q := r.URL.Query()
	d := uiBoard{Deferred: q.Get("deferred") == "1", Age: q.Get("age"), Q: strings.TrimSpace(q.Get("q")), Page: 1, Ages: uiAges}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		d.Page = p
	}
	var minAge time.Duration
	if d.Age != "" {
		a, err := parseAge(d.Age)
		if err != nil {
			return u.errorPage(w, r, ss, err)
		}
		minAge = a
	}
	if err := u.index.refresh(ctx, u.s.events); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.After = u.index.lastID()
	lister, ok := u.s.ledger.(writeback.BatchLister)
	if !ok {
		d.Unsupported = "This ledger store cannot list its batches; open a batch by its id."
		return u.render(w, r, ss, http.StatusOK, "board", d)
	}
	all, err := lister.ListBatches(ctx)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.Total = len(all)
	now := time.Now()
	kept := all[:0:0]
	for _, e := range all {
		if d.Q != "" && !strings.Contains(e.BatchID, d.Q) {
			continue
		}
		if minAge > 0 && now.Sub(e.DeclaredAt) < minAge {
			continue
		}
		if d.Deferred && u.index.isSettled(e.BatchID) {
			continue
		}
		kept = append(kept, e)
	}
	sort.Slice(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if !a.DeclaredAt.Equal(b.DeclaredAt) {
			return a.DeclaredAt.After(b.DeclaredAt)
		}
		return a.BatchID < b.BatchID
	})
	d.Matched = len(kept)
	d.Pages = max(1, (len(kept)+uiPageSize-1)/uiPageSize)
	d.Page = min(d.Page, d.Pages)
	lo := (d.Page - 1) * uiPageSize
	hi := min(lo+uiPageSize, len(kept))
	for _, e := range kept[lo:hi] {
		d.Rows = append(d.Rows, u.evalRow(ctx, e))
	}
	if d.Page > 1 {
		d.PrevURL = boardQuery(d.Deferred, d.Age, d.Q, d.Page-1)
	}
	if d.Page < d.Pages {
		d.NextURL = boardQuery(d.Deferred, d.Age, d.Q, d.Page+1)
	}
	return u.render(w, r, ss, http.StatusOK, "board", d)
}

func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, settle.Errorf(settle.InvalidInput, "age %q: want a duration like 10m, 1h or 7d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	a, err := time.ParseDuration(s)
	if err != nil || a <= 0 {
		return 0, settle.Errorf(settle.InvalidInput, "age %q: want a duration like 10m, 1h or 7d", s)
	}
	return a, nil
}

// evalRow evaluates one batch: a batch with a batch.settled event from
// its consolidated summary (a read), any other by the same evaluation as
// GET /v1/batches/{batch}/status, which consolidates and announces a
// batch whose last write-back's follow-up was lost.
func (u *uiState) evalRow(ctx context.Context, e writeback.BatchEntry) uiRow {
	row := uiRow{BatchID: e.BatchID, DeclaredAt: e.DeclaredAt}
	var res writeback.SettleResult
	got := false
	if u.index.isSettled(e.BatchID) {
		if sum, err := u.s.ledger.Summary(ctx, e.BatchID); err == nil {
			res, got = sum.Result, true
		}
	}
	if !got {
		b, err := u.s.ledger.GetBatch(ctx, e.BatchID)
		if err != nil {
			row.Err = settle.ErrorMessage(err)
			return row
		}
		so, err := u.s.settleAndAnnounce(ctx, e.BatchID, b.Tracks, "")
		if err != nil {
			row.Err = settle.ErrorMessage(err)
			return row
		}
		res = so.Result
	}
	row.result = &res
	row.Decision = res.Decision
	row.Settled = res.Decision == writeback.AllSettledConsolidate
	for _, st := range res.TrackStates {
		t := uiTrack{TrackID: st.TrackID, TaskID: st.TaskID, Present: st.DurableSuccessPresent, Status: st.TerminalStatus}
		if st.AuthoritativeVerdict != nil {
			t.Verdict = *st.AuthoritativeVerdict
		}
		if t.Present {
			row.Done++
		}
		row.Tracks = append(row.Tracks, t)
	}
	return row
}

// boardRow is one board row as HTML, fetched by the page's script when an
// event names the batch.
func (u *uiState) boardRow(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	id := r.PathValue("batch")
	if err := u.index.refresh(ctx, u.s.events); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	e := writeback.BatchEntry{BatchID: id}
	// The page passes the row's declaration time (only shown as its age),
	// so a live update does not list every declared batch.
	if ns, err := strconv.ParseInt(r.URL.Query().Get("at"), 10, 64); err == nil && ns > 0 {
		e.DeclaredAt = time.Unix(0, ns)
	} else if lister, ok := u.s.ledger.(writeback.BatchLister); ok {
		all, err := lister.ListBatches(ctx)
		if err != nil {
			return u.errorPage(w, r, ss, err)
		}
		for _, x := range all {
			if x.BatchID == id {
				e = x
			}
		}
	}
	return u.renderPart(w, "board", "row", u.evalRow(ctx, e))
}

// uiRecord is a ledger record of a batch or task page.
type uiRecord struct {
	Seq       int64
	Kind      string
	Durable   *writeback.DurableRecord
	Conflict  *writeback.ConflictRecord
	Principal string
}

// uiEvent is an event as the pages list it.
type uiEvent struct {
	ID   int64
	Type string
	Time time.Time
	Data string
}

func uiEvents(evs []event.Event) []uiEvent {
	out := make([]uiEvent, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		out = append(out, uiEvent{ID: ev.ID, Type: ev.Type, Time: ev.Time, Data: string(ev.Data)})
	}
	return out
}

// uiRecordLimit bounds the records a batch or task page reads.
const uiRecordLimit = 2000

// ledgerRecords pages through the records matching q, up to uiRecordLimit.
func (u *uiState) ledgerRecords(ctx context.Context, q writeback.RecordQuery) ([]writeback.LedgerRecord, bool, error) {
	var out []writeback.LedgerRecord
	q.After = -1
	for {
		q.Limit = 1000
		pg, err := u.s.ledger.Records(ctx, q)
		if err != nil {
			return nil, false, err
		}
		out = append(out, pg.Records...)
		if pg.Next < 0 || len(pg.Records) == 0 {
			return out, false, nil
		}
		if len(out) >= uiRecordLimit {
			return out, true, nil
		}
		q.After = pg.Next
	}
}

type uiBatchPage struct {
	Row       uiRow
	Reasons   []string
	Records   []uiRecord
	Truncated bool
	Summary   *writeback.Summary
	Events    []uiEvent
	After     int64
}

func (u *uiState) batchPage(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	id := r.PathValue("batch")
	if err := writeback.CheckBatchID(id); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	if err := u.index.refresh(ctx, u.s.events); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	if _, err := u.s.ledger.GetBatch(ctx, id); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d := uiBatchPage{Row: u.evalRow(ctx, writeback.BatchEntry{BatchID: id}), After: u.index.lastID()}
	if d.Row.result != nil {
		d.Reasons = d.Row.result.Reasons
	}
	evs := u.index.batchEvents(id)
	principals := map[string]string{}
	for _, ev := range evs {
		if ev.Type == event.WritebackRecorded {
			var rd RecordedData
			if json.Unmarshal(ev.Data, &rd) == nil && rd.Principal != "" {
				principals[rd.WritebackID] = rd.Principal
			}
		}
	}
	d.Events = uiEvents(evs)
	recs, trunc, err := u.ledgerRecords(ctx, writeback.RecordQuery{BatchID: id})
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.Truncated = trunc
	for _, lr := range recs {
		rec := uiRecord{Seq: lr.Seq, Kind: string(lr.Kind), Durable: lr.Durable, Conflict: lr.Conflict}
		if lr.Durable != nil {
			rec.Principal = principals[lr.Durable.WritebackID]
		}
		if lr.Durable != nil || lr.Conflict != nil {
			d.Records = append(d.Records, rec)
		}
	}
	sum, err := u.s.ledger.Summary(ctx, id)
	switch {
	case err == nil:
		d.Summary = &sum
	case settle.ErrorCode(err) != settle.NotFound:
		return u.errorPage(w, r, ss, err)
	}
	return u.render(w, r, ss, http.StatusOK, "batch", d)
}

// uiRefusal is one item of the refusals feed: a writeback.refused event
// or a writeback_conflict.v1 record no such event announced (written by
// the CLI or another tool).
type uiRefusal struct {
	Time                            time.Time
	Source                          string
	Principal, Classification, Code string
	TaskID, TrackID, BatchID        string
	CollectorKey, WritebackID       string
	Reasons                         []string
}

type uiRefusals struct {
	Items            []uiRefusal
	Total            int
	Page, Pages      int
	PrevURL, NextURL string
}

// refusals lists every refusal, newest first.
func (u *uiState) refusals(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	if err := u.index.refresh(ctx, u.s.events); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	var items []uiRefusal
	announced := map[string]bool{}
	for _, ev := range u.index.refusedEvents() {
		var rd refusedData
		if err := json.Unmarshal(ev.Data, &rd); err != nil {
			continue
		}
		if rd.WritebackID != "" {
			announced[rd.WritebackID] = true
		}
		items = append(items, uiRefusal{Time: ev.Time, Source: "event #" + strconv.FormatInt(ev.ID, 10), Principal: rd.Principal,
			Classification: rd.Classification, Code: rd.Code, TaskID: rd.TaskID, TrackID: rd.TrackID, BatchID: rd.BatchID,
			CollectorKey: rd.CollectorKey, WritebackID: rd.WritebackID, Reasons: rd.Reasons})
	}
	conflicts, _, err := u.ledgerRecords(ctx, writeback.RecordQuery{Kind: writeback.KindConflict})
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	for _, lr := range conflicts {
		c := lr.Conflict
		if c == nil || announced[c.WritebackID] {
			continue
		}
		t, _ := time.Parse(time.RFC3339Nano, c.RecordedAt)
		it := uiRefusal{Time: t, Source: "ledger #" + strconv.FormatInt(lr.Seq, 10), Classification: c.Classification,
			TaskID: c.TaskID, TrackID: c.TrackID, BatchID: c.BatchID, WritebackID: c.WritebackID, Reasons: c.Reasons}
		if c.Candidate != nil {
			it.CollectorKey = c.Candidate.CollectorKey
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Time.After(items[j].Time) })
	d := uiRefusals{Total: len(items), Page: 1}
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p > 1 {
		d.Page = p
	}
	d.Pages = max(1, (len(items)+uiPageSize-1)/uiPageSize)
	d.Page = min(d.Page, d.Pages)
	lo := (d.Page - 1) * uiPageSize
	d.Items = items[lo:min(lo+uiPageSize, len(items))]
	if d.Page > 1 {
		d.PrevURL = "/ui/refusals?page=" + strconv.Itoa(d.Page-1)
	}
	if d.Page < d.Pages {
		d.NextURL = "/ui/refusals?page=" + strconv.Itoa(d.Page+1)
	}
	return u.render(w, r, ss, http.StatusOK, "refusals", d)
}

type uiTaskPage struct {
	Task           string
	Classification string
	History        []writeback.RegistryRecord
	Records        []uiRecord
	Err            string
}

// taskPage is the registry history and classification of a task id,
// with its durable and conflict records.
func (u *uiState) taskPage(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	d := uiTaskPage{Task: r.URL.Query().Get("task")}
	if d.Task == "" {
		return u.render(w, r, ss, http.StatusOK, "task", d)
	}
	h, err := u.s.ledger.RegistryHistory(ctx, d.Task)
	if err == nil {
		d.History = h
		d.Classification, err = u.s.ledger.Classify(ctx, d.Task)
	}
	var recs []writeback.LedgerRecord
	if err == nil {
		recs, _, err = u.ledgerRecords(ctx, writeback.RecordQuery{TaskID: d.Task})
	}
	if err != nil {
		if settle.ErrorCode(err) == settle.InvalidInput {
			d.Err = settle.ErrorMessage(err)
			return u.render(w, r, ss, http.StatusBadRequest, "task", d)
		}
		return u.errorPage(w, r, ss, err)
	}
	for _, lr := range recs {
		if lr.Durable != nil || lr.Conflict != nil {
			d.Records = append(d.Records, uiRecord{Seq: lr.Seq, Kind: string(lr.Kind), Durable: lr.Durable, Conflict: lr.Conflict})
		}
	}
	return u.render(w, r, ss, http.StatusOK, "task", d)
}
