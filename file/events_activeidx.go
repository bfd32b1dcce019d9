package file

// # Active file key index
//
// A new process that appends one event must know the active file's keys
// (is this key there already?) and its line offsets (the next id). Read
// from the file itself that costs a parse of every line, up to
// DefaultSegmentEvents lines. The writers therefore keep a key index of
// the active file beside it, <log>.keyidx, rewritten under the exclusive
// flock whenever activeIdxEvery events were appended since the last one:
//
//	segment .idx bytes  the same format as a sealed segment's key index
//	                    (events base+1 .. base+n, no Bloom filter, offsets
//	                    relative to the first event line)
//	bad ids             8 bytes each: the lines that do not decode
//	trailer             "SETLAIX1", inode, first line offset, end offset,
//	                    base, number of bad ids, length of the .idx bytes,
//	                    sha256 of the file's first and last 4 KiB before
//	                    end, crc32c of everything before it
//
// It is derived state: a process takes it only if its checksum holds, it
// names the inode of the file it opened, the file is at least end bytes
// long, its floor line names base and both checksums of the file's bytes
// match; otherwise the process reads the whole file as before. Lines after
// end are read from the file, so an index a few appends old is still
// exact. It is written only from durable, indexed lines (after their
// fsync), so it never names an event that a crash can take back.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"slices"

	"github.com/settlehq/settle/internal/durable"
)

// activeIdxMagic ends every active file key index (version 1).
const activeIdxMagic = "SETLAIX1"

// activeIdxTrailer is the size of the fixed trailer.
const activeIdxTrailer = 8 + 6*8 + 2*32 + 4

// activeIdxEvery is how many events are appended to the active file
// between two rewrites of its key index: the most a new process reads
// from the file itself. A variable so tests can write it often.
var activeIdxEvery int64 = 256

// maxActiveIdx bounds the index file a process reads.
const maxActiveIdx = 1 << 30

func (e *Events) activeIdxPath() string { return e.path + ".keyidx" }

// idxEntry is one key of an .idx: a key hash and its event's id.
type idxEntry struct {
	h  keyHash
	id int64
}

// encodeIdx writes an .idx (see buildIdxMeta): keys sorted by hash then
// id, offs relative to the first line, size the bytes the lines take.
func encodeIdx(first, size, maxTime int64, keys []idxEntry, offs []int64, bloom bool) []byte {
	nbloom := 0
	if bloom {
		nbloom = (len(keys)*bloomBitsPerKey + 63) / 64 * 8
	}
	b := make([]byte, 0, idxHeader+nbloom+idxKey*len(keys)+8*len(offs))
	b = append(b, segIdxMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(first))
	b = binary.LittleEndian.AppendUint64(b, uint64(first+int64(len(offs))-1))
	b = binary.LittleEndian.AppendUint64(b, uint64(maxTime))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(keys)))
	b = binary.LittleEndian.AppendUint64(b, uint64(size))
	b = binary.LittleEndian.AppendUint64(b, uint64(nbloom))
	if nbloom > 0 {
		bl := make([]byte, nbloom)
		for _, k := range keys {
			for _, bit := range bloomBits(k.h, uint64(nbloom)*8) {
				bl[bit/8] |= 1 << (bit % 8)
			}
		}
		b = append(b, bl...)
	}
	for _, k := range keys {
		b = append(b, k.h[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(k.id))
	}
	for _, o := range offs {
		b = binary.LittleEndian.AppendUint64(b, uint64(o))
	}
	return b
}

func sortIdxEntries(keys []idxEntry) { slices.SortFunc(keys, cmpIdxEntry) }

// searchIdxKeys returns the smallest id of the key hash in sorted .idx key
// entries (the first event with the key, as a scan of the file finds it).
func searchIdxKeys(keys []byte, h keyHash) (int64, bool) {
	n := len(keys) / idxKey
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(keys[m*idxKey:m*idxKey+16], h[:]) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < n && bytes.Equal(keys[lo*idxKey:lo*idxKey+16], h[:]) {
		return int64(binary.LittleEndian.Uint64(keys[lo*idxKey+16:])), true
	}
	return 0, false
}

