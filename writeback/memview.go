package writeback

import (
	"hash/maphash"

	"github.com/settlehq/settle/pyjson"
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
//
// The maps are keyed by a 64-bit hash of the key (hash/maphash, seeded per
// view) rather than by the key's strings: a map of small fixed-size keys
// grows (rehashes) several times faster, and a ledger's index grows with
// every write-back. Every lookup compares the records' own fields with the
// key, so two keys with the same hash only share a slot.
type MemView struct {
	seed       maphash.Seed
	byWID      map[uint64]ixList  // hash of writeback_id
	byIdentity map[uint64]ixList  // hash of the IdentityKey
	registry   map[uint64]regList // hash of task_id
	latest     map[uint64]latest  // hash of (batch_id, track)
	conflicts  map[string]struct{}

	stats MemStats

	collide bool // tests: every key hashes alike
}

// ixList is the durable records of one hash in ledger order: nearly every
// hash has one, kept in the map slot itself (no allocation per key).
type ixList struct {
	one  Indexed
	more *[]Indexed // the second and later ones, nil if none
}

func (l ixList) add(ix Indexed) ixList {
	switch {
	case l.one.Rec == nil:
		l.one = ix
	case l.more == nil:
		l.more = &[]Indexed{ix}
	default:
		*l.more = append(*l.more, ix)
	}
	return l
}

// filter returns a fresh slice of the records keep accepts, in order (nil
// for none).
func (l ixList) filter(keep func(*DurableRecord) bool) []Indexed {
	if l.one.Rec == nil {
		return nil
	}
	if l.more == nil {
		if keep(l.one.Rec) {
			return []Indexed{l.one}
		}
		return nil
	}
	var out []Indexed
	if keep(l.one.Rec) {
		out = append(out, l.one)
	}
	for _, ix := range *l.more {
		if keep(ix.Rec) {
			out = append(out, ix)
		}
	}
	return out
}

// regList is the registry records of one task_id hash in ledger order,
// the first in the map slot itself.
type regList struct {
	one  *RegistryRecord
	more *[]*RegistryRecord // the second and later ones, nil if none
}

// has reports whether the list holds a record of the task.
func (l regList) has(task string) bool {
	if l.one == nil {
		return false
	}
	if l.one.TaskID == task {
		return true
	}
	if l.more != nil {
		for _, r := range *l.more {
			if r.TaskID == task {
				return true
			}
		}
	}
	return false
}

// latest is the last durable success of one (batch_id, track) hash, plus
// those of other pairs with the same hash (nil if none). The batch is
// rec.BatchID; the track is kept, as it may be Python's str() of a
// track_id that is not a string.
type latest struct {
	rec   *DurableRecord
	track string
	more  *[]latest
}

func (l *latest) is(batch, track string) bool {
	return l.rec != nil && l.rec.BatchID == batch && l.track == track
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

// NewMemView returns an empty MemView.
func NewMemView() *MemView {
	m := &MemView{}
	m.Reset()
	return m
}

// Reset empties the view.
func (m *MemView) Reset() {
	m.reset(0)
}

// reset empties the view, its maps sized for n keys.
func (m *MemView) reset(n int) {
	m.seed = maphash.MakeSeed()
	m.byWID = make(map[uint64]ixList, n)
	m.byIdentity = make(map[uint64]ixList, n)
	m.registry = make(map[uint64]regList, n)
	m.latest = make(map[uint64]latest, n)
	m.conflicts = make(map[string]struct{})
	m.stats = MemStats{}
}

// The key hashes. Combining the fields' hashes (rather than hashing their
// concatenation) needs no buffer; a collision only makes two keys share
// a slot.

func (m *MemView) hash(s string) uint64 {
	if m.collide {
		return 0
	}
	return maphash.String(m.seed, s)
}

func mix(h, x uint64) uint64 {
	h ^= x + 0x9e3779b97f4a7c15 + h<<6 + h>>2
	return h * 0xff51afd7ed558ccd
}

func (m *MemView) identityHash(k *IdentityKey) uint64 {
	h := m.hash(k.TaskID)
	h = mix(h, m.hash(k.TrackID))
	h = mix(h, m.hash(k.DispatchID))
	h = mix(h, m.hash(k.CollectorKey))
	return mix(h, m.hash(k.BatchID))
}

func (m *MemView) latestHash(batch, track string) uint64 {
	return mix(m.hash(batch), m.hash(track))
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
		h := m.hash(d.WritebackID)
		m.byWID[h] = m.byWID[h].add(ix)
	}
	key := d.Identity()
	identityOK, batchOK, track := DurableKeys(d, raw)
	if identityOK {
		h := m.identityHash(&key)
		m.byIdentity[h] = m.byIdentity[h].add(ix)
	}
	if batchOK && d.WritebackClassification == DurableSuccessWritten {
		m.setLatest(d, track)
	}
}

// setLatest makes d the latest durable success of (d.BatchID, track).
func (m *MemView) setLatest(d *DurableRecord, track string) {
	h := m.latestHash(d.BatchID, track)
	l := m.latest[h]
	switch {
	case l.rec == nil:
		l = latest{rec: d, track: track}
		m.stats.Tracks++
	case l.is(d.BatchID, track):
		l.rec = d
	default:
		if l.more == nil {
			l.more = new([]latest)
		}
		found := false
		for i := range *l.more {
			if x := &(*l.more)[i]; x.is(d.BatchID, track) {
				x.rec, found = d, true
				break
			}
		}
		if !found {
			*l.more = append(*l.more, latest{rec: d, track: track})
			m.stats.Tracks++
		}
	}
	m.latest[h] = l
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
	h := m.hash(r.TaskID)
	l := m.registry[h]
	if !l.has(r.TaskID) {
		m.stats.Tasks++
	}
	switch {
	case l.one == nil:
		l.one = r
	case l.more == nil:
		l.more = &[]*RegistryRecord{r}
	default:
		*l.more = append(*l.more, r)
	}
	m.registry[h] = l
}

// DurableKeys is how the view keys a durable record decoded from raw (nil
// for one built in memory). The seed compares raw values, so a field read
// as "" may be missing or not a string, which no lookup matches:
// identityOK is false when an identity field is, batchOK when batch_id is.
// track is the seed's str(d.get("track_id")) ("None" when missing).
// Indexes that derive the same keys as the view use it.
func DurableKeys(d *DurableRecord, raw []byte) (identityOK, batchOK bool, track string) {
	identityOK, batchOK, track = true, true, d.TrackID
	if d.TaskID != "" && d.TrackID != "" && d.DispatchID != "" && d.CollectorKey != "" && d.BatchID != "" {
		return
	}
	if o := rawObject(raw); o != nil { // rare: parse the line again
		for _, f := range [...]string{"task_id", "track_id", "dispatch_id", "collector_key", "batch_id"} {
			if _, isStr := o.GetString(f); !isStr {
				identityOK = false
			}
		}
		_, batchOK = o.GetString("batch_id")
		v, _ := o.Get("track_id")
		track = pyjson.Str(v)
	}
	return
}

// RawObject parses a record's raw line as the view does when a field read
// as "" may be missing or not a string (nil if it is not a JSON object).
// Indexes that derive the same keys as the view use it.
func RawObject(raw []byte) *pyjson.Object { return rawObject(raw) }

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
	if m.byWID == nil {
		return nil
	}
	return m.byWID[m.hash(id)].filter(func(r *DurableRecord) bool { return r.WritebackID == id })
}

