package writeback

import (
	"encoding/json"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// CheckBatchID refuses a batch id that cannot name the batch's files
// (memory/events/batches/<id>.json, batch_summaries/<id>.json): the name
// rule of settle.CheckName, so that a batch of one store is a batch of
// every store. Errors: InvalidInput naming batch_id.
func CheckBatchID(id string) error { return settle.CheckName("batch_id", id) }

// CheckRequest refuses a write-back whose batch id CheckBatchID refuses:
// its record could never be settled, since no batch of that id can be
// declared or summarised. An empty batch id is left to Evaluate, which
// fails it as the seed does (a missing mandatory field). Errors: InvalidInput.
func CheckRequest(req WritebackRequest) error {
	if req.Binding.BatchID == "" {
		return nil
	}
	return CheckBatchID(req.Binding.BatchID)
}

// Records paging limits, the same in every store.
const (
	DefaultRecordsLimit = 100
	MaxRecordsLimit     = 1000
)

// PageLimit is the number of records q asks for: its Limit, 0 meaning
// DefaultRecordsLimit, capped at MaxRecordsLimit. A negative limit is
// refused (InvalidInput).
func (q *RecordQuery) PageLimit() (int, error) {
	switch {
	case q.Limit < 0:
		return 0, settle.Errorf(settle.InvalidInput, "negative limit %d", q.Limit)
	case q.Limit == 0:
		return DefaultRecordsLimit, nil
	}
	return min(q.Limit, MaxRecordsLimit), nil
}

// CheckLimit refuses a records page size a caller gave explicitly (CLI
// --limit, HTTP ?limit=) that is not positive: 0 would read as the
// store's default page, not as "none" or "all". Errors: InvalidInput.
func CheckLimit(n int) error {
	if n < 1 {
		return settle.Errorf(settle.InvalidInput, "limit %d: want a positive number of records", n)
	}
	return nil
}

// ValidateBatch checks a batch declaration: a usable batch id, at least one
// track, non-empty track and task ids, no track twice. Errors: InvalidInput.
func ValidateBatch(b Batch) error {
	if err := CheckBatchID(b.BatchID); err != nil {
		return err
	}
	if len(b.Tracks) == 0 {
		return settle.Errorf(settle.InvalidInput, "batch %q declares no tracks", b.BatchID)
	}
	seen := map[string]bool{}
	for _, t := range b.Tracks {
		if strings.TrimSpace(t.TrackID) == "" || strings.TrimSpace(t.TaskID) == "" {
			return settle.Errorf(settle.InvalidInput, "batch %q: track and task ids must not be empty", b.BatchID)
		}
		if seen[t.TrackID] {
			return settle.Errorf(settle.InvalidInput, "batch %q: track %q declared twice", b.BatchID, t.TrackID)
		}
		seen[t.TrackID] = true
	}
	return nil
}

// SummaryRelPath is a batch's consolidated_summary_candidate_path: the
// summary file's path under the workspace root.
func SummaryRelPath(batchID string) string {
	return SummariesRelDir + "/" + batchID + ".json"
}

// EncodeSummary is the consolidated summary document (EncodeDocument) of a
// batch that settled with res, holding its tracks' durable records and
// written at writtenAt. Errors: Internal.
func EncodeSummary(batchID string, res SettleResult, recs []DurableRecord, writtenAt time.Time) ([]byte, error) {
	data, err := EncodeDocument(Summary{
		Schema:    SummarySchema,
		BatchID:   batchID,
		Result:    res,
		Records:   recs,
		WrittenAt: writtenAt.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "encode summary")
	}
	return data, nil
}

// EncodeDocument encodes a batch declaration or a consolidated summary as
// every store keeps it: Python's json.dumps(v, ensure_ascii=False,
// sort_keys=True, indent=2) + "\n", so a migration moves the same bytes.
func EncodeDocument(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	tree, err := pyjson.Parse(raw)
	if err != nil {
		return nil, err
	}
	out, err := pyjson.Encode(tree, pyjson.Options{Indent: 2, SortKeys: true, EscapeLineSeps: true})
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
