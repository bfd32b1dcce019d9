package file

import (
	"sync/atomic"
	"time"

	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// GroupSizeBuckets are the upper bounds of the group commit size histogram
// in Stats.GroupSizes (the last bucket is everything larger).
var GroupSizeBuckets = [...]int{1, 2, 4, 8, 16, 32, 64, 128}

// Stats are the ledger store's counters, for /metrics and diagnostics.
type Stats struct {
	// Records counts the indexed records by kind.
	Records map[writeback.RecordKind]int64 `json:"records"`
	// Lines is the number of complete lines read; Skipped of those were
	// blank, not JSON objects, or of another schema.
	Lines   int64 `json:"lines"`
	Skipped int64 `json:"skipped"`
	// Offset is the end of the last complete line read.
	Offset int64 `json:"offset"`
	// TornRepairs counts torn last lines truncated (and saved to a
	// sidecar) before an append; TornBytes their total size.
	TornRepairs int64 `json:"torn_repairs"`
	TornBytes   int64 `json:"torn_bytes"`
	// LastTorn describes the last repair by this store (nil: none).
	LastTorn *TornRepair `json:"last_torn,omitempty"`
	// Rebuilds counts full re-reads after the file was replaced or shrank.
	Rebuilds int64 `json:"rebuilds"`
	// IndexBytes estimates the memory held by the index.
	IndexBytes int64 `json:"index_bytes"`
	// IndexLoaded is the number of records the last full read took from
	// the persistent index (<ledger>.idx) instead of the ledger;
	// IndexSaves counts index updates written, IndexSaveErrors the
	// failed ones (the index is then rebuilt later, from the ledger).
	IndexLoaded     int64 `json:"index_loaded"`
	IndexSaves      int64 `json:"index_saves"`
	IndexSaveErrors int64 `json:"index_save_errors"`
	// IndexMerges counts base rewrites made in the background and
	// installed; LastIndexMerge is how long the last one ran (off the
	// lock: its install under the lock is a rename and a log frame).
	IndexMerges    int64         `json:"index_merges"`
	LastIndexMerge time.Duration `json:"last_index_merge_ns"`
	// OpenDuration is how long the initial read took.
	OpenDuration time.Duration `json:"open_duration_ns"`
	// Fsyncs counts appends (one write + one fsync each); FsyncErrors the
	// failed ones; LastFsync is the latency of the last append's write +
	// fsync.
	Fsyncs      int64         `json:"fsyncs"`
	FsyncErrors int64         `json:"fsync_errors"`
	LastFsync   time.Duration `json:"last_fsync_ns"`
	// Groups counts group commits; GroupedRequests the requests they
	// carried; MaxGroup the largest; GroupSizes is a histogram over
	// GroupSizeBuckets (one more bucket for larger groups).
	Groups          int64   `json:"groups"`
	GroupedRequests int64   `json:"grouped_requests"`
	MaxGroup        int64   `json:"max_group"`
	GroupSizes      []int64 `json:"group_sizes"`
	// Poisoned is true after a failed write: the store refuses ledger
	// operations until reopened.
	Poisoned bool `json:"poisoned"`
}

// TornRepair is one repair of a torn last line.
type TornRepair struct {
	Offset  int64     `json:"offset"`  // where the torn line started (the new end of the ledger)
	Bytes   int64     `json:"bytes"`   // torn bytes moved to the sidecar
	Sidecar string    `json:"sidecar"` // the sidecar file holding them
	At      time.Time `json:"at"`
}

type counters struct {
	lastTorn        atomic.Pointer[TornRepair]
	records         [3]atomic.Int64
	skipped         atomic.Int64
	lines           atomic.Int64
	offset          atomic.Int64
	tornRepairs     atomic.Int64
	tornBytes       atomic.Int64
	rebuilds        atomic.Int64
	indexBytes      atomic.Int64
	indexLoaded     atomic.Int64
	indexSaves      atomic.Int64
	indexSaveErrors atomic.Int64
	indexMerges     atomic.Int64
	lastIndexMerge  atomic.Int64
	openNanos       atomic.Int64
	fsyncs          atomic.Int64
	fsyncErrors     atomic.Int64
	lastFsync       atomic.Int64
	groups          atomic.Int64
	grouped         atomic.Int64
	maxGroup        atomic.Int64
	groupSizes      [len(GroupSizeBuckets) + 1]atomic.Int64
}

func (c *counters) countKind(k writeback.RecordKind) { c.records[kindCode(k)].Add(1) }

func (c *counters) resetRecordCounts() {
	for i := range c.records {
		c.records[i].Store(0)
	}
	c.skipped.Store(0)
	c.lines.Store(0)
	c.offset.Store(0)
	c.indexBytes.Store(0)
	c.indexLoaded.Store(0)
}

func (c *counters) group(n int) {
	c.groups.Add(1)
	c.grouped.Add(int64(n))
	durable.StoreMax(&c.maxGroup, int64(n))
	i := 0
	for i < len(GroupSizeBuckets) && n > GroupSizeBuckets[i] {
		i++
	}
	c.groupSizes[i].Add(1)
}

// Stats returns a snapshot of the counters. It does not wait for a running
// append.
func (l *Ledger) Stats() Stats {
	c := &l.st
	s := Stats{
		Records:         map[writeback.RecordKind]int64{},
		Lines:           c.lines.Load(),
		Skipped:         c.skipped.Load(),
		Offset:          c.offset.Load(),
		TornRepairs:     c.tornRepairs.Load(),
		TornBytes:       c.tornBytes.Load(),
		LastTorn:        c.lastTorn.Load(),
		Rebuilds:        c.rebuilds.Load(),
		IndexBytes:      c.indexBytes.Load(),
		IndexLoaded:     c.indexLoaded.Load(),
		IndexSaves:      c.indexSaves.Load(),
		IndexSaveErrors: c.indexSaveErrors.Load(),
		IndexMerges:     c.indexMerges.Load(),
		LastIndexMerge:  time.Duration(c.lastIndexMerge.Load()),
		OpenDuration:    time.Duration(c.openNanos.Load()),
		Fsyncs:          c.fsyncs.Load(),
		FsyncErrors:     c.fsyncErrors.Load(),
		LastFsync:       time.Duration(c.lastFsync.Load()),
		Groups:          c.groups.Load(),
		GroupedRequests: c.grouped.Load(),
		MaxGroup:        c.maxGroup.Load(),
		GroupSizes:      make([]int64, len(c.groupSizes)),
		Poisoned:        l.poison.Poisoned(),
	}
	for i := range c.records {
		s.Records[kindNames[i]] = c.records[i].Load()
	}
	for i := range c.groupSizes {
		s.GroupSizes[i] = c.groupSizes[i].Load()
	}
	return s
}

// publish copies the mu-guarded positions into the counters. mu held.
func (l *Ledger) publish() {
	l.st.lines.Store(l.lines)
	l.st.offset.Store(l.off)
	l.st.indexBytes.Store(l.ix.bytes())
}
