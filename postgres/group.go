package postgres

import (
	"time"

	"github.com/settlehq/settle/internal/durable"
)

// Group commit limits.
const (
	// MaxGroup is the most requests one group transaction carries.
	MaxGroup = 256
	// groupTimeout bounds one group's transaction: it runs on behalf of
	// many callers, so no single caller's context may cancel it.
	groupTimeout = time.Minute
	// groupDepth is how many group transactions of one queue run at once.
	groupDepth = 2
)

// GroupStats are a group commit queue's counters.
type GroupStats struct {
	// Groups counts committed (or failed) group transactions; Grouped
	// the requests they carried; MaxGroup the largest.
	Groups   int64 `json:"groups"`
	Grouped  int64 `json:"grouped_requests"`
	MaxGroup int64 `json:"max_group"`
}

func groupStats(st durable.GroupStats) GroupStats {
	return GroupStats{Groups: st.Groups, Grouped: st.Items, MaxGroup: st.MaxGroup}
}

// newGroupQueue gathers concurrent requests into groups, each committed
// by one transaction, through the same group-commit primitive as the
// file store (durable.GroupCommitter), in its parallel form: PostgreSQL
// serializes the transactions itself, so no store lock is held between
// groups and up to depth transactions run at once. commit runs the whole
// transaction and answers every request of its group itself (a
// retryable conflict reruns the evaluation inside it), so Sync, Publish
// and Fail have nothing left to do.
func newGroupQueue[C any](commit func(group []C), depth int) *durable.GroupCommitter[C, struct{}] {
	return durable.NewParallelCommitter(durable.GroupHooks[C, struct{}]{
		Stage: func(group []C) (struct{}, error) {
			commit(group)
			return struct{}{}, nil
		},
		Sync:    func([]struct{}) error { return nil },
		Publish: func(struct{}) {},
		Fail:    func([]C, error) {},
	}, MaxGroup, depth)
}
