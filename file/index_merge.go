package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/settlehq/settle/internal/durable"
)

// A base rewrite reads the whole base and writes it again: at 1M records
// about 70 MB, 80–200 ms. Made under the ledger's lock, as a save at the
// end of a run does, it stops every write-back of a busy server for that
// long, and the longer the ledger the longer the stop. A long-running
// store therefore rewrites its base in the background: a goroutine merges
// a snapshot (the base file opened on its own, a copy of the records
// after it) into a tmp file beside the base, while the runs go on saving
// log frames; a later save, under the lock, renames the tmp file over the
// base, if the base on disk is still the one merged, and starts a new log
// with the records indexed since the snapshot. What the lock covers is a
// rename, a directory fsync and one log frame.
//
// A process that answers one write-back and exits rewrites in place, as
// before: a background merge would not end before the process does.

// backgroundMergeAfter is how many lookups an index answers before it
// merges in the background (a server passes it within its first
// requests; a command-line write-back makes a few). Negative: never.
// (A variable: tests set it.)
var backgroundMergeAfter = 256

// errMergeStopped ends a background merge that was abandoned.
var errMergeStopped = errors.New("index merge abandoned")

// baseMerge is a base rewrite running in the background.
type baseMerge struct {
	src  fileID // the base file merged: installed only while it is current
	gen  uint64 // its generation
	lid  fileID // the ledger indexed
	cp   ledgerCheckpoint
	ents int // the entries of the records merged: a prefix of the index's ents
	// split: the index's delta map was split when the merge started
	// (prevDelta maps exactly the records merged).
	split bool

	stop atomic.Bool // the writer fails its next write
	done chan struct{}

	mu        sync.Mutex
	tmp       string // the merged base, written and fsynced; "" once renamed or removed
	logTmp    string // the new log: its header alone, naming the new base
	err       error
	took      time.Duration
	abandoned bool
}

// stopWriter fails once its merge is abandoned, so that an abandoned
// merge stops within one buffer instead of writing the rest of the base.
type stopWriter struct {
	w    io.Writer
	stop *atomic.Bool
}

func (s stopWriter) Write(p []byte) (int, error) {
	if s.stop.Load() {
		return 0, errMergeStopped
	}
	return s.w.Write(p)
}

// background reports whether a save starts a background merge instead of
// rewriting the base in place.
func (x *Index) background() bool {
	return backgroundMergeAfter >= 0 && x.lookups > backgroundMergeAfter
}

// startMerge starts a background merge of everything indexed, described
// by cp (its checksums set). An error leaves no merge: the caller
// rewrites in place. The caller holds the ledger's exclusive flock.
func (x *Index) startMerge(cp *ledgerCheckpoint) error {
	if err := x.materialize(); err != nil {
		return err
	}
	// Tmp files of merges whose process died before installing them.
	if _, err := durable.SweepTmp(x.path, x.logPath); err != nil {
		return err
	}
	src, err := openBase(x.path)
	if err != nil {
		return err
	}
	if src.fid != x.b.fid || src.gen != x.b.gen {
		src.close()
		return fmt.Errorf("index base changed on disk")
	}
	m := &baseMerge{src: x.b.fid, gen: x.b.gen, lid: x.lid, cp: *cp, ents: len(x.ents), done: make(chan struct{})}
	x.merge = m
	if x.delta != nil && x.prevDelta == nil {
		x.prevDelta, x.prevMore = x.delta, x.more
		x.delta, x.more = make(map[uint64]uint32), map[uint64][]uint32{}
		m.split = true
	}
	go m.run(x.path, x.logPath, src, slices.Clone(x.rows), slices.Clone(x.ents), newBaseGen())
	return nil
}

// run writes the merged base and the header of its log to tmp files; it
// owns src and the copies.
func (m *baseMerge) run(path, logPath string, src *idxBase, rows []irow, delta []ientry, gen uint64) {
	defer close(m.done)
	start := time.Now()
	slices.SortFunc(delta, cmpEntry)
	tmp, err := durable.WriteTmpFunc(path, 0o644, func(w io.Writer) error {
		return mergeBase(stopWriter{w, &m.stop}, src, m.lid, rows, gen, &m.cp, delta)
	})
	src.close()
	var logTmp string
	if err == nil {
		logTmp, err = durable.WriteTmpFunc(logPath, 0o644, func(w io.Writer) error {
			_, err := stopWriter{w, &m.stop}.Write(logHeader(gen))
			return err
		})
		if err != nil {
			os.Remove(tmp)
			tmp = ""
		}
	}
	if err == nil {
		crashPoint("index-merge")
	}
	m.mu.Lock()
	m.tmp, m.logTmp, m.err, m.took = tmp, logTmp, err, time.Since(start)
	if m.abandoned {
		m.removeTmp()
	}
	m.mu.Unlock()
}