// activeSums are the checksums of the active file's first and last
// sumWindow bytes before end.
func activeSums(f *os.File, end int64) (head, tail [32]byte, err error) {
	return ledgerSums(f, end)
}

// loadActiveIdx takes the key index of the active file f (inode ino) if it
// is valid for it, setting base, offs, end, akeys and bad. The index must
// be empty (after open or reopen); wmu held. A missing or unusable index
// leaves it empty: the catch-up reads the whole file.
func (e *Events) loadActiveIdx(f *os.File, ino uint64) {
	b, err := durable.ReadFile(e.activeIdxPath())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	why := "unreadable"
	if err == nil {
		why = e.takeActiveIdx(f, ino, b)
		if why == "" || why == "another file" {
			// An index of the file a seal or compaction replaced is
			// expected until the next writer rewrites it.
			return
		}
	}
	e.log.Info("event log key index not used; reading the active file", "index", e.activeIdxPath(), "why", why, "err", err)
}

// takeActiveIdx validates b against f and takes it; it returns why not.
func (e *Events) takeActiveIdx(f *os.File, ino uint64, b []byte) string {
	if len(b) < activeIdxTrailer || len(b) > maxActiveIdx {
		return "size"
	}
	t := b[len(b)-activeIdxTrailer:]
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(t[activeIdxTrailer-4:]) {
		return "checksum"
	}
	if string(t[:8]) != activeIdxMagic {
		return "magic"
	}
	u := func(i int) int64 { return int64(binary.LittleEndian.Uint64(t[8+8*i:])) }
	fino, start, end, base, nbad, nidx := uint64(u(0)), u(1), u(2), u(3), u(4), u(5)
	var head, tail [32]byte
	copy(head[:], t[56:88])
	copy(tail[:], t[88:120])
	if fino != ino {
		return "another file"
	}
	if start < 0 || end <= start || base < 0 || nbad < 0 || nidx < idxHeader || nidx+8*nbad != int64(len(b)-activeIdxTrailer) {
		return "trailer"
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < end {
		return "file shorter than the index"
	}
	if start > 0 {
		fl := make([]byte, start)
		if _, err := f.ReadAt(fl, 0); err != nil || fl[start-1] != '\n' {
			return "floor line"
		}
		if fb, ok := parseFloorHeader(fl[:start-1]); !ok || fb != base {
			return "floor line"
		}
	} else if base != 0 {
		return "floor line"
	}
	h, tl, err := activeSums(f, end)
	if err != nil || h != head || tl != tail {
		return "file checksums"
	}
	// The .idx part, checked as a segment's header is.
	idx := b[:nidx]
	s := &segment{last: int64(binary.LittleEndian.Uint64(idx[16:]))}
	if string(idx[:8]) != segIdxMagic || s.parseIdxHeader(idx) != nil || s.hfirst != base+1 || s.size != end-start || s.nbloom != 0 {
		return "index header"
	}
	n := s.last - s.hfirst + 1
	if int64(len(idx)) != idxHeader+idxKey*s.nkeys+8*n {
		return "index size"
	}
	keys := idx[idxHeader : idxHeader+idxKey*s.nkeys]
	ob := idx[idxHeader+idxKey*s.nkeys:]
	offs := make([]int64, n)
	prev := int64(-1)
	for i := range offs {
		o := int64(binary.LittleEndian.Uint64(ob[8*i:]))
		if o <= prev || o >= end-start {
			return "offsets"
		}
		offs[i], prev = start+o, o
	}
	if offs[0] != start {
		return "offsets"
	}
	for i := int64(0); i < s.nkeys; i++ {
		id := int64(binary.LittleEndian.Uint64(keys[i*idxKey+16:]))
		if id <= base || id > s.last || (i > 0 && bytes.Compare(keys[(i-1)*idxKey:(i-1)*idxKey+16], keys[i*idxKey:i*idxKey+16]) > 0) {
			return "keys"
		}
	}
	bad := map[int64]bool{}
	for i := int64(0); i < nbad; i++ {
		id := int64(binary.LittleEndian.Uint64(b[nidx+8*i:]))
		if id <= base || id > s.last {
			return "bad ids"
		}
		bad[id] = true
	}
	e.imu.Lock()
	e.base, e.offs, e.end = base, offs, end
	e.akeys, e.bad = keys, bad
	e.aidxLines = n
	e.imu.Unlock()
	return ""
}

// maybeWriteActiveIdx rewrites the active file's key index when
// activeIdxEvery events were appended since the last one this process
// knows of. wmu and the exclusive flock held, the file caught up. A
// failure is logged only: the index is derived state, and a missing one
// costs the next process a read of the file.
func (e *Events) maybeWriteActiveIdx() {
	e.imu.RLock()
	n := int64(len(e.offs))
	if n == 0 || n-e.aidxLines < activeIdxEvery {
		e.imu.RUnlock()
		return
	}
	base, end, start := e.base, e.end, e.offs[0]
	offs := make([]int64, n)
	for i, o := range e.offs {
		offs[i] = o - start
	}
	// The keys an earlier index holds are sorted already (akeys); only
	// the keys since (keys, a few hundred) are hashed and sorted, then
	// merged in.
	akeys, nfresh := e.akeys, len(e.keys)
	fresh := make([]idxEntry, 0, nfresh)
	for k, id := range e.keys {
		fresh = append(fresh, idxEntry{hashKey(k), id})
	}
	bad := make([]int64, 0, len(e.bad))
	for id := range e.bad {
		bad = append(bad, id)
	}
	e.imu.RUnlock()
	sortIdxEntries(fresh)
	keys := mergeIdxEntries(akeys, fresh)
	slices.Sort(bad)
	head, tail, err := activeSums(e.f, end)
	if err != nil {
		e.log.Warn("event log key index not written", "err", err)
		return
	}
	b := encodeIdx(base+1, end-start, 0, keys, offs, false)
	nidx := len(b)
	for _, id := range bad {
		b = binary.LittleEndian.AppendUint64(b, uint64(id))
	}
	b = append(b, activeIdxMagic...)
	for _, v := range [...]int64{int64(e.ino.Load()), start, end, base, int64(len(bad)), int64(nidx)} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = append(b, head[:]...)
	b = append(b, tail[:]...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := durable.WriteFile(e.activeIdxPath(), b, 0o644); err != nil {
		e.log.Warn("event log key index not written", "index", e.activeIdxPath(), "err", err)
		return
	}
	e.imu.Lock()
	e.aidxLines = n
	if len(e.keys) == nfresh && len(e.akeys) == len(akeys) {
		// The index now holds every key: lookups search its entries, as
		// a process that opens it does, and the map starts again.
		e.akeys = b[idxHeader : idxHeader+idxKey*len(keys)]
		e.keys = map[string]int64{}
	}
	e.imu.Unlock()
}

// mergeIdxEntries merges sorted .idx key entries (the bytes of an index's
// key section) with sorted entries, in sortIdxEntries' order.
func mergeIdxEntries(sorted []byte, fresh []idxEntry) []idxEntry {
	out := make([]idxEntry, 0, len(sorted)/idxKey+len(fresh))
	j := 0
	for i := 0; i+idxKey <= len(sorted); i += idxKey {
		var k idxEntry
		copy(k.h[:], sorted[i:])
		k.id = int64(binary.LittleEndian.Uint64(sorted[i+16:]))
		for j < len(fresh) && cmpIdxEntry(fresh[j], k) < 0 {
			out = append(out, fresh[j])
			j++
		}
		out = append(out, k)
	}
	return append(out, fresh[j:]...)
}

func cmpIdxEntry(a, b idxEntry) int {
	if c := bytes.Compare(a.h[:], b.h[:]); c != 0 {
		return c
	}
	return int(a.id - b.id)
}

// activeKey returns the id of the key hash in the active file's key index.
// imu held.
func (e *Events) activeKey(h keyHash) (int64, bool) {
	if len(e.akeys) == 0 {
		return 0, false
	}
	return searchIdxKeys(e.akeys, h)
}
