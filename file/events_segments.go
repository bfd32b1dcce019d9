package file

// # Segments
//
// The active file (the log's path) holds the newest events. When it holds
// SegmentEvents events or more, the writer that notices it seals them,
// under the exclusive flock, into a sealed segment
// <log>.segments/<last id, 20 digits>.jsonl (the active file's event lines,
// byte for byte) beside a key index <last id>.idx, then replaces the active
// file with one that holds only a floor line naming the last sealed id:
//
//  1. write <last>.idx (tmp, fsync, rename, directory fsync);
//  2. write <last>.jsonl the same way: from here on the segment exists;
//  3. replace the active file with {"events_floor":<last>}.
//
// A crash after step 2 leaves the events both in the segment and in the
// active file: readers take ids up to the last sealed one from the
// segments only, so each event is read once with its id, and the next
// writer finishes step 3. A crash before step 2 leaves at most an .idx
// with no .jsonl, which nothing reads.
//
// The .idx lets AppendOnce ask "is this key present?" and a reader find
// an event's line without reading the segment: a header, a Bloom filter
// of the keys, the sorted 16-byte key hashes with their ids, and the
// offset of every line. A fresh process reads only the first segment's
// header (to know the floor), the directory listing and the active file;
// a segment's filter, keys and offsets are read the first time they are
// needed, and its keys only if its filter may hold the key (a new key
// reads about 16 bits per key of each segment, not the keys).
//
// Compaction drops whole sealed segments, oldest first (the key hashes of
// their events go to <log>.removed-keys first), and compacts the active
// file as before only once no sealed segment is left.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/durable"
	"golang.org/x/sys/unix"
)

// DefaultSegmentEvents is how many events the active file holds before
// they are sealed into a segment.
const DefaultSegmentEvents = 8192

// segIdxMagic begins every segment key index (version 1).
const segIdxMagic = "SETLIDX1"

// idxHeader is the size of an .idx header: magic, first id, last id, the
// latest event time (unix ns), the number of keys, the segment's size
// and the Bloom filter's size in bytes.
const idxHeader = 8 + 6*8

// bloomBitsPerKey and bloomProbes size the key filter: about 0.2% false
// positives.
const (
	bloomBitsPerKey = 16
	bloomProbes     = 4
)

// bloomBits returns the probes of h in a filter of m bits.
func bloomBits(h keyHash, m uint64) [bloomProbes]uint64 {
	h1, h2 := binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:])|1
	var out [bloomProbes]uint64
	for i := range out {
		out[i] = (h1 + uint64(i)*h2) % m
	}
	return out
}

// idxKey is the size of one key entry: a key hash and its event's id.
const idxKey = 16 + 8

// maxSegments bounds how many sealed segments a log may have.
const maxSegments = 1 << 20

// segment is one sealed segment. first and last are set before the
// segment is listed and never change; the rest is read from its .idx on
// first use (under mu) and then immutable.
type segment struct {
	first, last int64
	path        string // the .jsonl
	log         *slog.Logger

	mu      sync.Mutex
	hdr     bool
	hfirst  int64 // the first id its index names
	maxTime int64
	nkeys   int64
	size    int64
	nbloom  int64
	bloom   []byte
	keys    []byte  // nkeys entries of idxKey bytes, sorted
	offs    []int64 // last-first+1 line offsets
	mem     []byte  // a whole index rebuilt from the .jsonl (no usable .idx)
}

func (s *segment) idxPath() string { return strings.TrimSuffix(s.path, ".jsonl") + ".idx" }

func (e *Events) segDir() string { return e.path + ".segments" }

func segName(last int64) string { return fmt.Sprintf("%020d", last) }

// errSegGone: a segment was removed (by a compaction) while read.
var errSegGone = errors.New("segment removed")

// buildIdx returns the .idx of a segment of the given lines, the first
// being event first.
func buildIdx(first int64, data []byte) []byte { return buildIdxMeta(first, data, nil) }

