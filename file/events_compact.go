package file

// # Retention
//
// Compact removes the oldest events by a retention policy (an age, a
// count, or both). Sealed segments go whole, oldest first, when every
// event of one is outside the policy (events_segments.go). Once no sealed
// segment is left, the active file is compacted event by event: under the
// exclusive flock, Compact first adds the hashes of the removed events'
// keys to <file>.removed-keys (sorted 16-byte prefixes of sha256(key),
// replaced atomically), so an AppendOnce of a removed key still appends
// nothing; then it replaces the file atomically with a file that begins
// with a floor line and holds the retained lines byte for byte:
//
//	{"events_floor":1200}
//	{"id":1201,"type":"writeback.recorded",...}
//
// The floor line is not an event: the line after it is event floor+1, and
// ids keep counting from there (a seal writes the same floor line). Every
// process notices the replaced file by its inode (under the flock, and
// when it looks for new events) and reopens it; a reader that was reading
// the old file keeps reading it. Since below the floor fails with
// COMPACTED. A crash between the two steps leaves the old file whole and
// a few more removed-key hashes than needed, which only makes AppendOnce
// of a key that is still present find it present.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/durable"
)

// keyHash identifies a removed event's key.
type keyHash [16]byte

func hashKey(key string) keyHash { return event.KeyHash(key) }

func (e *Events) keysPath() string { return e.path + ".removed-keys" }

// readKeyHashes reads a removed-keys file (none: nil).
func readKeyHashes(path string) ([]keyHash, error) {
	data, err := durable.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr(settle.Internal, err, "read removed event keys")
	}
	if len(data)%16 != 0 {
		return nil, settle.Errorf(settle.Corrupt, "removed event keys %s: %d bytes is not a whole number of 16-byte hashes", path, len(data))
	}
	out := make([]keyHash, len(data)/16)
	for i := range out {
		copy(out[i][:], data[i*16:])
	}
	return out, nil
}

// writeKeyHashes sorts ck, drops repeats and writes it as the removed-keys
// file; it returns the keys as written.
func (e *Events) writeKeyHashes(ck []keyHash) ([]keyHash, error) {
	slices.SortFunc(ck, func(a, b keyHash) int { return bytes.Compare(a[:], b[:]) })
	ck = slices.Compact(ck)
	kb := make([]byte, 0, 16*len(ck))
	for _, h := range ck {
		kb = append(kb, h[:]...)
	}
	if err := durable.WriteFile(e.keysPath(), kb, 0o644); err != nil {
		return nil, settle.Wrap(settle.Internal, err, "write removed event keys")
	}
	return ck, nil
}

