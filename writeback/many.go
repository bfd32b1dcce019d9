package writeback

import (
	settle "github.com/settlehq/settle"
)

// CheckMany refuses a batch of more than settle.MaxBatchWritebacks
// write-backs, before any is evaluated, and checks each item as the
// stores check a single write-back. The returned items carry the per-item
// refusals (nil Err: the item is to be applied). A dry run has no place in
// a batch: what it would report depends on the items before it, which are
// not written yet, so it is refused with InvalidInput.
func CheckMany(reqs []WritebackRequest) ([]WritebackItem, error) {
	if len(reqs) > settle.MaxBatchWritebacks {
		return nil, settle.LimitError("MaxBatchWritebacks", settle.MaxBatchWritebacks, "batch of %d write-backs", len(reqs))
	}
	items := make([]WritebackItem, len(reqs))
	for i := range reqs {
		items[i].Err = checkOne(&reqs[i])
	}
	return items, nil
}

func checkOne(req *WritebackRequest) error {
	if req.DryRun {
		return settle.Errorf(settle.InvalidInput, "a batch does not carry dry runs: send them one per request")
	}
	if err := CheckBindingLimits(&req.Binding); err != nil {
		return err
	}
	return CheckRequest(*req)
}
