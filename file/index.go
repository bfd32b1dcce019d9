package file

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/writeback"
)

// The persistent ledger index lives beside the ledger in two files:
//
//	<ledger>.idx     the base: an immutable table written by tmp+fsync+rename
//	<ledger>.idxlog  the log: frames appended (and fsynced) after the base
//
// The base holds a header (the ledger's identity and the checkpoint it
// covers, with checksums of the ledger bytes at the checkpoint), one row per
// record (offset, length, kind, checksum) and the key entries (64-bit key
// hash, record number) sorted by hash, with a fan-out table of 65536
// buckets, each an (entry start, CRC of its entries) pair. A lookup reads
// one fan-out slot (with the next slot's start) and one bucket, then the
// records it names; nothing is loaded whole, so memory does not grow with
// the ledger. A store that looks up often (a server) keeps the fan-out
// table in memory (512 KiB) and reads only the bucket. Each log frame carries the rows and entries of the
// records appended since the previous checkpoint and the new checkpoint.
// When the log holds more than mergeRows records the base is rewritten
// with them (and the log restarted).
//
// Every change is made under the ledger's exclusive flock. The index is a
// cache of the ledger: whatever it holds is checked against the ledger
// (identity, size, checksums at open; every record read back and compared
// with its key at lookup) and a missing, stale or corrupt index costs a
// rebuild, never a wrong answer.
const (
	idxSuffix = ".idx"
	logSuffix = ".idxlog"

	// The magics name the format, key encoding and hash included: a
	// change to any of them needs new magics (old files are then rebuilt).
	idxMagic = "SETLIDX2"
	logMagic = "SETLLOG1"

	idxHeaderSize = 256
	logHeaderSize = 32
	rowSize       = 16
	entrySize     = 12
	fanBuckets    = 1 << 16
	sumWindow     = 4096
)

// mergeRows is how many records the log may hold before the base is
// rewritten; it bounds what a new process reads and decodes at open.
// (A variable: tests merge often.)
var mergeRows = 8192

