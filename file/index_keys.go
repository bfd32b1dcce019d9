package file

import (
	"encoding/binary"

	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

// Kinds of index keys. A record is indexed under each key it has; a lookup
// reads the records of the key's hash from the ledger and keeps those that
// have the key itself, so a hash collision only costs a read.
const (
	keyWID      byte = 1 + iota // durable: writeback_id (when not "")
	keyIdentity                 // durable: task, track, dispatch, collector, batch
	keyLatest                   // durable success: batch, track (Python's str())
	keyRegistry                 // registry: task_id (when a string)
	keyConflict                 // conflict: conflict_id
	keyTask                     // any record: its task (Records by task)
	keyBatch                    // durable and conflict: its batch (Records by batch)
)

// ikey is one key in its canonical encoding: the kind byte, then each field
// as a uvarint length and its bytes.
type ikey []byte

func newKey(kind byte, fields ...string) ikey {
	n := 1
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	return appendKey(make([]byte, 0, n), kind, fields...)
}

// appendKey appends the encoding of a key to dst.
func appendKey(dst []byte, kind byte, fields ...string) []byte {
	dst = append(dst, kind)
	for _, f := range fields {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// keyArena builds a record's keys in one buffer (a record has up to five).
type keyArena struct {
	buf  []byte
	keys []ikey
}

func (a *keyArena) add(kind byte, fields ...string) {
	start := len(a.buf)
	a.buf = appendKey(a.buf, kind, fields...)
	// A full slice expression: a later key never writes into this one's
	// capacity (after a reallocation the earlier keys keep the old array).
	a.keys = append(a.keys, ikey(a.buf[start:len(a.buf):len(a.buf)]))
}

// FNV-1a's parameters (hash/fnv's New64a, computed inline: no allocation).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// hash is FNV-1a (stable across processes, unlike hash/maphash) with a
// final avalanche, so that the top 16 bits that pick a bucket depend on
// every byte.
func (k ikey) hash() uint64 {
	x := uint64(fnvOffset64)
	for _, c := range k {
		x ^= uint64(c)
		x *= fnvPrime64
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// recordIndexKeys returns the keys of a record, following writeback.MemView's
// semantics for fields that are missing or not strings (raw is the record's
// line, read only when such a field may be involved).
func recordIndexKeys(rec *writeback.LedgerRecord, raw []byte) []ikey {
	n := 16
	switch {
	case rec.Durable != nil:
		d := rec.Durable
		n += 2*(len(d.TaskID)+len(d.BatchID)+len(d.TrackID)) + len(d.WritebackID) + len(d.DispatchID) + len(d.CollectorKey) + 5*binary.MaxVarintLen64
	case rec.Registry != nil:
		n += 2*len(rec.Registry.TaskID) + 2*binary.MaxVarintLen64
	case rec.Conflict != nil:
		c := rec.Conflict
		n += len(c.ConflictID) + len(c.TaskID) + len(c.BatchID) + 3*binary.MaxVarintLen64
	}
	a := keyArena{buf: make([]byte, 0, n), keys: make([]ikey, 0, 5)}
	switch {
	case rec.Durable != nil:
		d := rec.Durable
		if d.WritebackID != "" {
			a.add(keyWID, d.WritebackID)
		}
		identityOK, batchOK, track := writeback.DurableKeys(d, raw)
		if identityOK {
			k := d.Identity()
			a.add(keyIdentity, k.TaskID, k.TrackID, k.DispatchID, k.CollectorKey, k.BatchID)
		}
		if batchOK && d.WritebackClassification == writeback.DurableSuccessWritten {
			a.add(keyLatest, d.BatchID, track)
		}
		a.add(keyTask, d.TaskID)
		a.add(keyBatch, d.BatchID)
	case rec.Registry != nil:
		r := rec.Registry
		ok := true
		if r.TaskID == "" {
			if o := rawObject(raw); o != nil {
				_, ok = o.GetString("task_id")
			}
		}
		if ok {
			a.add(keyRegistry, r.TaskID)
		}
		a.add(keyTask, r.TaskID)
	case rec.Conflict != nil:
		c := rec.Conflict
		a.add(keyConflict, c.ConflictID)
		a.add(keyTask, c.TaskID)
		a.add(keyBatch, c.BatchID)
	}
	return a.keys
}

func identityKey(k writeback.IdentityKey) ikey {
	return newKey(keyIdentity, k.TaskID, k.TrackID, k.DispatchID, k.CollectorKey, k.BatchID)
}

// hasKey reports whether the record has the key k.
func hasKey(rec *writeback.LedgerRecord, raw []byte, k ikey) bool {
	for _, x := range recordIndexKeys(rec, raw) {
		if string(x) == string(k) {
			return true
		}
	}
	return false
}

// rawObject parses a record's line as writeback.MemView does.
func rawObject(raw []byte) *pyjson.Object { return writeback.RawObject(raw) }