// removeTmp removes the tmp files not renamed. m.mu held.
func (m *baseMerge) removeTmp() {
	for _, p := range []*string{&m.tmp, &m.logTmp} {
		if *p != "" {
			os.Remove(*p)
			*p = ""
		}
	}
}

// abandon stops the merge and removes its tmp file, now or when it ends.
func (m *baseMerge) abandon() {
	m.stop.Store(true)
	m.mu.Lock()
	m.abandoned = true
	m.removeTmp()
	m.mu.Unlock()
}

// abandonMerge abandons the running or finished merge, if any; wait:
// until its goroutine has ended (it stops within one buffer).
func (x *Index) abandonMerge(wait bool) {
	m := x.merge
	if m == nil {
		return
	}
	x.merge = nil
	m.abandon()
	if x.prevDelta != nil {
		x.dropDelta() // the two generations stay valid, but the next merge splits one map
	}
	if wait {
		<-m.done
	}
}

// mergeDone returns the background merge if it has ended.
func (x *Index) mergeDone() *baseMerge {
	if x.merge == nil {
		return nil
	}
	select {
	case <-x.merge.done:
		return x.merge
	default:
		return nil
	}
}

// installMerge puts the ended merge m in place of the base and starts a
// new log with the records indexed after it, described by cp; it reports
// whether it did. A merge of a base that is no longer current (another
// writer replaced the files, the index was rebuilt) is dropped. The caller
// holds the ledger's exclusive flock; m is x.merge.
func (x *Index) installMerge(m *baseMerge, cp *ledgerCheckpoint) (bool, error) {
	if m.err != nil {
		x.abandonMerge(false)
		return false, m.err
	}
	if x.b == nil {
		x.abandonMerge(false)
		return false, nil
	}
	k := int(m.cp.Recs - x.b.cp.Recs) // rows the new base takes over
	if x.b.fid != m.src || x.b.gen != m.gen || x.lid != m.lid || len(x.lrows) > 0 ||
		k < 0 || k > len(x.rows) || m.ents > len(x.ents) ||
		(m.ents < len(x.ents) && int64(x.ents[m.ents].seq) < m.cp.Recs) ||
		(m.ents > 0 && int64(x.ents[m.ents-1].seq) >= m.cp.Recs) || x.stale() {
		x.abandonMerge(false)
		return false, nil
	}
	x.merge = nil
	crashPoint("index-base")
	m.mu.Lock()
	tmp, logTmp := m.tmp, m.logTmp
	m.tmp, m.logTmp = "", ""
	m.mu.Unlock()
	b, lfid, err := x.renameMerged(tmp, logTmp)
	if err != nil {
		if x.prevDelta != nil {
			x.dropDelta()
		}
		return false, err
	}
	// The old base is unmapped and closed off the lock: its last close
	// frees the blocks of the file the rename unlinked.
	go x.b.close()
	x.b = b
	x.rows = slices.Clone(x.rows[k:])
	x.ents = slices.Clone(x.ents[m.ents:])
	if m.split && x.prevDelta != nil {
		x.prevDelta, x.prevMore = nil, nil
	} else {
		x.dropDelta()
	}
	x.savedRecs, x.savedEnts, x.savedOff = m.cp.Recs, 0, m.cp.Off
	x.logGen, x.logLen, x.logFID = b.gen, logHeaderSize, lfid
	x.merges++
	x.mergeTook = m.took
	crashPoint("index-log")
	return true, x.appendFrame(cp)
}

// renameMerged renames a merge's base and log over the index files
// (the log first written with its header alone) and opens the new base;
// it returns the new log's identity.
func (x *Index) renameMerged(tmp, logTmp string) (*idxBase, fileID, error) {
	if err := durable.ReplaceBoth(tmp, x.path, logTmp, x.logPath); err != nil {
		return nil, fileID{}, err
	}
	li, err := os.Stat(x.logPath)
	if err != nil {
		return nil, fileID{}, err
	}
	if li.Size() != logHeaderSize {
		return nil, fileID{}, fmt.Errorf("index log: %d bytes after its replacement", li.Size())
	}
	b, err := openBase(x.path)
	return b, idOf(li), err
}

// openBase opens and checks the base file at path.
func openBase(path string) (*idxBase, error) {
	bf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := bf.Stat()
	var b *idxBase
	if err == nil {
		b, err = parseBase(bf, fi.Size())
	}
	if err != nil {
		bf.Close()
		return nil, err
	}
	b.r, b.f, b.fid = bf, bf, idOf(fi)
	return b, nil
}