// removedKey reports whether key belonged to a removed event. imu held.
func (e *Events) removedKey(key string) bool {
	if len(e.ckeys) == 0 {
		return false
	}
	_, ok := slices.BinarySearchFunc(e.ckeys, hashKey(key), func(a, b keyHash) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// reopenIfReplaced reopens the file when a compaction replaced it. wmu
// held.
func (e *Events) reopenIfReplaced() error {
	fi, err := os.Stat(e.path)
	if errors.Is(err, fs.ErrNotExist) {
		return e.reopen()
	}
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat event log")
	}
	if inodeOf(fi) == e.ino.Load() {
		return nil
	}
	return e.reopen()
}

// reopen opens the file now at the path and drops the index, which the
// caller's catch-up rebuilds. wmu held.
func (e *Events) reopen() error {
	f, fi, ck, err := e.openFile()
	if err != nil {
		return err
	}
	// Listed after the active file is opened (see open).
	e.imu.RLock()
	old := e.segs
	e.imu.RUnlock()
	segs, err := e.listSegments(old)
	if err != nil {
		f.Close()
		return err
	}
	e.retired = append(e.retired, e.f)
	e.f = f
	e.ino.Store(inodeOf(fi))
	e.imu.Lock()
	e.rf, e.ckeys, e.segs = f, ck, segs
	e.base, e.offs, e.end = 0, nil, 0
	e.keys, e.bad = map[string]int64{}, map[int64]bool{}
	e.akeys, e.aidxLines = nil, 0
	e.imu.Unlock()
	e.sealMeta = nil
	e.loadActiveIdx(f, inodeOf(fi))
	return nil
}

// lockCurrent takes the exclusive flock on the file at the path,
// reopening it first if a compaction replaced it. wmu held.
func (e *Events) lockCurrent() error {
	for range 100 {
		if err := e.reopenIfReplaced(); err != nil {
			return err
		}
		if err := e.locker.Flock(context.Background(), e.f, unix.LOCK_EX); err != nil {
			return settle.Wrap(settle.ErrorCode(err), err, "lock event log")
		}
		fi, err := os.Stat(e.path)
		if err == nil && inodeOf(fi) == e.ino.Load() {
			return nil
		}
		// Replaced while this process waited for the lock.
		funlock(e.f)
	}
	return settle.Errorf(settle.Unavailable, "event log %s keeps being replaced", e.path)
}

// floorPrefix starts the first line of a compacted file.
const floorPrefix = `{"events_floor":`

func parseFloorHeader(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(floorPrefix))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte("}"))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Floor returns the id of the last event a compaction removed (0: none):
// Since accepts any after >= Floor.
func (e *Events) Floor(ctx context.Context) (int64, error) {
	if err := e.refresh(); err != nil {
		return 0, err
	}
	if err := e.resyncSegments(); err != nil {
		return 0, err
	}
	e.imu.RLock()
	defer e.imu.RUnlock()
	return e.floorID(), nil
}

// Retention and CompactResult are event's.
type (
	Retention     = event.Retention
	CompactResult = event.CompactResult
)