// buildIdxMeta is buildIdx taking the key hash and time of the lines meta
// knows (by their offset in data) instead of parsing them: the same .idx.
func buildIdxMeta(first int64, data []byte, meta func(pos int64) (evMeta, bool)) []byte {
	var offs []int64
	var keys []idxEntry
	var maxTime int64
	id := first
	for pos := 0; pos < len(data); {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			break
		}
		line := data[pos : pos+i]
		offs = append(offs, int64(pos))
		if m, ok := metaAt(meta, int64(pos)); ok {
			if m.keyed {
				keys = append(keys, idxEntry{m.h, id})
			}
			maxTime = max(maxTime, m.ns)
		} else if key, t, ok := lineKeyTime(line); ok {
			if key != "" {
				keys = append(keys, idxEntry{hashKey(key), id})
			}
			if ns := t.UnixNano(); ns > maxTime {
				maxTime = ns
			}
		}
		pos += i + 1
		id++
	}
	sortIdxEntries(keys)
	return encodeIdx(first, int64(len(data)), maxTime, keys, offs, true)
}

// buildIdxOffsets is buildIdxMeta of the lines starting at the file
// offsets offs (size bytes in all), every one of which meta describes: the
// same .idx, without their bytes.
func buildIdxOffsets(first, size int64, offs []int64, meta []evMeta) []byte {
	rel := make([]int64, len(offs))
	var keys []idxEntry
	var maxTime int64
	for i, o := range offs {
		rel[i] = o - offs[0]
		if meta[i].keyed {
			keys = append(keys, idxEntry{meta[i].h, first + int64(i)})
		}
		maxTime = max(maxTime, meta[i].ns)
	}
	sortIdxEntries(keys)
	return encodeIdx(first, size, maxTime, keys, rel, true)
}

// lineKeyTime reads a line's key and time (ok false: not an event).
func lineKeyTime(line []byte) (string, time.Time, bool) {
	if _, key, t, ok := scanEventLineTime(line); ok {
		return key, t, true
	}
	var h struct {
		Type string    `json:"type"`
		Time time.Time `json:"time"`
		Key  string    `json:"key"`
	}
	if len(line) > maxEventLine || json.Unmarshal(line, &h) != nil || h.Type == "" {
		return "", time.Time{}, false
	}
	return h.Key, h.Time, true
}

func metaAt(meta func(int64) (evMeta, bool), pos int64) (evMeta, bool) {
	if meta == nil {
		return evMeta{}, false
	}
	return meta(pos)
}

// parseIdxHeader checks an .idx header against the segment.
func (s *segment) parseIdxHeader(b []byte) error {
	if len(b) < idxHeader || string(b[:8]) != segIdxMagic {
		return settle.Errorf(settle.Corrupt, "segment index %s: bad header", s.idxPath())
	}
	u := func(i int) int64 { return int64(binary.LittleEndian.Uint64(b[8+8*i:])) }
	first, last := u(0), u(1)
	if last != s.last || first < 1 || first > last || last-first >= 1<<32 || u(3) < 0 || u(3) > last-first+1 || u(4) < 0 || u(5) < 0 || u(5) > 8*u(3)+8 || u(5)%8 != 0 {
		return settle.Errorf(settle.Corrupt, "segment index %s: ids %d..%d do not match the segment", s.idxPath(), first, last)
	}
	if s.first != 0 && first != s.first {
		return settle.Errorf(settle.Corrupt, "segment index %s: first id %d, the segment before it ends at %d", s.idxPath(), first, s.first-1)
	}
	s.hfirst, s.maxTime, s.nkeys, s.size, s.nbloom = first, u(2), u(3), u(4), u(5)
	s.hdr = true
	return nil
}

// header reads the .idx header (rebuilding the index from the segment if
// the .idx is missing or damaged). s.mu held.
func (s *segment) header() error {
	if s.hdr {
		return nil
	}
	f, err := durable.Open(s.idxPath(), os.O_RDONLY, 0)
	if err == nil {
		defer f.Close()
		b := make([]byte, idxHeader)
		if _, err = f.ReadAt(b, 0); err == nil {
			if err = s.parseIdxHeader(b); err == nil {
				var fi os.FileInfo
				if fi, err = f.Stat(); err == nil && fi.Size() != idxHeader+s.nbloom+idxKey*s.nkeys+8*(s.last-s.hfirst+1) {
					err = settle.Errorf(settle.Corrupt, "segment index %s: %d bytes", s.idxPath(), fi.Size())
				}
			}
		}
	}
	if err != nil {
		s.hdr = false
		return s.rebuild(err)
	}
	return nil
}

// rebuild indexes the segment's lines in memory when its .idx is unusable.
func (s *segment) rebuild(why error) error {
	data, err := durable.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return errSegGone
	}
	if err != nil {
		return pathErr(settle.Internal, err, "read event log segment")
	}
	n := int64(bytes.Count(data, []byte{'\n'}))
	if n == 0 {
		return settle.Errorf(settle.Corrupt, "event log segment %s is empty", s.path)
	}
	s.log.Warn("event log segment index unusable; indexing the segment in memory", "segment", s.path, "err", why)
	s.mem = buildIdx(s.last-n+1, data)
	return s.parseIdxHeader(s.mem)
}

