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
	return CheckWriteback(req)
}

// CheckWriteback is what a store checks on a write-back before anything
// else: the binding's limits (CheckBindingLimits), then its batch id
// (CheckRequest). Errors: InvalidInput.
func CheckWriteback(req *WritebackRequest) error {
	if err := CheckBindingLimits(&req.Binding); err != nil {
		return err
	}
	return CheckRequest(*req)
}

// QueueMany answers a batch through a store's group-commit queue. After
// CheckMany and ready (the store is usable), each item CheckMany lets
// through becomes a call of newCall; the calls are submitted together,
// as one unit in order, and each item is answered with its call's
// outcome.
func QueueMany[C any](reqs []WritebackRequest, ready func() error, newCall func(*WritebackRequest) C,
	submit func(...C) error, outcome func(C) (WritebackOutcome, error)) ([]WritebackItem, error) {
	items, err := CheckMany(reqs)
	if err != nil {
		return nil, err
	}
	if err := ready(); err != nil {
		return nil, err
	}
	calls := make([]C, 0, len(reqs))
	at := make([]int, 0, len(reqs))
	for i := range reqs {
		if items[i].Err == nil {
			calls = append(calls, newCall(&reqs[i]))
			at = append(at, i)
		}
	}
	if len(calls) > 0 {
		if err := submit(calls...); err != nil {
			return nil, err
		}
	}
	for j, c := range calls {
		items[at[j]].Outcome, items[at[j]].Err = outcome(c)
	}
	return items, nil
}