// Compact removes the events the retention policy no longer keeps (see
// the Retention section of this file). Other processes may append, read
// and compact concurrently.
func (e *Events) Compact(ctx context.Context, r Retention) (CompactResult, error) {
	if r.MaxAge < 0 || r.MaxEvents < 0 {
		return CompactResult{}, settle.Errorf(settle.InvalidInput, "retention: negative age or count")
	}
	if e.isShut.Load() {
		return CompactResult{}, settle.Errorf(settle.Unavailable, "event log is closed")
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.f == nil {
		return CompactResult{}, settle.Errorf(settle.Unavailable, "event log is closed")
	}
	if err := e.poisonErr(); err != nil {
		return CompactResult{}, err
	}
	locked, err := e.lockForWrite()
	if err != nil {
		return CompactResult{}, err
	}
	defer funlock(locked)
	e.cleanSegmentDir()
	e.imu.RLock()
	segs, first, n := e.segs, e.floorID(), e.lastID()
	e.imu.RUnlock()

	// Whole sealed segments first, oldest first: a segment goes when
	// every event of it goes.
	var drop []*segment
	for _, s := range segs {
		_, maxTime, err := s.info()
		if err != nil {
			return CompactResult{}, err
		}
		byCount := r.MaxEvents > 0 && s.last <= n-r.MaxEvents
		byAge := r.MaxAge > 0 && maxTime < e.now().Add(-r.MaxAge).UnixNano()
		if !byCount && !byAge {
			break
		}
		drop = append(drop, s)
	}
	if len(drop) > 0 {
		if err := ctx.Err(); err != nil {
			return CompactResult{}, settle.Wrap(settle.Unavailable, err, "compact event log")
		}
		if err := e.dropSegments(drop); err != nil {
			return CompactResult{}, err
		}
	}
	if len(drop) < len(segs) {
		floor := first
		if len(drop) > 0 {
			floor = drop[len(drop)-1].last
			e.log.Info("event log compacted", "floor", floor, "removed", floor-first, "retained", n-floor, "segments_removed", len(drop))
		}
		return CompactResult{Floor: floor, Removed: floor - first, Retained: n - floor}, nil
	}

	// No sealed segment left: the active file is compacted event by event.
	e.imu.RLock()
	base, end := e.base, e.end
	e.imu.RUnlock()
	if len(drop) > 0 && base != drop[len(drop)-1].last {
		return CompactResult{}, settle.Errorf(settle.Corrupt, "event log %s: active file begins after %d, the last segment ends at %d", e.path, base, drop[len(drop)-1].last)
	}
	floor := base
	if r.MaxEvents > 0 && n-r.MaxEvents > floor {
		floor = n - r.MaxEvents
	}
	if r.MaxAge > 0 {
		cutoff := e.now().Add(-r.MaxAge)
		for after := floor; after < n; {
			evs, err := e.readRaw(after, 1000)
			if err != nil {
				return CompactResult{}, err
			}
			old, young := 0, false
			for _, ev := range evs {
				// A line that does not decode goes with the old events
				// before it.
				if ev.ok && !ev.time.Before(cutoff) {
					young = true
					break
				}
				old++
			}
			floor = after + int64(old)
			if young || len(evs) == 0 {
				break
			}
			after = floor
		}
	}
	if floor <= base {
		return CompactResult{Floor: base, Removed: base - first, Retained: n - base}, nil
	}
	if err := ctx.Err(); err != nil {
		return CompactResult{}, settle.Wrap(settle.Unavailable, err, "compact event log")
	}

	// The removed events' keys, then the file.
	removed, err := e.readRaw(base, int(floor-base))
	if err != nil {
		return CompactResult{}, err
	}
	e.imu.RLock()
	ck := slices.Clone(e.ckeys)
	cut := end
	if floor < n {
		cut = e.offs[floor-base]
	}
	e.imu.RUnlock()
	for _, ev := range removed {
		if ev.key != "" {
			ck = append(ck, hashKey(ev.key))
		}
	}
	if _, err := e.writeKeyHashes(ck); err != nil {
		return CompactResult{}, err
	}
	if err := e.replaceActive(floor, cut, end); err != nil {
		return CompactResult{}, err
	}
	e.log.Info("event log compacted", "floor", floor, "removed", floor-first, "retained", n-floor)
	return CompactResult{Floor: floor, Removed: floor - first, Retained: n - floor}, nil
}

// rawEvent is what Compact needs of one line.
type rawEvent struct {
	ok   bool
	time time.Time
	key  string
}

// readRaw reads up to limit lines after the id (bad lines included, as
// not ok). wmu held.
func (e *Events) readRaw(after int64, limit int) ([]rawEvent, error) {
	e.imu.RLock()
	base, rf := e.base, e.rf
	n := base + int64(len(e.offs))
	if after >= n || limit <= 0 {
		e.imu.RUnlock()
		return nil, nil
	}
	last := min(after+int64(limit), n)
	from, to := e.offs[after-base], e.end
	if last < n {
		to = e.offs[last-base]
	}
	e.imu.RUnlock()
	buf := make([]byte, to-from)
	if _, err := rf.ReadAt(buf, from); err != nil {
		return nil, settle.Wrap(settle.Internal, err, "read event log")
	}
	out := make([]rawEvent, 0, last-after)
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		var h struct {
			Type string    `json:"type"`
			Time time.Time `json:"time"`
			Key  string    `json:"key"`
		}
		ok := json.Unmarshal(buf[:i], &h) == nil && h.Type != ""
		out = append(out, rawEvent{ok: ok, time: h.Time, key: h.Key})
		buf = buf[i+1:]
	}
	return out, nil
}

var _ event.Compactor = (*Events)(nil)

// State implements event.Porter.
func (e *Events) State(ctx context.Context) (event.LogState, error) {
	if err := e.refresh(); err != nil {
		return event.LogState{}, err
	}
	e.imu.RLock()
	defer e.imu.RUnlock()
	ks := make([][16]byte, len(e.ckeys))
	for i, k := range e.ckeys {
		ks[i] = k
	}
	return event.LogState{Floor: e.floorID(), Last: e.lastID(), RemovedKeys: ks}, nil
}