// section reads n bytes of the .idx at off. s.mu held, header read.
func (s *segment) section(off, n int64) ([]byte, error) {
	if s.mem != nil {
		return s.mem[off : off+n], nil
	}
	f, err := durable.Open(s.idxPath(), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errSegGone
	}
	if err != nil {
		return nil, pathErr(settle.Internal, err, "open event log segment index")
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, settle.Wrap(settle.Internal, err, "read event log segment index")
	}
	return b, nil
}

// lookup returns the id of the segment's event with the key hash.
func (s *segment) lookup(h keyHash) (int64, bool, error) {
	s.mu.Lock()
	if s.bloom == nil {
		if err := s.header(); err != nil {
			s.mu.Unlock()
			return 0, false, err
		}
	}
	if s.bloom == nil && s.nbloom > 0 {
		b, err := s.section(idxHeader, s.nbloom)
		if err != nil {
			s.mu.Unlock()
			return 0, false, err
		}
		s.bloom = b
	}
	// The filter answers most misses (every fresh key is one) even once
	// the keys are loaded: a binary search per segment costs more.
	if s.nbloom > 0 {
		for _, bit := range bloomBits(h, uint64(s.nbloom)*8) {
			if s.bloom[bit/8]&(1<<(bit%8)) == 0 {
				s.mu.Unlock()
				return 0, false, nil
			}
		}
	}
	if s.keys == nil {
		b, err := s.section(idxHeader+s.nbloom, idxKey*s.nkeys)
		if err != nil {
			s.mu.Unlock()
			return 0, false, err
		}
		s.keys = b
	}
	keys := s.keys
	s.mu.Unlock()
	id, ok := searchIdxKeys(keys, h)
	return id, ok, nil
}

// keyHashes returns the segment's key hashes.
func (s *segment) keyHashes() ([]keyHash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		if err := s.header(); err != nil {
			return nil, err
		}
		b, err := s.section(idxHeader+s.nbloom, idxKey*s.nkeys)
		if err != nil {
			return nil, err
		}
		s.keys = b
	}
	out := make([]keyHash, len(s.keys)/idxKey)
	for i := range out {
		copy(out[i][:], s.keys[i*idxKey:])
	}
	return out, nil
}

// info returns the segment's first id and latest event time.
func (s *segment) info() (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.header(); err != nil {
		return 0, 0, err
	}
	return s.hfirst, s.maxTime, nil
}

// offsets returns the offsets of the segment's lines.
func (s *segment) offsets() ([]int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offs == nil {
		if err := s.header(); err != nil {
			return nil, 0, err
		}
		n := s.last - s.hfirst + 1
		b, err := s.section(idxHeader+s.nbloom+idxKey*s.nkeys, 8*n)
		if err != nil {
			return nil, 0, err
		}
		offs := make([]int64, n)
		for i := range offs {
			offs[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		s.offs = offs
	}
	return s.offs, s.size, nil
}

// read decodes the segment's events after the id (first-1 <= after <
// last), up to limit ids; it returns them and the last id it covered.
func (s *segment) read(after int64, limit int) ([]event.Event, int64, error) {
	offs, size, err := s.offsets()
	if err != nil {
		return nil, after, err
	}
	last := min(after+int64(limit), s.last)
	from := offs[after-s.first+1]
	to := size
	if last < s.last {
		to = offs[last-s.first+1]
	}
	if from < 0 || to < from || to > size {
		return nil, after, settle.Errorf(settle.Corrupt, "segment index %s: bad offsets", s.idxPath())
	}
	f, err := durable.Open(s.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, after, errSegGone
	}
	if err != nil {
		return nil, after, pathErr(settle.Internal, err, "open event log segment")
	}
	defer f.Close()
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		return nil, after, settle.Wrap(settle.Internal, err, "read event log segment")
	}
	out := make([]event.Event, 0, last-after)
	id := after
	for len(buf) > 0 && id < last {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil, after, settle.Errorf(settle.Corrupt, "event log segment %s does not match its index at event %d", s.path, id+1)
		}
		line := buf[:i]
		buf = buf[i+1:]
		id++
		var ev event.Event
		if len(line) > maxEventLine || json.Unmarshal(line, &ev) != nil || ev.Type == "" {
			continue // a line that never was an event keeps its id
		}
		ev.ID = id
		out = append(out, ev)
	}
	if id != last {
		return nil, after, settle.Errorf(settle.Corrupt, "event log segment %s does not match its index at event %d", s.path, id+1)
	}
	return out, last, nil
}