// After this many lookups an index builds a map of the records after the
// base, and a base reads its whole fan-out table into memory. Before, a
// lookup scans the records after the base (at most mergeRows records, a
// few tens of microseconds) and reads its fan-out slot from the file: a
// process that answers one write-back does not pay for building either.
// (Variables: tests vary them.)
var (
	deltaMapAfter = 32
	fanCacheAfter = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// mergeChunk bounds the buffers a base rewrite reads and writes through.
// (A variable: tests make it small, so that buckets straddle chunks.)
var mergeChunk = 1 << 20

// indexCrashHook is called at the steps of an index update (tests: a child
// process exits there to simulate a crash).
var indexCrashHook func(step string)

func crashPoint(step string) {
	if indexCrashHook != nil {
		indexCrashHook(step)
	}
}

// ledgerCheckpoint is how far the index has read the ledger.
type ledgerCheckpoint struct {
	Off, Lines, Skipped, Recs int64
	Kinds                     [3]int64
	Head, Tail                [32]byte // sha256 of the ledger's first and last sumWindow bytes before Off
}

const cpSize = 7*8 + 64

func (c *ledgerCheckpoint) put(b []byte) {
	le := binary.LittleEndian
	for i, v := range [...]int64{c.Off, c.Lines, c.Skipped, c.Recs, c.Kinds[0], c.Kinds[1], c.Kinds[2]} {
		le.PutUint64(b[8*i:], uint64(v))
	}
	copy(b[56:], c.Head[:])
	copy(b[88:], c.Tail[:])
}

func (c *ledgerCheckpoint) get(b []byte) {
	le := binary.LittleEndian
	v := func(i int) int64 { return int64(le.Uint64(b[8*i:])) }
	c.Off, c.Lines, c.Skipped, c.Recs = v(0), v(1), v(2), v(3)
	c.Kinds = [3]int64{v(4), v(5), v(6)}
	copy(c.Head[:], b[56:88])
	copy(c.Tail[:], b[88:120])
}

// ledgerSums computes the checkpoint checksums of the ledger at off.
func ledgerSums(r io.ReaderAt, off int64) (head, tail [32]byte, err error) {
	read := func(from, to int64) ([32]byte, error) {
		buf := make([]byte, to-from)
		if _, err := r.ReadAt(buf, from); err != nil && !(err == io.EOF && len(buf) == 0) {
			return [32]byte{}, err
		}
		return sha256.Sum256(buf), nil
	}
	if head, err = read(0, min(off, sumWindow)); err != nil {
		return
	}
	tail, err = read(max(0, off-sumWindow), off)
	return
}

// irow locates one record in the ledger.
type irow struct {
	off  int64
	n    uint32
	kind uint8
}

func (r irow) put(b []byte, seq int64) {
	le := binary.LittleEndian
	le.PutUint64(b, uint64(r.off))
	le.PutUint32(b[8:], r.n)
	b[12] = r.kind
	c := rowCRC(b[:13], seq)
	b[13], b[14], b[15] = byte(c), byte(c>>8), byte(c>>16)
}

// rowCRC is the CRC of seq (8 bytes) then b (13): one call over a copy
// (a rewrite checks every row of the base).
func rowCRC(b []byte, seq int64) uint32 {
	var s [8 + 13]byte
	return rowSum(s[:], b, seq)
}

// rowSum is rowCRC with a scratch buffer of 21 bytes (the one of rowCRC
// escapes to the heap: a rewrite of the base passes one for all its rows).
func rowSum(s, b []byte, seq int64) uint32 {
	binary.LittleEndian.PutUint64(s, uint64(seq))
	copy(s[8:8+13], b[:13])
	return crc32.Checksum(s[:8+13], castagnoli)
}

func getRow(b []byte, seq int64) (irow, bool) {
	c := rowCRC(b[:13], seq)
	if b[13] != byte(c) || b[14] != byte(c>>8) || b[15] != byte(c>>16) {
		return irow{}, false
	}
	le := binary.LittleEndian
	return irow{off: int64(le.Uint64(b)), n: le.Uint32(b[8:]), kind: b[12]}, true
}

// ientry is one key of one record.
type ientry struct {
	h   uint64
	seq uint32
}

func cmpEntry(a, b ientry) int {
	if a.h != b.h {
		if a.h < b.h {
			return -1
		}
		return 1
	}
	return int(int64(a.seq) - int64(b.seq))
}

// errIndexCorrupt says the index disagrees with itself or the ledger.
var errIndexCorrupt = errors.New("ledger index corrupt")

// idxBase is an immutable base table, in a file or in memory.
type idxBase struct {
	r    io.ReaderAt
	f    *os.File // nil: in memory (not written)
	fid  fileID   // of the base file
	gen  uint64
	lid  fileID // the ledger it indexes
	cp   ledgerCheckpoint
	nent int64

	finds int      // lookups so far
	fan   []uint32 // the fan-out table, once cached: start, CRC per bucket, then the end
	// mem is the base file mapped read-only, once it is looked up often
	// (nil: read with r). The base is never changed in place (a new one
	// is renamed over it), so the mapping stays what was checked; a file
	// cut or changed behind the store's back reads as corrupt (mapRead).
	mem []byte
	buf []byte // a lookup's bucket
}

func (b *idxBase) rowsAt() int64 { return idxHeaderSize }
func (b *idxBase) entAt() int64  { return idxHeaderSize + b.cp.Recs*rowSize }
func (b *idxBase) fanAt() int64  { return b.entAt() + b.nent*entrySize }
func (b *idxBase) size() int64   { return b.fanAt() + fanBuckets*8 + 4 }

func (b *idxBase) close() {
	if b == nil {
		return
	}
	if b.mem != nil {
		_ = unix.Munmap(b.mem)
		b.mem = nil
	}
	if b.f != nil {
		b.f.Close()
	}
}

// ReadAt reads the base: from its mapping once mapped, else with r.
func (b *idxBase) ReadAt(p []byte, off int64) (int, error) {
	if b.mem != nil {
		return mapRead(b.mem, p, off)
	}
	return b.r.ReadAt(p, off)
}

// mapBase maps the base file when it is read from it: a server's lookups
// then copy from memory instead of making a system call each (about half
// of a batched write-back's index cost). The mapping's pages are the page
// cache's, not the heap's: at 1M records the whole base is about 70 MB,
// and only the pages looked up are resident. A failed mapping keeps the
// reads.
func (b *idxBase) mapBase() {
	f, ok := b.r.(*os.File)
	if !ok || b.mem != nil || f != b.f {
		return
	}
	size := b.size()
	if size <= 0 || size != int64(int(size)) {
		return
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return
	}
	// Lookups touch a bucket and a row each: no read-ahead around them.
	_ = unix.Madvise(mem, unix.MADV_RANDOM)
	b.mem = mem
}

// mapRead copies mem[off:] into p. A fault (the file was cut behind the
// store's back: the kernel signals the access beyond its end) is an
// error, as a short read would be, instead of a crash.
func mapRead(mem, p []byte, off int64) (n int, err error) {
	if off < 0 || off > int64(len(mem)) {
		return 0, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("read mapped index: %v", r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	n = copy(p, mem[off:])
	if n < len(p) {
		err = io.EOF
	}
	return n, err
}

// encodeBaseHeader returns the header of a base.
func encodeBaseHeader(gen uint64, lid fileID, cp *ledgerCheckpoint, nent int64) []byte {
	h := make([]byte, idxHeaderSize)
	le := binary.LittleEndian
	copy(h, idxMagic)
	le.PutUint64(h[8:], gen)
	le.PutUint64(h[16:], lid.dev)
	le.PutUint64(h[24:], lid.ino)
	le.PutUint64(h[32:], uint64(nent))
	cp.put(h[40:])
	le.PutUint32(h[idxHeaderSize-4:], crc32.Checksum(h[:idxHeaderSize-4], castagnoli))
	return h
}

// parseBase reads and checks a base's header.
func parseBase(r io.ReaderAt, size int64) (*idxBase, error) {
	h := make([]byte, idxHeaderSize)
	if _, err := r.ReadAt(h, 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errIndexCorrupt, err)
	}
	le := binary.LittleEndian
	if string(h[:8]) != idxMagic || le.Uint32(h[idxHeaderSize-4:]) != crc32.Checksum(h[:idxHeaderSize-4], castagnoli) {
		return nil, fmt.Errorf("%w: bad header", errIndexCorrupt)
	}
	b := &idxBase{r: r, gen: le.Uint64(h[8:]), lid: fileID{dev: le.Uint64(h[16:]), ino: le.Uint64(h[24:])}, nent: int64(le.Uint64(h[32:]))}
	b.cp.get(h[40:])
	if b.cp.Recs < 0 || b.nent < 0 || b.cp.Recs > 1<<32 || b.nent > 1<<36 || b.size() != size {
		return nil, fmt.Errorf("%w: size %d does not match its header", errIndexCorrupt, size)
	}
	return b, nil
}

// row reads record seq's row.
func (b *idxBase) row(seq int64) (irow, error) {
	var buf [rowSize]byte
	if _, err := b.ReadAt(buf[:], b.rowsAt()+seq*rowSize); err != nil {
		return irow{}, fmt.Errorf("%w: row %d: %v", errIndexCorrupt, seq, err)
	}
	r, ok := getRow(buf[:], seq)
	if !ok {
		return irow{}, fmt.Errorf("%w: row %d checksum", errIndexCorrupt, seq)
	}
	return r, nil
}

// find appends the record numbers of hash h, ascending.
func (b *idxBase) find(h uint64, out []uint32) ([]uint32, error) {
	bucket := int64(h >> 48)
	le := binary.LittleEndian
	b.finds++
	if b.fan == nil && b.finds > fanCacheAfter {
		b.mapBase()
		if err := b.loadFan(); err != nil {
			return out, err
		}
	}
	var from, to int64
	var sum uint32
	if b.fan != nil {
		from, sum, to = int64(b.fan[2*bucket]), b.fan[2*bucket+1], int64(b.fan[2*bucket+2])
	} else {
		var slot [12]byte
		if _, err := b.ReadAt(slot[:], b.fanAt()+bucket*8); err != nil {
			return out, fmt.Errorf("%w: fan-out: %v", errIndexCorrupt, err)
		}
		from, sum, to = int64(le.Uint32(slot[:])), le.Uint32(slot[4:]), int64(le.Uint32(slot[8:]))
	}
	if from > to || to > b.nent {
		return out, fmt.Errorf("%w: fan-out bucket %d", errIndexCorrupt, bucket)
	}
	// The bucket is read into a buffer kept between lookups (the index
	// is used under the store's lock).
	n := int((to - from) * entrySize)
	if cap(b.buf) < n {
		b.buf = make([]byte, n, max(n, 64*entrySize))
	}
	buf := b.buf[:n]
	if _, err := b.ReadAt(buf, b.entAt()+from*entrySize); err != nil {
		return out, fmt.Errorf("%w: entries: %v", errIndexCorrupt, err)
	}
	if crc32.Checksum(buf, castagnoli) != sum {
		return out, fmt.Errorf("%w: bucket %d checksum", errIndexCorrupt, bucket)
	}
	// A bucket holds a few dozen entries: a linear scan is as fast as a
	// binary search.
	for j := 0; j < n/entrySize; j++ {
		e := buf[j*entrySize:]
		if le.Uint64(e) == h {
			out = append(out, le.Uint32(e[8:]))
		}
	}
	return out, nil
}

// loadFan reads the whole fan-out table into memory. The slots are not
// checked here: each bucket's CRC and bounds are checked at each lookup, as
// when they are read from the file.
func (b *idxBase) loadFan() error {
	raw := make([]byte, fanBuckets*8+4)
	if _, err := b.ReadAt(raw, b.fanAt()); err != nil {
		return fmt.Errorf("%w: fan-out: %v", errIndexCorrupt, err)
	}
	fan := make([]uint32, len(raw)/4)
	for i := range fan {
		fan[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	b.fan = fan
	return nil
}

// Index is the persistent, incremental index of one ledger file: a base
// table on disk plus the records appended since (from the index log or
// read from the ledger), in memory. It answers which records have a key;
// the ledger store reads and checks them. It is not safe for concurrent
// use (the store serializes access).
type Index struct {
	path, logPath string

	lid fileID // ledger the index describes
	b   *idxBase

	// Records after the base, in ledger order: first those read from the
	// log at load, kept as the log encodes them (a load decodes nothing:
	// rows are checked when read, entries scanned as they are), then those
	// added since.
	lrows []byte // encoded rows, rowSize each
	lents []byte // encoded entries, entrySize each, in record order
	rows  []irow
	ents  []ientry // keys of rows, in record order
	// delta maps a hash to its first record number and more to the
	// others, ascending (most hashes have one record: no slice each);
	// both are built after deltaMapAfter lookups.
	delta   map[uint64]uint32
	more    map[uint64][]uint32
	lookups int
	// While a background merge runs, prevDelta and prevMore map the
	// records it merges and delta and more those indexed since; its
	// install drops the older pair instead of rebuilding a map of the
	// records it leaves after the new base.
	prevDelta map[uint64]uint32
	prevMore  map[uint64][]uint32

	// What the files on disk hold, as this index last read or wrote them.
	logGen    uint64
	logLen    int64 // 0: no usable log
	logFID    fileID
	savedRecs int64 // records covered by base + log on disk
	savedEnts int   // entries of ents covered by the log on disk
	savedOff  int64

	// merge is the background base rewrite running or ended, not yet
	// installed (index_merge.go); merges counts those installed and
	// mergeTook is how long the last one ran.
	merge     *baseMerge
	merges    int64
	mergeTook time.Duration
}

// NewIndex returns an empty index for the ledger at path.
func newIndex(ledgerPath string) *Index {
	return &Index{path: ledgerPath + idxSuffix, logPath: ledgerPath + logSuffix}
}

// reset forgets everything (the ledger was replaced or rewritten).
func (x *Index) reset() {
	x.abandonMerge(false)
	x.b.close()
	*x = Index{path: x.path, logPath: x.logPath}
}

// len is the number of records indexed.
func (x *Index) len() int {
	n := x.after()
	if x.b != nil {
		n += int(x.b.cp.Recs)
	}
	return n
}

// after is the number of records after the base.
func (x *Index) after() int { return len(x.lrows)/rowSize + len(x.rows) }

// materialize decodes the records read from the log into rows and ents
// (before a merge or a new log, which rewrite them).
func (x *Index) materialize() error {
	if len(x.lrows) == 0 {
		return nil
	}
	first := int64(0)
	if x.b != nil {
		first = x.b.cp.Recs
	}
	n := len(x.lrows) / rowSize
	rows := make([]irow, n, n+len(x.rows))
	for i := range rows {
		r, ok := getRow(x.lrows[i*rowSize:], first+int64(i))
		if !ok {
			return fmt.Errorf("%w: row %d checksum", errIndexCorrupt, first+int64(i))
		}
		rows[i] = r
	}
	ne := len(x.lents) / entrySize
	ents := make([]ientry, ne, ne+len(x.ents))
	le := binary.LittleEndian
	for i := range ents {
		e := x.lents[i*entrySize:]
		ents[i] = ientry{h: le.Uint64(e), seq: le.Uint32(e[8:])}
	}
	x.rows, x.ents = append(rows, x.rows...), append(ents, x.ents...)
	x.savedEnts += ne
	x.lrows, x.lents = nil, nil
	return nil
}

// add indexes the next record, at off with length n; raw is its line.
func (x *Index) add(off int64, n uint32, rec *writeback.LedgerRecord, raw []byte) {
	seq := uint32(x.len())
	x.rows = append(x.rows, irow{off: off, n: n, kind: kindCode(rec.Kind)})
	for _, k := range recordIndexKeys(rec, raw) {
		e := ientry{h: k.hash(), seq: seq}
		x.ents = append(x.ents, e)
		if x.delta != nil {
			x.deltaAdd(e.h, seq)
		}
	}
}

// grow makes room for about n more records.
func (x *Index) grow(n int) {
	x.rows = slices.Grow(x.rows, n)
	x.ents = slices.Grow(x.ents, 4*n)
}

// row returns record seq's place in the ledger.
func (x *Index) row(seq int64) (irow, error) {
	if x.b != nil && seq < x.b.cp.Recs {
		return x.b.row(seq)
	}
	i := seq
	if x.b != nil {
		i -= x.b.cp.Recs
	}
	nl := int64(len(x.lrows) / rowSize)
	if i >= 0 && i < nl {
		r, ok := getRow(x.lrows[i*rowSize:], seq)
		if !ok {
			return irow{}, fmt.Errorf("%w: row %d checksum", errIndexCorrupt, seq)
		}
		return r, nil
	}
	i -= nl
	if i < 0 || i >= int64(len(x.rows)) {
		return irow{}, fmt.Errorf("%w: no record %d", errIndexCorrupt, seq)
	}
	return x.rows[i], nil
}

// lookup returns the record numbers indexed under hash h, ascending.
func (x *Index) lookup(h uint64) ([]uint32, error) {
	var out []uint32
	if x.b != nil {
		var err error
		if out, err = x.b.find(h, out); err != nil {
			return nil, err
		}
	}
	if len(x.ents) == 0 && len(x.lents) == 0 {
		return out, nil
	}
	x.lookups++
	le := binary.LittleEndian
	if x.delta == nil && x.lookups > deltaMapAfter {
		x.delta = make(map[uint64]uint32, len(x.lents)/entrySize+len(x.ents))
		x.more = map[uint64][]uint32{}
		for i := 0; i+entrySize <= len(x.lents); i += entrySize {
			x.deltaAdd(le.Uint64(x.lents[i:]), le.Uint32(x.lents[i+8:]))
		}
		for _, e := range x.ents {
			x.deltaAdd(e.h, e.seq)
		}
	}
	if x.delta != nil {
		// The older generation's records come first (lower numbers).
		if first, ok := x.prevDelta[h]; ok {
			out = append(append(out, first), x.prevMore[h]...)
		}
		if first, ok := x.delta[h]; ok {
			out = append(append(out, first), x.more[h]...)
		}
		return out, nil
	}
	// lents then ents are in record order, so the numbers come out
	// ascending.
	for i := 0; i+entrySize <= len(x.lents); i += entrySize {
		if le.Uint64(x.lents[i:]) == h {
			out = append(out, le.Uint32(x.lents[i+8:]))
		}
	}
	for _, e := range x.ents {
		if e.h == h {
			out = append(out, e.seq)
		}
	}
	return out, nil
}

// dropDelta forgets the maps of the records after the base; lookups
// build them again.
func (x *Index) dropDelta() {
	x.delta, x.more, x.prevDelta, x.prevMore = nil, nil, nil, nil
}

// deltaAdd maps h to record seq too (records come in ascending order).
func (x *Index) deltaAdd(h uint64, seq uint32) {
	if _, ok := x.delta[h]; ok {
		x.more[h] = append(x.more[h], seq)
		return
	}
	x.delta[h] = seq
}

// needsSave reports whether the files on disk lack enough of what the
// index holds that a reader should write them.
func (x *Index) needsSave() bool {
	if x.len() == 0 {
		return false
	}
	if x.b == nil || x.b.f == nil {
		return true
	}
	return int64(x.len())-x.savedRecs > int64(mergeRows/4)
}

// bytes estimates the memory the index holds.
func (x *Index) bytes() int64 {
	n := int64(len(x.rows))*16 + int64(len(x.ents))*16 + int64(len(x.lrows)+len(x.lents))
	if x.delta != nil {
		n += int64(len(x.ents)+len(x.lents)/entrySize) * 24
	}
	if x.b != nil && x.b.f == nil {
		n += x.b.size()
	}
	if x.b != nil {
		n += int64(len(x.b.fan)) * 4
	}
	return n
}

// load reads the index files and checks them against the ledger f (identity
// lid, size). It returns the checkpoint the index covers; ok is false when
// there is no usable index (x is then empty). Bytes of the ledger after the
// checkpoint are for the caller to read. The caller holds a flock on f.
func (x *Index) load(f *os.File, lid fileID, size int64) (cp ledgerCheckpoint, ok bool, err error) {
	x.reset()
	x.lid = lid
	bf, err := os.Open(x.path)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, err
	}
	fi, err := bf.Stat()
	if err != nil {
		bf.Close()
		return cp, false, err
	}
	b, err := parseBase(bf, fi.Size())
	if err != nil {
		bf.Close()
		return cp, false, nil
	}
	b.f, b.fid = bf, idOf(fi)
	if b.lid != lid || !checkpointValid(f, &b.cp, size) {
		bf.Close()
		return cp, false, nil
	}
	x.b = b
	x.savedRecs, x.savedOff = b.cp.Recs, b.cp.Off
	cp = b.cp
	if lcp, good := x.loadLog(); good && checkpointValid(f, &lcp, size) {
		cp = lcp
	} else {
		x.rows, x.ents, x.lrows, x.lents = nil, nil, nil, nil
		x.dropDelta()
		x.savedRecs, x.savedEnts, x.savedOff = b.cp.Recs, 0, b.cp.Off
		x.logLen = 0
	}
	return cp, true, nil
}

// checkpointValid checks a checkpoint against the ledger.
func checkpointValid(f *os.File, cp *ledgerCheckpoint, size int64) bool {
	if cp.Off > size || cp.Off < 0 {
		return false
	}
	head, tail, err := ledgerSums(f, cp.Off)
	return err == nil && head == cp.Head && tail == cp.Tail
}

// loadLog applies the log's frames after the base. It returns the last
// frame's checkpoint; good is false when there is none (or no log).
//
// The log is read in chunks, and each frame's rows and entries are copied
// out as they are (a load decodes nothing: rows are checked when read,
// entries scanned as they are): a new process that answers one write-back
// touches as little memory as it can.
func (x *Index) loadLog() (cp ledgerCheckpoint, good bool) {
	f, err := os.Open(x.logPath)
	if err != nil {
		return cp, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < logHeaderSize {
		return cp, false
	}
	size := fi.Size()
	le := binary.LittleEndian
	h := make([]byte, logHeaderSize)
	if _, err := io.ReadFull(f, h); err != nil || string(h[:8]) != logMagic ||
		le.Uint32(h[16:]) != crc32.Checksum(h[:16], castagnoli) || le.Uint64(h[8:]) != x.b.gen {
		return cp, false
	}
	// A frame of two records holds 32 bytes of rows and about 84 of
	// entries in about 260: the capacities are estimates, append grows
	// them if needed.
	x.lrows, x.lents = make([]byte, 0, size/6), make([]byte, 0, size*2/5)
	buf := make([]byte, min(size, 64<<10))
	have, bufAt := 0, int64(logHeaderSize) // bytes in buf; the file offset of buf[0]
	next, end := x.b.cp.Recs, int64(logHeaderSize)
	eof := false
	for {
		if !eof && have < len(buf) {
			n, err := io.ReadFull(f, buf[have:])
			have += n
			eof = err != nil
		}
		i, stop := 0, false
		for i+8 <= have {
			n := int(le.Uint32(buf[i:]))
			if n < cpSize+16 || bufAt+int64(i)+8+int64(n) > size {
				stop = true // a torn frame: the ledger's bytes after the last good one are read instead
				break
			}
			if i+8+n > have {
				if 8+n > len(buf) {
					buf = append(buf[:have], make([]byte, 8+n-have)...)
				}
				break
			}
			p := buf[i+8 : i+8+n]
			if crc32.Checksum(p, castagnoli) != le.Uint32(buf[i+4:]) {
				stop = true
				break
			}
			var fcp ledgerCheckpoint
			fcp.get(p)
			from := int64(le.Uint64(p[cpSize:]))
			nrows, nent := int(le.Uint32(p[cpSize+8:])), int(le.Uint32(p[cpSize+12:]))
			body := p[cpSize+16:]
			if from != next || fcp.Recs != from+int64(nrows) || len(body) != nrows*rowSize+nent*entrySize {
				stop = true
				break
			}
			rows, ents := body[:nrows*rowSize], body[nrows*rowSize:]
			for j := 8; j < len(ents); j += entrySize {
				if seq := int64(le.Uint32(ents[j:])); seq < from || seq >= fcp.Recs {
					stop = true
					break
				}
			}
			if stop {
				break
			}
			x.lrows = append(x.lrows, rows...)
			x.lents = append(x.lents, ents...)
			next = fcp.Recs
			i += 8 + n
			end, cp, good = bufAt+int64(i), fcp, true
		}
		if stop || (eof && i == 0) {
			break
		}
		copy(buf, buf[i:have])
		have -= i
		bufAt += int64(i)
	}
	if !good {
		x.lrows, x.lents = nil, nil
		return cp, false
	}
	x.logFID = idOf(fi)
	x.logGen = x.b.gen
	x.logLen = end
	x.savedRecs, x.savedEnts, x.savedOff = cp.Recs, 0, cp.Off
	return cp, true
}

// stale reports whether the files on disk changed since this index read or
// wrote them (another writer updated them). The caller holds the ledger's
// exclusive flock.
func (x *Index) stale() bool {
	if x.b == nil || x.b.f == nil {
		_, err := os.Stat(x.path)
		return err == nil // someone wrote an index we have not read
	}
	fi, err := os.Stat(x.path)
	if err != nil || idOf(fi) != x.b.fid {
		return true
	}
	li, err := os.Stat(x.logPath)
	if x.logLen == 0 {
		return err == nil && li.Size() > logHeaderSize && idOf(li) != x.logFID
	}
	return err != nil || idOf(li) != x.logFID || li.Size() != x.logLen
}

// save writes what the index holds beyond the files on disk: a log frame,
// or a new base when the log would grow past mergeRows records or the base
// on disk is not this index's. A busy index merges the new base in the
// background and installs it at a later save (index_merge.go); its log
// grows past mergeRows meanwhile. cp is the checkpoint of everything indexed.
// The caller holds the ledger's exclusive flock.
func (x *Index) save(f *os.File, cp ledgerCheckpoint) error {
	if int64(x.len()) != cp.Recs {
		return fmt.Errorf("index holds %d records, checkpoint %d", x.len(), cp.Recs)
	}
	if x.b != nil && x.b.f != nil && cp.Recs == x.savedRecs && cp.Off == x.savedOff {
		return nil
	}
	var err error
	if cp.Head, cp.Tail, err = ledgerSums(f, cp.Off); err != nil {
		return err
	}
	if x.b == nil || x.b.f == nil || x.b.lid != x.lid {
		return x.writeBase(&cp)
	}
	if m := x.mergeDone(); m != nil {
		if done, err := x.installMerge(m, &cp); done || err != nil {
			return err
		}
	}
	if x.after() > mergeRows && x.merge == nil {
		if !x.background() || x.startMerge(&cp) != nil {
			return x.writeBase(&cp)
		}
	}
	return x.appendFrame(&cp)
}

// appendFrame appends the records after savedRecs to the log.
func (x *Index) appendFrame(cp *ledgerCheckpoint) error {
	lf, err := x.openLog()
	if err != nil {
		return err
	}
	defer lf.Close()
	first := x.savedRecs - x.b.cp.Recs - int64(len(x.lrows)/rowSize)
	if first < 0 {
		return fmt.Errorf("index log: %d records saved of %d read from it", x.savedRecs-x.b.cp.Recs, len(x.lrows)/rowSize)
	}
	rows := x.rows[first:]
	ents := x.ents[x.savedEnts:]
	n := cpSize + 16 + len(rows)*rowSize + len(ents)*entrySize
	frame := make([]byte, 8+n)
	le := binary.LittleEndian
	le.PutUint32(frame, uint32(n))
	p := frame[8:]
	cp.put(p)
	le.PutUint64(p[cpSize:], uint64(x.savedRecs))
	le.PutUint32(p[cpSize+8:], uint32(len(rows)))
	le.PutUint32(p[cpSize+12:], uint32(len(ents)))
	body := p[cpSize+16:]
	for i, r := range rows {
		r.put(body[i*rowSize:], x.savedRecs+int64(i))
	}
	body = body[len(rows)*rowSize:]
	for i, e := range ents {
		le.PutUint64(body[i*entrySize:], e.h)
		le.PutUint32(body[i*entrySize+8:], e.seq)
	}
	le.PutUint32(frame[4:], crc32.Checksum(p, castagnoli))
	// A frame cut short by a crash fails its CRC and is ignored: the
	// next process reads those records from the ledger. The frame is not
	// fsynced: it names only ledger bytes already fsynced, and losing it
	// costs a read of those bytes, not an answer; an fsync would double
	// the cost of every group commit.
	crashPoint("index-frame")
	if _, err := lf.Write(frame); err != nil {
		x.logLen = 0
		return err
	}
	x.logLen += int64(len(frame))
	x.savedRecs, x.savedEnts, x.savedOff = cp.Recs, len(x.ents), cp.Off
	return nil
}

// openLog opens the log for appending, cut to the frames this index
// knows (a torn frame or frames it superseded are dropped), or starts a
// new one.
func (x *Index) openLog() (*os.File, error) {
	if x.logLen > 0 && x.logGen == x.b.gen {
		lf, err := os.OpenFile(x.logPath, os.O_RDWR|os.O_APPEND, 0)
		if err == nil {
			fi, err := lf.Stat()
			if err == nil && idOf(fi) == x.logFID {
				if fi.Size() != x.logLen {
					err = lf.Truncate(x.logLen)
				}
				if err == nil {
					return lf, nil
				}
			}
			lf.Close()
		}
	}
	// A new log: its header names the base generation, so a log left
	// from another base is never applied to this one. It is written with
	// every record after the base, those read from the old log included.
	if err := x.materialize(); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(x.logPath, logHeader(x.b.gen), 0o644); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(x.logPath, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	fi, err := lf.Stat()
	if err != nil {
		lf.Close()
		return nil, err
	}
	x.logGen, x.logLen, x.logFID = x.b.gen, logHeaderSize, idOf(fi)
	x.savedEnts = 0
	x.savedRecs = x.b.cp.Recs
	return lf, nil
}

// newBaseGen returns a random generation for a new base: the log it
// starts names it, so a log is never applied to another base.
func newBaseGen() uint64 {
	var g [8]byte
	rand.Read(g[:])
	return binary.LittleEndian.Uint64(g[:])
}

// logHeader is the header of a log of the base of generation gen.
func logHeader(gen uint64) []byte {
	h := make([]byte, logHeaderSize)
	le := binary.LittleEndian
	copy(h, logMagic)
	le.PutUint64(h[8:], gen)
	le.PutUint32(h[16:], crc32.Checksum(h[:16], castagnoli))
	return h
}

// writeBaseTo streams a new base to w: the current base merged with the
// records after it (materialized; delta: their entries, sorted), under
// cp. The current base is read sequentially and checked as it is copied
// (every row's and bucket's checksum, the entries' order): a corrupt base
// fails the merge instead of passing into the new one. Memory stays a few
// megabytes whatever the size of the base.
//
// It works in bulk, as the rewrite runs under the ledger's lock every
// mergeRows records and reads the whole base: rows are read a chunk at a
// time straight into the output buffer and checked there; entries a
// bucket at a time, whose bytes are contiguous in both bases: one CRC
// call checks a base bucket, and a bucket that gains no entry is copied
// with the CRC it had.
func (x *Index) writeBaseTo(w io.Writer, gen uint64, cp *ledgerCheckpoint, delta []ientry) error {
	return mergeBase(w, x.b, x.lid, x.rows, gen, cp, delta)
}

// mergeBase is writeBaseTo from explicit parts: the base src (nil: none),
// the ledger lid and the records after the base (rows; delta: their
// entries, sorted). It reads src and nothing of an Index, so a background
// merge runs it on its own copy of the base.
func mergeBase(w io.Writer, src *idxBase, lid fileID, rows []irow, gen uint64, cp *ledgerCheckpoint, delta []ientry) error {
	le := binary.LittleEndian
	var baseRecs, baseEnt int64
	if src != nil {
		baseRecs, baseEnt = src.cp.Recs, src.nent
	}
	// Buffers of at most mergeChunk: small merges (tests merge every few
	// records) allocate little.
	total := idxHeaderSize + (baseRecs+int64(len(rows)))*rowSize + (baseEnt+int64(len(delta)))*entrySize
	o := &mergeOut{w: w, buf: make([]byte, 0, max(min(total, int64(mergeChunk)), 2*rowSize))}
	o.write(encodeBaseHeader(gen, lid, cp, baseEnt+int64(len(delta))))
	scratch := make([]byte, 8+13)
	for seq := int64(0); seq < baseRecs; {
		p := o.free(rowSize)
		p = p[:min(int64(len(p)/rowSize), baseRecs-seq)*rowSize]
		if _, err := src.ReadAt(p, src.rowsAt()+seq*rowSize); err != nil {
			return fmt.Errorf("%w: rows: %v", errIndexCorrupt, err)
		}
		for i := 0; i < len(p); i += rowSize {
			if c := rowSum(scratch, p[i:], seq); p[i+13] != byte(c) || p[i+14] != byte(c>>8) || p[i+15] != byte(c>>16) {
				return fmt.Errorf("%w: row %d checksum", errIndexCorrupt, seq)
			}
			seq++
		}
		o.buf = o.buf[:len(o.buf)+len(p)]
	}
	for i, r := range rows {
		p := o.free(rowSize)
		le.PutUint64(p, uint64(r.off))
		le.PutUint32(p[8:], r.n)
		p[12] = r.kind
		c := rowSum(scratch, p, baseRecs+int64(i))
		p[13], p[14], p[15] = byte(c), byte(c>>8), byte(c>>16)
		o.buf = o.buf[:len(o.buf)+rowSize]
	}

	// The entries, bucket by bucket: the base's and delta's merged in
	// (hash, record) order, with each bucket's start and CRC.
	var fan []uint32
	var in *mergeIn
	if src != nil && baseEnt > 0 {
		if src.fan == nil {
			if err := src.loadFan(); err != nil {
				return err
			}
		}
		fan = src.fan
		if fan[0] != 0 || int64(fan[2*fanBuckets]) != baseEnt {
			return fmt.Errorf("%w: fan-out bounds", errIndexCorrupt)
		}
		for bk := range fanBuckets {
			if fan[2*bk+2] < fan[2*bk] {
				return fmt.Errorf("%w: fan-out bucket %d", errIndexCorrupt, bk)
			}
		}
		n := max(min(baseEnt*entrySize, int64(mergeChunk)), entrySize)
		in = &mergeIn{b: src, off: src.entAt(), left: baseEnt, buf: make([]byte, n/entrySize*entrySize)}
	}
	starts := make([]uint32, fanBuckets+1)
	sums := make([]uint32, fanBuckets)
	n, j := uint32(0), 0
	var ph uint64 // the previous base entry: hash, record
	var ps uint32
	for bk := range fanBuckets {
		starts[bk] = n
		k := j
		for k < len(delta) && delta[k].h>>48 == uint64(bk) {
			k++
		}
		var cnt uint32 // base entries in the bucket
		if fan != nil {
			cnt = fan[2*bk+2] - fan[2*bk]
		}
		if cnt == 0 && k == j {
			if fan != nil && fan[2*bk+1] != 0 {
				return fmt.Errorf("%w: bucket %d checksum", errIndexCorrupt, bk)
			}
			continue
		}
		n += cnt + uint32(k-j)
		// A bucket that gains no entry keeps its bytes and its CRC
		// (checked equal to theirs).
		o.startBucket(k == j)
		var bcrc uint32
		for left := cnt; left > 0; {
			seg, err := in.next(left)
			if err != nil {
				return err
			}
			at := fan[2*bk+2] - left // the first entry of seg
			left -= uint32(len(seg) / entrySize)
			bcrc = crc32.Update(bcrc, castagnoli, seg)
			for p := 0; p < len(seg); p += entrySize {
				h, s := le.Uint64(seg[p:]), le.Uint32(seg[p+8:])
				if h>>48 != uint64(bk) || h < ph || (h == ph && s < ps) || int64(s) >= baseRecs {
					return fmt.Errorf("%w: entry %d out of order", errIndexCorrupt, int64(at)+int64(p/entrySize))
				}
				ph, ps = h, s
			}
			// Equal hashes: the base's records come first (lower numbers).
			q := 0
			for p := 0; j < k; j++ {
				d := delta[j]
				for p < len(seg) && cmpEntry(ientry{h: le.Uint64(seg[p:]), seq: le.Uint32(seg[p+8:])}, d) <= 0 {
					p += entrySize
				}
				if p == len(seg) {
					break
				}
				o.write(seg[q:p])
				o.putEntry(d)
				q = p
			}
			o.write(seg[q:])
		}
		for ; j < k; j++ {
			o.putEntry(delta[j])
		}
		if fan != nil && bcrc != fan[2*bk+1] {
			return fmt.Errorf("%w: bucket %d checksum", errIndexCorrupt, bk)
		}
		sums[bk] = o.endBucket(bcrc)
	}
	starts[fanBuckets] = n
	for bk := range fanBuckets {
		p := o.free(8)
		le.PutUint32(p, starts[bk])
		le.PutUint32(p[4:], sums[bk])
		o.buf = o.buf[:len(o.buf)+8]
	}
	o.write(le.AppendUint32(nil, n))
	o.flush()
	return o.err
}

// mergeIn reads a base's entries in chunks.
type mergeIn struct {
	b        *idxBase
	off      int64 // of the next entry not in buf
	left     int64 // entries not read yet
	buf      []byte
	pos, end int // the entries read and not taken: buf[pos:end]
}

// next returns the next at most max entries (at least one) read.
func (r *mergeIn) next(max uint32) ([]byte, error) {
	if r.pos == r.end {
		if r.left == 0 {
			return nil, fmt.Errorf("%w: entries: %v", errIndexCorrupt, io.ErrUnexpectedEOF)
		}
		n := min(int64(len(r.buf)), r.left*entrySize)
		if _, err := r.b.ReadAt(r.buf[:n], r.off); err != nil {
			return nil, fmt.Errorf("%w: entries: %v", errIndexCorrupt, err)
		}
		r.off += n
		r.left -= n / entrySize
		r.pos, r.end = 0, int(n)
	}
	n := min(r.end-r.pos, int(max)*entrySize)
	p := r.buf[r.pos : r.pos+n]
	r.pos += n
	return p, nil
}

// mergeOut buffers a base rewrite's output, with the CRC of the current
// bucket's bytes computed over each run written (not entry by entry).
type mergeOut struct {
	w    io.Writer
	buf  []byte
	err  error
	crc  uint32 // of the current bucket's bytes before buf[mark:]
	mark int
	keep bool // outside a bucket, or the bucket's CRC is known: none computed
}

// startBucket starts a bucket; keep: its CRC is given at its end.
func (o *mergeOut) startBucket(keep bool) {
	o.crc, o.mark, o.keep = 0, len(o.buf), keep
}

// endBucket returns the bucket's CRC (known: the one given).
func (o *mergeOut) endBucket(known uint32) uint32 {
	if !o.keep {
		known = crc32.Update(o.crc, castagnoli, o.buf[o.mark:])
	}
	o.keep = true
	return known
}

func (o *mergeOut) flush() {
	if !o.keep {
		o.crc = crc32.Update(o.crc, castagnoli, o.buf[o.mark:])
	}
	if o.err == nil && len(o.buf) > 0 {
		_, o.err = o.w.Write(o.buf)
	}
	o.buf, o.mark = o.buf[:0], 0
}

// free returns the buffer's free space, at least n bytes (n at most its
// size): the caller writes there and extends buf.
func (o *mergeOut) free(n int) []byte {
	if cap(o.buf)-len(o.buf) < n {
		o.flush()
	}
	return o.buf[len(o.buf):cap(o.buf)]
}

func (o *mergeOut) write(p []byte) {
	for len(p) > 0 {
		if len(o.buf) == cap(o.buf) {
			o.flush()
		}
		n := copy(o.buf[len(o.buf):cap(o.buf)], p)
		o.buf, p = o.buf[:len(o.buf)+n], p[n:]
	}
}

func (o *mergeOut) putEntry(e ientry) {
	p := o.free(entrySize)
	binary.LittleEndian.PutUint64(p, e.h)
	binary.LittleEndian.PutUint32(p[8:], e.seq)
	o.buf = o.buf[:len(o.buf)+entrySize]
}

// writeBase replaces the base with everything indexed and starts an empty
// log.
func (x *Index) writeBase(cp *ledgerCheckpoint) error {
	x.abandonMerge(false)
	if err := x.materialize(); err != nil {
		return err
	}
	delta := slices.Clone(x.ents)
	slices.SortFunc(delta, cmpEntry)
	gen := newBaseGen()
	crashPoint("index-base")
	if err := durable.WriteFileFunc(x.path, 0o644, func(w io.Writer) error {
		return x.writeBaseTo(w, gen, cp, delta)
	}); err != nil {
		return err
	}
	b, err := openBase(x.path)
	if err != nil {
		return err
	}
	x.b.close()
	x.b = b
	x.rows, x.ents, x.lrows, x.lents = nil, nil, nil, nil
	x.dropDelta()
	x.savedRecs, x.savedEnts, x.savedOff = cp.Recs, 0, cp.Off
	x.logLen = 0
	crashPoint("index-log")
	lf, err := x.openLog()
	if err != nil {
		return err
	}
	return lf.Close()
}