// Import implements event.Porter: into an empty log only. An id with no
// event (a line of the source that did not decode) is written as a line
// that is no event, so every later id is kept.
func (e *Events) Import(ctx context.Context, st event.LogState, evs []event.Event) error {
	if st.Floor < 0 || st.Last < st.Floor {
		return settle.Errorf(settle.InvalidInput, "import events: floor %d, last %d", st.Floor, st.Last)
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.f == nil {
		return settle.Errorf(settle.Unavailable, "event log is closed")
	}
	locked, err := e.lockForWrite()
	if err != nil {
		return err
	}
	defer funlock(locked)
	fi, err := e.f.Stat()
	if err != nil {
		return settle.Wrap(settle.Internal, err, "stat event log")
	}
	e.imu.RLock()
	empty := fi.Size() == 0 && e.base == 0 && len(e.ckeys) == 0 && len(e.segs) == 0
	base, last, end := e.floorID(), e.lastID(), e.end
	sameKeys := slices.EqualFunc(e.ckeys, st.RemovedKeys, func(a keyHash, b [16]byte) bool { return a == b })
	e.imu.RUnlock()
	if !empty {
		// A catch-up: the log holds a prefix of the imported one.
		if base != st.Floor || !sameKeys || last > st.Last || (len(evs) > 0 && evs[0].ID <= last) {
			return settle.Errorf(settle.InvalidInput, "import events: the event log %s is not empty and not a prefix of the imported one", e.path)
		}
		data, err := importLines(last, st, evs)
		if err != nil || len(data) == 0 {
			return err
		}
		if err := durable.Append(e.f, data); err != nil {
			e.poisonAfter(err, end)
			return settle.Wrap(settle.Unavailable, err, "append imported events")
		}
		if err := e.catchUp(true); err != nil {
			return err
		}
		return e.maybeSeal()
	}
	var data []byte
	if st.Floor > 0 {
		data = append(data, floorPrefix...)
		data = strconv.AppendInt(data, st.Floor, 10)
		data = append(data, "}\n"...)
	}
	lines, err := importLines(st.Floor, st, evs)
	if err != nil {
		return err
	}
	data = append(data, lines...)
	if len(st.RemovedKeys) > 0 {
		ks := slices.Clone(st.RemovedKeys)
		slices.SortFunc(ks, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		kb := make([]byte, 0, 16*len(ks))
		for _, h := range slices.Compact(ks) {
			kb = append(kb, h[:]...)
		}
		if err := durable.WriteFile(e.keysPath(), kb, 0o644); err != nil {
			return settle.Wrap(settle.Internal, err, "write removed event keys")
		}
	}
	if err := durable.WriteFile(e.path, data, 0o644); err != nil {
		return settle.Wrap(settle.Internal, err, "write imported event log")
	}
	if err := e.reopen(); err != nil {
		return err
	}
	if err := e.catchUp(false); err != nil {
		return err
	}
	// The imported file is not the one locked above.
	relocked, err := e.lockForWrite()
	if err != nil {
		return err
	}
	defer funlock(relocked)
	return e.maybeSeal()
}

var _ event.Porter = (*Events)(nil)

// importLines encodes the events after id last up to st.Last, an id with
// no event as a line that is no event.
func importLines(last int64, st event.LogState, evs []event.Event) ([]byte, error) {
	var data []byte
	id := last
	for _, ev := range evs {
		if ev.ID <= id || ev.ID > st.Last {
			return nil, settle.Errorf(settle.InvalidInput, "import events: event %d out of order or beyond %d", ev.ID, st.Last)
		}
		for id++; id < ev.ID; id++ {
			data = append(data, "{}\n"...)
		}
		raw, err := event.EncodeData(ev.Data)
		if err != nil {
			return nil, err
		}
		ev.Data = raw
		data = appendEventLine(data, ev)
		data = append(data, '\n')
	}
	for ; id < st.Last; id++ {
		data = append(data, "{}\n"...)
	}
	return data, nil
}