// listSegments lists the sealed segments, reusing old's entries (their
// loaded indexes) where unchanged, and reads the oldest one's first id.
func (e *Events) listSegments(old []*segment) ([]*segment, error) {
	for range 3 {
		segs, err := e.listSegmentsOnce(old)
		if !errors.Is(err, errSegGone) {
			return segs, err
		}
		// The oldest segment was removed by a compaction meanwhile.
	}
	return nil, settle.Errorf(settle.Unavailable, "event log %s: segments keep changing", e.path)
}

func (e *Events) listSegmentsOnce(old []*segment) ([]*segment, error) {
	// The directory's parent was checked when the log was opened; the
	// directory itself must not lead elsewhere.
	dir := e.segDir()
	var st unix.Stat_t
	err := unix.Lstat(dir, &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, settle.Errorf(settle.PathRefused, "event log segments %s is not a directory (a symbolic link is refused)", dir)
	}
	if err == unix.ENOENT {
		// No segments yet (a log below DefaultSegmentEvents events): the
		// listing would find the same, with one more system call per
		// group commit.
		return nil, nil
	}
	var names []string
	if err == nil {
		names, err = e.segNames.get(keyOf(&st), time.Now, func() ([]string, error) { return readSegNames(dir) })
	} else {
		names, err = readSegNames(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr(settle.Internal, err, "list event log segments")
	}
	byLast := map[int64]*segment{}
	for _, s := range old {
		byLast[s.last] = s
	}
	var segs []*segment
	for _, fname := range names {
		name, ok := strings.CutSuffix(fname, ".jsonl")
		if !ok || len(name) != 20 {
			continue
		}
		last, err := strconv.ParseInt(name, 10, 64)
		if err != nil || last < 1 {
			continue
		}
		if len(segs) >= maxSegments {
			return nil, settle.Errorf(settle.Corrupt, "event log %s has more than %d segments", e.path, maxSegments)
		}
		s := byLast[last]
		if s == nil {
			s = &segment{last: last, path: filepath.Join(dir, fname), log: e.log}
		}
		segs = append(segs, s)
	}
	// ReadDir sorts by name, and 20-digit names sort by id.
	// A segment not listed before is not shared yet: its first id is set
	// here, from its index for the oldest and from the one before
	// otherwise.
	for i := range segs {
		if i == 0 {
			first, _, err := segs[0].info()
			if err != nil {
				return nil, err
			}
			if segs[0].first == 0 {
				segs[0].first = first
			}
			continue
		}
		if segs[i].first == 0 {
			segs[i].first = segs[i-1].last + 1
		} else if segs[i].first != segs[i-1].last+1 {
			return nil, settle.Errorf(settle.Corrupt, "event log segment %s does not follow %s", segs[i].path, segs[i-1].path)
		}
	}
	return segs, nil
}

// readSegNames returns the names of the regular files in dir, in name
// order.
func readSegNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, de := range ents {
		if de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	return names, nil
}

// sealedLast is the last id in a sealed segment (0: none). imu held.
func (e *Events) sealedLast() int64 {
	if len(e.segs) == 0 {
		return 0
	}
	return e.segs[len(e.segs)-1].last
}

// lastID is the last id given to an event. imu held.
func (e *Events) lastID() int64 {
	return max(e.sealedLast(), e.base+int64(len(e.offs)))
}

// floorID is the id of the last removed event. imu held.
func (e *Events) floorID() int64 {
	if len(e.segs) > 0 {
		return e.segs[0].first - 1
	}
	return e.base
}

// segmentFor returns the sealed segment holding id. imu held.
func (e *Events) segmentFor(id int64) *segment {
	i, _ := slices.BinarySearchFunc(e.segs, id, func(s *segment, id int64) int {
		if s.last < id {
			return -1
		}
		if s.first > id {
			return 1
		}
		return 0
	})
	if i < len(e.segs) && e.segs[i].first <= id && id <= e.segs[i].last {
		return e.segs[i]
	}
	return nil
}

// resyncSegments re-lists the segments (another process may have sealed
// or dropped some) and reloads the removed keys if the list changed.
func (e *Events) resyncSegments() error {
	e.imu.RLock()
	old := e.segs
	e.imu.RUnlock()
	segs, err := e.listSegments(old)
	if err != nil {
		return err
	}
	if slices.Equal(segs, old) {
		return nil
	}
	ck, err := readKeyHashes(e.keysPath())
	if err != nil {
		return err
	}
	e.imu.Lock()
	e.segs, e.ckeys = segs, ck
	e.imu.Unlock()
	return nil
}

// lookupKey says whether an event with the key exists: its id (0 if it
// was removed by a compaction). imu not held. locked says the caller holds
// wmu and the exclusive flock with the segments listed since it took them
// (a run of group commits): no compaction can drop a segment meanwhile, so
// the check that one was dropped (a stat per new key) is skipped.
func (e *Events) lookupKey(key string, locked bool) (int64, bool, error) {
	var h keyHash
	return e.lookupKeyHash(key, &h, locked)
}

// lookupKeyHash is lookupKey setting *h to the key's hash when it computed
// it (the key is not among the active file's keys).
func (e *Events) lookupKeyHash(key string, hp *keyHash, locked bool) (int64, bool, error) {
	e.imu.RLock()
	id, ok := e.keys[key]
	segs := e.segs
	var h keyHash
	if !ok {
		h = hashKey(key)
		*hp = h
		id, ok = e.activeKey(h)
	}
	e.imu.RUnlock()
	if ok {
		return id, true, nil
	}
	for i := len(segs) - 1; i >= 0; i-- {
		id, ok, err := segs[i].lookup(h)
		if errors.Is(err, errSegGone) {
			continue // dropped: its keys are in the removed keys now
		}
		if err != nil {
			return 0, false, err
		}
		if ok {
			return id, true, nil
		}
	}
	if !locked {
		if err := e.resyncIfGone(segs); err != nil {
			return 0, false, err
		}
	}
	e.imu.RLock()
	removed := e.removedKey(key)
	e.imu.RUnlock()
	return 0, removed, nil
}

// resyncIfGone re-lists the segments if one of segs was dropped.
func (e *Events) resyncIfGone(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	if _, err := os.Lstat(segs[0].path); errors.Is(err, fs.ErrNotExist) {
		return e.resyncSegments()
	}
	return nil
}

// finishSeal completes a seal a crash interrupted: the active file still
// holds events that a segment holds. wmu and the exclusive flock held.
func (e *Events) finishSeal() error {
	e.imu.RLock()
	sl, base, n, end := e.sealedLast(), e.base, e.base+int64(len(e.offs)), e.end
	var cut int64
	if sl > base && sl < n {
		cut = e.offs[sl-base]
	} else {
		cut = end
	}
	e.imu.RUnlock()
	if sl <= base {
		return nil
	}
	e.log.Warn("event log: finishing an interrupted seal", "sealed_last", sl, "active_base", base)
	return e.replaceActive(sl, cut, end)
}

// replaceActive replaces the active file with a floor line and its bytes
// from cut to end, then reopens it. wmu and the exclusive flock held.
func (e *Events) replaceActive(floor, cut, end int64) error {
	kept := make([]byte, end-cut)
	if _, err := e.f.ReadAt(kept, cut); err != nil {
		return settle.Wrap(settle.Internal, err, "read retained events")
	}
	data := make([]byte, 0, len(floorPrefix)+24+len(kept))
	data = append(data, floorPrefix...)
	data = strconv.AppendInt(data, floor, 10)
	data = append(data, "}\n"...)
	// What a seal needs of the retained lines this process wrote, at
	// their offsets in the new file.
	shift := int64(len(data)) - cut
	keep := make(map[int64]evMeta)
	e.imu.RLock()
	at, _ := slices.BinarySearch(e.offs, cut)
	for _, o := range e.offs[at:] {
		if m, ok := e.sealMeta[o]; ok {
			keep[o+shift] = m
		}
	}
	e.imu.RUnlock()
	data = append(data, kept...)
	if err := durable.WriteFile(e.path, data, 0o644); err != nil {
		return settle.Wrap(settle.Internal, err, "replace event log")
	}
	if err := e.reopen(); err != nil {
		return err
	}
	e.sealMeta = keep
	return e.catchUp(false)
}

// maybeSeal seals the active file's events into segments of segSize
// events once it holds that many; the rest stay in the active file. wmu
// and the exclusive flock held, torn tail repaired, no interrupted seal.
func (e *Events) maybeSeal() error {
	if e.segSize <= 0 {
		return nil
	}
	e.imu.RLock()
	base, end := e.base, e.end
	offs := e.offs
	e.imu.RUnlock()
	size := int64(e.segSize)
	whole := int64(len(offs)) / size * size
	if whole == 0 {
		return nil
	}
	cut := end
	if whole < int64(len(offs)) {
		cut = offs[whole]
	}
	// The seal runs between group commits, which wait for it: when this
	// process wrote every line of the range (sealMeta holds each line's
	// key hash and time), the .idx is built from that and the offsets;
	// otherwise the lines are read and those it did not write parsed. The
	// segment is copied file to file by the kernel.
	metas := make([]evMeta, whole)
	for i := range metas {
		m, ok := e.sealMeta[offs[i]]
		if !ok {
			metas = nil
			break
		}
		metas[i] = m
	}
	var data []byte
	if metas == nil {
		data = make([]byte, cut-offs[0])
		if _, err := e.f.ReadAt(data, offs[0]); err != nil {
			return settle.Wrap(settle.Internal, err, "read event log to seal")
		}
	}
	dir := e.segDir()
	if err := durable.MkdirUnder(e.root, dir, 0o755); err != nil {
		return pathErr(settle.Internal, err, "create event log segments directory")
	}
	for i := int64(0); i < whole; i += size {
		from, to := offs[i]-offs[0], cut-offs[0]
		if i+size < int64(len(offs)) {
			to = offs[i+size] - offs[0]
		}
		first, last := base+i+1, base+i+size
		name := filepath.Join(dir, segName(last))
		at := offs[0] + from
		var idx []byte
		if metas != nil {
			idx = buildIdxOffsets(first, to-from, offs[i:i+size], metas[i:i+size])
		} else {
			idx = buildIdxMeta(first, data[from:to], func(pos int64) (evMeta, bool) {
				m, ok := e.sealMeta[at+pos]
				return m, ok
			})
		}
		if err := durable.WriteFile(name+".idx", idx, 0o644); err != nil {
			return settle.Wrap(settle.Internal, err, "write event log segment index")
		}
		if err := durable.WriteFileFunc(name+".jsonl", 0o644, func(w io.Writer) error { return durable.CopyRange(w, e.f, at, to-from) }); err != nil {
			return settle.Wrap(settle.Internal, err, "write event log segment")
		}
		e.log.Info("event log segment sealed", "segment", name+".jsonl", "first", first, "last", last)
	}
	if err := e.resyncSegments(); err != nil {
		return err
	}
	return e.replaceActive(base+whole, cut, end)
}

// dropSegments removes the sealed segments up to and including id upTo,
// oldest first, after adding their keys to the removed keys. wmu and the
// exclusive flock held.
func (e *Events) dropSegments(drop []*segment) error {
	e.imu.RLock()
	ck := slices.Clone(e.ckeys)
	e.imu.RUnlock()
	for _, s := range drop {
		ks, err := s.keyHashes()
		if err != nil {
			return err
		}
		ck = append(ck, ks...)
	}
	ck, err := e.writeKeyHashes(ck)
	if err != nil {
		return err
	}
	e.imu.Lock()
	e.ckeys = ck
	e.imu.Unlock()
	for _, s := range drop {
		if err := durable.Remove(s.path); err != nil {
			return pathErr(settle.Internal, err, "remove event log segment")
		}
		if err := durable.Remove(s.idxPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pathErr(settle.Internal, err, "remove event log segment index")
		}
	}
	return e.resyncSegments()
}

// cleanSegmentDir removes what a crashed seal or compaction left in the
// segments directory: temporary files and indexes with no segment. Seals
// and compactions run only under the exclusive flock, which the caller
// holds, so none of these is being written. Failures are only logged.
func (e *Events) cleanSegmentDir() {
	ents, err := os.ReadDir(e.segDir())
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, de := range ents {
		have[de.Name()] = true
	}
	for _, de := range ents {
		name := de.Name()
		stem, isIdx := strings.CutSuffix(name, ".idx")
		orphan := strings.Contains(name, durable.TmpMarker) || (isIdx && !have[stem+".jsonl"])
		if !orphan || !de.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(e.segDir(), name)); err != nil {
			e.log.Warn("event log: leftover segment file not removed", "file", name, "err", err)
			continue
		}
		e.log.Info("event log: removed a leftover of an interrupted seal or compaction", "file", name)
	}
}
