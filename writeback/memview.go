package writeback

import (
	"github.com/settlehq/settle/internal/pyjson"
)

// MemView is an in-memory index of a ledger: it implements View and
// answers Latest and the conflict-seen question, each with a map lookup.
// Feed it every decoded record in ledger order with Add. It is not safe
// for concurrent use: the store serializes access (it holds its write lock
// while it evaluates and appends).
//
// The index follows the seed's dict semantics where a record's field is
// missing or not a string (a line settle never writes but another tool
// might): such a record is not found by a lookup on "" the seed would not
// match, and Latest keys a durable record by Python's str() of its
// track_id. The evaluator's remaining comparisons read such fields as "".
type MemView struct {
	byWID      map[string]ixList
	byIdentity map[IdentityKey]ixList
	registry   map[string]regList
	latest     map[batchTrack]*DurableRecord
	conflicts  map[string]struct{}

	stats MemStats // Tasks and Tracks are the lengths of registry and latest
}

// ixList is the records of one index key in ledger order: nearly every key
// has one, which is kept in the map slot itself (no allocation per key).
type ixList struct {
	one  Indexed
	more *[]Indexed // the second and later ones, nil if none
}

func (l ixList) add(ix Indexed) ixList {
	if l.one.Rec == nil {
		l.one = ix
	} else if l.more == nil {
		l.more = &[]Indexed{ix}
	} else {
		*l.more = append(*l.more, ix)
	}
	return l
}

// list returns a fresh slice of the records (nil for none).
func (l ixList) list() []Indexed {
	if l.one.Rec == nil {
		return nil
	}
	if l.more == nil {
		return []Indexed{l.one}
	}
	out := make([]Indexed, 0, 1+len(*l.more))
	out = append(out, l.one)
	return append(out, *l.more...)
}

// regList is a task's registry records in ledger order, the first in the
// map slot itself.
type regList struct {
	one  *RegistryRecord
	more *[]*RegistryRecord // the second and later ones, nil if none
}

// MemStats are MemView's counts, for metrics.
type MemStats struct {
	Durable   int64 // durable_success_writeback.v1 records added
	Registry  int64 // callback_4tuple_ledger_record.v1 records added
	Conflicts int64 // writeback_conflict.v1 records added
	Tasks     int   // distinct tasks with registry records
	Tracks    int   // distinct (batch, track) pairs with a durable success
	Bytes     int64 // estimate of the memory held, see MemBytes
}

type batchTrack struct{ batch, track string }

// NewMemView returns an empty MemView.
func NewMemView() *MemView {
	m := &MemView{}
	m.Reset()
	return m
}

// Reset empties the view.
func (m *MemView) Reset() {
	m.byWID = make(map[string]ixList)
	m.byIdentity = make(map[IdentityKey]ixList)
	m.registry = make(map[string]regList)
	m.latest = make(map[batchTrack]*DurableRecord)
	m.conflicts = make(map[string]struct{})
	m.stats = MemStats{}
}

func (m *MemView) init() {
	if m.byWID == nil {
		m.Reset()
	}
}

// Per-entry overheads used by the MemBytes estimate (struct, map entry
// and slice headers), in bytes.
const (
	durableOverhead  = 19*16 + 8 + 3*(48+24) + 2*32
	registryOverhead = 11*16 + 8 + 48 + 24
	conflictOverhead = 64 + 48
)

// Add indexes one record; rec.Seq is its position in the ledger and must
// grow from one Add to the next. Records of an unknown kind are ignored.
// The view keeps the record's pointers (it does not copy them, and the
// caller must not modify the records afterwards) but not rec.Raw.
func (m *MemView) Add(rec LedgerRecord) {
	m.init()
	switch {
	case rec.Durable != nil:
		m.addDurable(rec.Seq, rec.Durable, rec.Raw)
	case rec.Registry != nil:
		m.addRegistry(rec.Registry, rec.Raw)
	case rec.Conflict != nil:
		m.stats.Conflicts++
		if _, seen := m.conflicts[rec.Conflict.ConflictID]; !seen {
			m.conflicts[rec.Conflict.ConflictID] = struct{}{}
			m.stats.Bytes += int64(len(rec.Conflict.ConflictID)) + conflictOverhead
		}
	}
}

func durableStrings(d *DurableRecord) int {
	return len(d.Schema) + len(d.TaskID) + len(d.TrackID) + len(d.DispatchID) + len(d.DispatchIDSource) +
		len(d.NormalCollectorCronID) + len(d.NormalCollectorCronIDSource) + len(d.CollectorKey) +
		len(d.CollectorRole) + len(d.AuthoritativeVerdict) + len(d.TerminalStatus) + len(d.CompletedAt) +
		len(d.SourceResultPath) + len(d.BatchID) + len(d.ExecutorKey) + len(d.ChatID) +
		len(d.WritebackClassification) + len(d.WritebackID)
}

