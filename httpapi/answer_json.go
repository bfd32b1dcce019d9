package httpapi

import (
	"github.com/settlehq/settle/internal/jsonw"
)

// appendJSON appends the response as json.Marshal encodes it, without
// reflection: a batch answers up to MaxBatchWritebacks decisions.
func (r *WritebackBatchResponse) appendJSON(dst []byte) []byte {
	dst = jsonw.Field(append(dst, '{'), "results")
	if r.Results == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i := range r.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.Results[i].appendJSON(dst)
	}
	return append(dst, "]}"...)
}

// appendJSON appends the result as json.Marshal encodes it.
func (r *WritebackBatchResult) appendJSON(dst []byte) []byte {
	dst = jsonw.Int(jsonw.Field(append(dst, '{'), "status"), r.Status)
	if r.Decision != nil {
		dst = r.Decision.AppendJSON(jsonw.Field(dst, "decision"))
	}
	dst = jsonw.Bool(jsonw.Field(dst, "conflict_recorded"), r.ConflictRecorded)
	if r.BatchDecision != "" {
		dst = jsonw.String(jsonw.Field(dst, "batch_decision"), r.BatchDecision)
	}
	if r.FirstConsolidation {
		dst = jsonw.Bool(jsonw.Field(dst, "first_consolidation"), true)
	}
	if r.Error != nil {
		dst = jsonw.Field(dst, "error")
		dst = jsonw.String(jsonw.Field(append(dst, '{'), "code"), r.Error.Code)
		dst = append(jsonw.String(jsonw.Field(dst, "message"), r.Error.Message), '}')
	}
	return append(dst, '}')
}