// DurableByIdentity implements View.
func (m *MemView) DurableByIdentity(k IdentityKey) []Indexed {
	if m.byIdentity == nil {
		return nil
	}
	return m.byIdentity[m.identityHash(&k)].filter(func(r *DurableRecord) bool { return r.Identity() == k })
}

// RegistryHistory implements View. The records are copies.
func (m *MemView) RegistryHistory(task string) []RegistryRecord {
	if m.registry == nil {
		return []RegistryRecord{}
	}
	l := m.registry[m.hash(task)]
	if l.one == nil {
		return []RegistryRecord{}
	}
	n := 1
	if l.more != nil {
		n += len(*l.more)
	}
	out := make([]RegistryRecord, 0, n)
	out = appendRegistryCopy(out, l.one, task)
	if l.more != nil {
		for _, r := range *l.more {
			out = appendRegistryCopy(out, r, task)
		}
	}
	return out
}

// appendRegistryCopy appends a copy of r if it is a record of the task.
func appendRegistryCopy(out []RegistryRecord, r *RegistryRecord, task string) []RegistryRecord {
	if r.TaskID != task {
		return out // another task with the same hash
	}
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
	if m.latest == nil {
		return nil
	}
	l := m.latest[m.latestHash(batch, track)]
	if l.is(batch, track) {
		return l.rec
	}
	if l.more != nil {
		for i := range *l.more {
			if x := &(*l.more)[i]; x.is(batch, track) {
				return x.rec
			}
		}
	}
	return nil
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
	return s
}

// MemBytes is an estimate of the memory the view holds, in bytes: the
// string bytes of the records plus a fixed overhead per record and index
// entry.
func (m *MemView) MemBytes() int64 { return m.stats.Bytes }

var _ View = (*MemView)(nil)