func (m *MemView) addDurable(seq int64, d *DurableRecord, raw []byte) {
	m.stats.Durable++
	m.stats.Bytes += int64(durableStrings(d)) + durableOverhead
	ix := Indexed{Seq: seq, Rec: d}
	if d.WritebackID != "" {
		m.byWID[d.WritebackID] = m.byWID[d.WritebackID].add(ix)
	}
	key := d.Identity()
	identityOK := true
	track := d.TrackID
	batchOK := true
	if key.TaskID == "" || key.TrackID == "" || key.DispatchID == "" || key.CollectorKey == "" || key.BatchID == "" {
		// A field read as "": find out whether it really is "" (the seed
		// compares raw values) or is missing or not a string.
		if o := rawObject(raw); o != nil {
			for _, f := range [...]string{"task_id", "track_id", "dispatch_id", "collector_key", "batch_id"} {
				if _, isStr := o.GetString(f); !isStr {
					identityOK = false
				}
			}
			if _, isStr := o.GetString("batch_id"); !isStr {
				batchOK = false
			}
			v, _ := o.Get("track_id") // str(d.get("track_id")): "None" when missing
			track = pyjson.Str(v)
		}
	}
	if identityOK {
		m.byIdentity[key] = m.byIdentity[key].add(ix)
	}
	if batchOK && d.WritebackClassification == DurableSuccessWritten {
		m.latest[batchTrack{d.BatchID, track}] = d
	}
}

func (m *MemView) addRegistry(r *RegistryRecord, raw []byte) {
	m.stats.Registry++
	m.stats.Bytes += int64(len(r.Schema)+len(r.TaskID)+len(r.DispatchID)+len(r.DispatchCronID)+len(r.Executor)+
		len(r.ChatID)+len(r.NormalCollectorCronID)+len(r.Role)+len(r.Status)+len(r.TsKST)) + registryOverhead
	if r.TaskID == "" {
		if o := rawObject(raw); o != nil {
			if _, isStr := o.GetString("task_id"); !isStr {
				return // history_for("") never matches a missing task_id
			}
		}
	}
	l := m.registry[r.TaskID]
	switch {
	case l.one == nil:
		l.one = r
	case l.more == nil:
		l.more = &[]*RegistryRecord{r}
	default:
		*l.more = append(*l.more, r)
	}
	m.registry[r.TaskID] = l
}

// rawObject parses a record's raw line again (rare: only for records with
// an empty identity field).
func rawObject(raw []byte) *pyjson.Object {
	if raw == nil {
		return nil
	}
	v, err := pyjson.Parse(trimPySpace(raw))
	if err != nil {
		return nil
	}
	o, _ := v.(*pyjson.Object)
	return o
}

// DurableByWritebackID implements View.
func (m *MemView) DurableByWritebackID(id string) []Indexed {
	return m.byWID[id].list()
}

// DurableByIdentity implements View.
func (m *MemView) DurableByIdentity(k IdentityKey) []Indexed {
	return m.byIdentity[k].list()
}

// RegistryHistory implements View. The records are copies.
func (m *MemView) RegistryHistory(task string) []RegistryRecord {
	l, ok := m.registry[task]
	if !ok {
		return []RegistryRecord{}
	}
	n := 1
	if l.more != nil {
		n += len(*l.more)
	}
	out := make([]RegistryRecord, 0, n)
	out = appendRegistryCopy(out, l.one)
	if l.more != nil {
		for _, r := range *l.more {
			out = appendRegistryCopy(out, r)
		}
	}
	return out
}

func appendRegistryCopy(out []RegistryRecord, r *RegistryRecord) []RegistryRecord {
	out = append(out, *r)
	if p := r.FallbackCallbackCronID; p != nil {
		s := *p
		out[len(out)-1].FallbackCallbackCronID = &s
	}
	return out
}

// Latest returns the last DURABLE_SUCCESS_WRITTEN record of (batch,
// track) in ledger order, or nil. The record is shared: do not modify it.
func (m *MemView) Latest(batch, track string) *DurableRecord {
	return m.latest[batchTrack{batch, track}]
}

// LatestFunc returns Latest bound to a batch, for Settle.
func (m *MemView) LatestFunc(batch string) func(track string) *DurableRecord {
	return func(track string) *DurableRecord { return m.Latest(batch, track) }
}

// HasConflict reports whether a writeback_conflict.v1 record with this
// conflict_id has been added.
func (m *MemView) HasConflict(conflictID string) bool {
	_, ok := m.conflicts[conflictID]
	return ok
}

// Stats returns the view's counts.
func (m *MemView) Stats() MemStats {
	s := m.stats
	s.Tasks, s.Tracks = len(m.registry), len(m.latest)
	return s
}

// MemBytes is an estimate of the memory the view holds, in bytes: the
// string bytes of the records plus a fixed overhead per record and index
// entry.
func (m *MemView) MemBytes() int64 { return m.stats.Bytes }

var _ View = (*MemView)(nil)
