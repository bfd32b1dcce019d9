package file

import (
	"encoding/binary"
	"hash/fnv"

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
	k := make([]byte, 1, n)
	k[0] = kind
	for _, f := range fields {
		k = binary.AppendUvarint(k, uint64(len(f)))
		k = append(k, f...)
	}
	return k
}

// hash is FNV-1a (stable across processes, unlike hash/maphash) with a
// final avalanche, so that the top 16 bits that pick a bucket depend on
// every byte.
func (k ikey) hash() uint64 {
	h := fnv.New64a()
	h.Write(k)
	x := h.Sum64()
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
	keys := make([]ikey, 0, 5)
	switch {
	case rec.Durable != nil:
		d := rec.Durable
		if d.WritebackID != "" {
			keys = append(keys, newKey(keyWID, d.WritebackID))
		}
		identityOK, batchOK, track := true, true, d.TrackID
		if d.TaskID == "" || d.TrackID == "" || d.DispatchID == "" || d.CollectorKey == "" || d.BatchID == "" {
			// The seed compares raw values: a field read as "" may be
			// missing or not a string, which no lookup matches.
			if o := rawObject(raw); o != nil {
				for _, f := range [...]string{"task_id", "track_id", "dispatch_id", "collector_key", "batch_id"} {
					if _, isStr := o.GetString(f); !isStr {
						identityOK = false
					}
				}
				if _, isStr := o.GetString("batch_id"); !isStr {
					batchOK = false
				}
				v, _ := o.Get("track_id")
				track = pyjson.Str(v)
			}
		}
		if identityOK {
			keys = append(keys, identityKey(d.Identity()))
		}
		if batchOK && d.WritebackClassification == writeback.DurableSuccessWritten {
			keys = append(keys, newKey(keyLatest, d.BatchID, track))
		}
		keys = append(keys, newKey(keyTask, d.TaskID), newKey(keyBatch, d.BatchID))
	case rec.Registry != nil:
		r := rec.Registry
		ok := true
		if r.TaskID == "" {
			if o := rawObject(raw); o != nil {
				_, ok = o.GetString("task_id")
			}
		}
		if ok {
			keys = append(keys, newKey(keyRegistry, r.TaskID))
		}
		keys = append(keys, newKey(keyTask, r.TaskID))
	case rec.Conflict != nil:
		c := rec.Conflict
		keys = append(keys, newKey(keyConflict, c.ConflictID), newKey(keyTask, c.TaskID), newKey(keyBatch, c.BatchID))
	}
	return keys
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
