package file

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The base merge (writeBaseTo) is checked against writeBaseToOracle, the
// merge as it was first written (one row and one entry at a time through
// bufio): for the same index both write the same bytes, and both refuse
// the same corrupt bases.

// writeBaseToOracle is the reference merge: a row, then an entry, at a time.
func (x *Index) writeBaseToOracle(w io.Writer, gen uint64, cp *ledgerCheckpoint, delta []ientry) error {
	le := binary.LittleEndian
	var baseRecs, baseEnt int64
	if x.b != nil {
		baseRecs, baseEnt = x.b.cp.Recs, x.b.nent
	}
	// Buffers of at most 1 MiB: small merges (tests merge every few
	// records) allocate little.
	bufSize := func(n int64) int { return int(min(max(n, 16), 1<<20)) }
	bw := bufio.NewWriterSize(w, bufSize(idxHeaderSize+(baseRecs+int64(len(x.rows)))*rowSize+(baseEnt+int64(len(delta)))*entrySize))
	bw.Write(encodeBaseHeader(gen, x.lid, cp, baseEnt+int64(len(delta))))
	var rb [rowSize]byte
	if x.b != nil {
		r := bufio.NewReaderSize(io.NewSectionReader(x.b, x.b.rowsAt(), baseRecs*rowSize), bufSize(baseRecs*rowSize))
		for seq := int64(0); seq < baseRecs; seq++ {
			if _, err := io.ReadFull(r, rb[:]); err != nil {
				return fmt.Errorf("%w: rows: %v", errIndexCorrupt, err)
			}
			if _, ok := getRow(rb[:], seq); !ok {
				return fmt.Errorf("%w: row %d checksum", errIndexCorrupt, seq)
			}
			bw.Write(rb[:])
		}
	}
	for i, r := range x.rows {
		r.put(rb[:], baseRecs+int64(i))
		bw.Write(rb[:])
	}

	// The entries: the base's and delta merged in (hash, record) order,
	// with each bucket's start and CRC computed as they are written.
	starts := make([]uint32, fanBuckets+1)
	sums := make([]uint32, fanBuckets)
	cur, n := 0, uint32(0)
	var crc uint32
	var eb [entrySize]byte
	emit := func(e ientry) {
		for bucket := int(e.h >> 48); cur < bucket; {
			sums[cur], crc = crc, 0
			cur++
			starts[cur] = n
		}
		le.PutUint64(eb[:], e.h)
		le.PutUint32(eb[8:], e.seq)
		crc = crc32.Update(crc, castagnoli, eb[:])
		bw.Write(eb[:])
		n++
	}
	var next func() (ientry, bool, error)
	if x.b != nil && baseEnt > 0 {
		if x.b.fan == nil {
			if err := x.b.loadFan(); err != nil {
				return err
			}
		}
		fan := x.b.fan
		r := bufio.NewReaderSize(io.NewSectionReader(x.b, x.b.entAt(), baseEnt*entrySize), bufSize(baseEnt*entrySize))
		bk, bi := 0, uint32(0) // the base bucket being read; entries read
		var bcrc uint32
		var prev ientry
		// closeTo checks and closes the base buckets that end at bi.
		closeTo := func() error {
			for bk < fanBuckets && fan[2*bk+2] <= bi {
				if fan[2*bk] > bi || fan[2*bk+2] != bi || fan[2*bk+1] != bcrc {
					return fmt.Errorf("%w: bucket %d checksum", errIndexCorrupt, bk)
				}
				bk, bcrc = bk+1, 0
			}
			return nil
		}
		if fan[0] != 0 || int64(fan[2*fanBuckets]) != baseEnt {
			return fmt.Errorf("%w: fan-out bounds", errIndexCorrupt)
		}
		next = func() (ientry, bool, error) {
			if int64(bi) == baseEnt {
				if err := closeTo(); err != nil {
					return ientry{}, false, err
				}
				if bk != fanBuckets {
					return ientry{}, false, fmt.Errorf("%w: fan-out bucket %d", errIndexCorrupt, bk)
				}
				return ientry{}, false, nil
			}
			if err := closeTo(); err != nil {
				return ientry{}, false, err
			}
			var raw [entrySize]byte
			if _, err := io.ReadFull(r, raw[:]); err != nil {
				return ientry{}, false, fmt.Errorf("%w: entries: %v", errIndexCorrupt, err)
			}
			e := ientry{h: le.Uint64(raw[:]), seq: le.Uint32(raw[8:])}
			if bk == fanBuckets || int(e.h>>48) != bk || (bi > 0 && cmpEntry(prev, e) > 0) || int64(e.seq) >= baseRecs {
				return ientry{}, false, fmt.Errorf("%w: entry %d out of order", errIndexCorrupt, bi)
			}
			bcrc = crc32.Update(bcrc, castagnoli, raw[:])
			prev = e
			bi++
			return e, true, nil
		}
	} else {
		next = func() (ientry, bool, error) { return ientry{}, false, nil }
	}
	e, ok, err := next()
	if err != nil {
		return err
	}
	j := 0
	for ok || j < len(delta) {
		// Equal hashes: the base's records come first (lower numbers).
		if ok && (j == len(delta) || cmpEntry(e, delta[j]) <= 0) {
			emit(e)
			if e, ok, err = next(); err != nil {
				return err
			}
		} else {
			emit(delta[j])
			j++
		}
	}
	for cur < fanBuckets-1 {
		sums[cur], crc = crc, 0
		cur++
		starts[cur] = n
	}
	sums[fanBuckets-1] = crc
	starts[fanBuckets] = n
	for bucket := 0; bucket < fanBuckets; bucket++ {
		bw.Write(le.AppendUint32(le.AppendUint32(eb[:0], starts[bucket]), sums[bucket]))
	}
	bw.Write(le.AppendUint32(eb[:0], n))
	return bw.Flush()
}

// ixmShape says how a synthetic index's keys are drawn.
type ixmShape struct {
	// hot, when not 0, draws that share of keys from a few hashes of one
	// bucket: buckets larger than any merge buffer.
	hot float64
	// dupes makes some records carry the same key twice.
	dupes bool
}

// ixmKeys returns record seq's key hashes: 2 or 5 keys (a registry record
// and a durable one), the batch key shared by 64 records, the task key by
// two, as the write-back workload's records have.
func ixmKeys(rng *rand.Rand, seq int, shape ixmShape) []uint64 {
	mix := func(v uint64) uint64 { return ikey(binary.LittleEndian.AppendUint64(nil, v)).hash() }
	var hs []uint64
	task := mix(uint64(seq/2) | 1<<62)
	if seq%2 == 0 {
		hs = append(hs, task, mix(uint64(seq)|1<<61))
	} else {
		hs = append(hs, mix(rng.Uint64()), mix(rng.Uint64()), mix(uint64(seq)|1<<60), task, mix(uint64(seq/64)|1<<59))
	}
	for i := range hs {
		if shape.hot > 0 && rng.Float64() < shape.hot {
			hs[i] = 0xbeef<<48 | uint64(rng.Intn(3))
		}
	}
	if shape.dupes && rng.Intn(8) == 0 {
		hs = append(hs, hs[0])
	}
	return hs
}

// ixmBuild returns an index for tests of the merge: a base of nbase
// records (none when nbase < 0), in memory or, with dir, in a file opened
// as a store opens it, then nnew records after it; and the new records'
// entries sorted, as writeBase passes them.
func ixmBuild(t testing.TB, rng *rand.Rand, nbase, nnew int, shape ixmShape, dir string) (*Index, []ientry) {
	t.Helper()
	x := &Index{lid: fileID{dev: 7, ino: 11}}
	add := func(seq int) {
		x.rows = append(x.rows, irow{off: int64(seq) * 300, n: uint32(200 + rng.Intn(200)), kind: uint8(rng.Intn(3))})
		for _, h := range ixmKeys(rng, seq, shape) {
			x.ents = append(x.ents, ientry{h: h, seq: uint32(seq)})
		}
	}
	sorted := func() []ientry {
		d := slices.Clone(x.ents)
		slices.SortFunc(d, cmpEntry)
		return d
	}
	if nbase >= 0 {
		for seq := range nbase {
			add(seq)
		}
		cp := ledgerCheckpoint{Off: int64(nbase) * 300, Lines: int64(nbase), Recs: int64(nbase)}
		var buf bytes.Buffer
		if err := x.writeBaseToOracle(&buf, rng.Uint64(), &cp, sorted()); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		var r io.ReaderAt = bytes.NewReader(data)
		var f *os.File
		if dir != "" {
			path := filepath.Join(dir, fmt.Sprintf("base-%d", rng.Int63()))
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			if f, err = os.Open(path); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			r = f
		}
		b, err := parseBase(r, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		b.f = f
		x.b = b
		x.rows, x.ents = nil, nil
	}
	for i := range nnew {
		add(max(nbase, 0) + i)
	}
	return x, sorted()
}

// ixmMerge runs a merge (the oracle's or writeBaseTo) from a fresh read of
// the base (no fan-out table cached).
func ixmMerge(x *Index, oracle bool, delta []ientry) ([]byte, error) {
	if x.b != nil {
		x.b.fan = nil
	}
	cp := ledgerCheckpoint{Off: int64(x.len()) * 300, Recs: int64(x.len())}
	var buf bytes.Buffer
	var err error
	if oracle {
		err = x.writeBaseToOracle(&buf, 42, &cp, delta)
	} else {
		err = x.writeBaseTo(&buf, 42, &cp, delta)
	}
	return buf.Bytes(), err
}

// ixmSeed returns the seed of a random test: SETTLE_SEED replays one.
func ixmSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("SETTLE_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("SETTLE_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay: SETTLE_SEED=%d)", seed, seed)
	return seed
}

// TestIndexBaseMergeMatchesOracle: random indexes (no base, empty bases,
// small and large ones, hot buckets larger than the merge buffers, equal
// keys, nothing new) are merged by writeBaseTo and the oracle, with merge
// buffers from a few entries to the default: the bytes are the same.
func TestIndexBaseMergeMatchesOracle(t *testing.T) {
	defer func(c int) { mergeChunk = c }(mergeChunk)
	rng := rand.New(rand.NewSource(ixmSeed(t)))
	dir := t.TempDir()
	chunks := []int{24, 40, 100, 1000, 4096, 1 << 20}
	cases := 0
	for _, nbase := range []int{-1, 0, 1, 3, 50, 700, 5000} {
		for _, nnew := range []int{0, 1, 7, 300} {
			for _, shape := range []ixmShape{{}, {hot: 0.3}, {dupes: true}, {hot: 0.05, dupes: true}} {
				d := ""
				if rng.Intn(2) == 0 {
					d = dir
				}
				x, delta := ixmBuild(t, rng, nbase, nnew, shape, d)
				if d != "" && x.b != nil && rng.Intn(2) == 0 {
					x.b.mapBase()
				}
				want, err := ixmMerge(x, true, delta)
				if err != nil {
					t.Fatalf("base %d, new %d, %+v: oracle: %v", nbase, nnew, shape, err)
				}
				mergeChunk = chunks[rng.Intn(len(chunks))]
				got, err := ixmMerge(x, false, delta)
				if err != nil {
					t.Fatalf("base %d, new %d, %+v, chunk %d: %v", nbase, nnew, shape, mergeChunk, err)
				}
				if !bytes.Equal(got, want) {
					at := 0
					for at < min(len(got), len(want)) && got[at] == want[at] {
						at++
					}
					t.Fatalf("base %d, new %d, %+v, chunk %d: %d bytes, oracle %d, first difference at %d", nbase, nnew, shape, mergeChunk, len(got), len(want), at)
				}
				if x.b != nil {
					x.b.close()
				}
				cases++
			}
		}
	}
	t.Logf("%d indexes merged", cases)
}

// ixmRegions names the parts of a base's bytes.
func ixmRegion(b *idxBase, off int64) string {
	switch {
	case off < b.rowsAt():
		return "header"
	case off < b.entAt():
		return "rows"
	case off < b.fanAt():
		return "entries"
	default:
		return "fan-out"
	}
}

// ixmCorrupt merges x whose base reads data (changed after the base was
// parsed) with both implementations: both refuse it (errIndexCorrupt) or
// both write the same bytes. It returns whether they refused.
func ixmCorrupt(t *testing.T, what string, x *Index, delta []ientry, data []byte) bool {
	t.Helper()
	x.b.r = bytes.NewReader(data)
	want, oerr := ixmMerge(x, true, delta)
	got, err := ixmMerge(x, false, delta)
	if (oerr != nil) != (err != nil) {
		t.Fatalf("%s: writeBaseTo: %v; oracle: %v", what, err, oerr)
	}
	if err != nil {
		if !errors.Is(err, errIndexCorrupt) || !errors.Is(oerr, errIndexCorrupt) {
			t.Fatalf("%s: writeBaseTo: %v; oracle: %v; want %v", what, err, oerr, errIndexCorrupt)
		}
		return true
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: accepted by both, with different bytes", what)
	}
	return false
}

// TestIndexBaseMergeRefusesCorrupt: a base changed after it was opened
// (random bytes flipped, cut short, or rewritten with valid checksums but
// entries out of order, in the wrong bucket, naming no row, or fan-out
// bounds that do not add up) fails the merge with errIndexCorrupt, in
// writeBaseTo as in the oracle; a change the merge does not read (the
// header, checked when the base is opened) passes both alike.
func TestIndexBaseMergeRefusesCorrupt(t *testing.T) {
	defer func(c int) { mergeChunk = c }(mergeChunk)
	rng := rand.New(rand.NewSource(ixmSeed(t)))
	for _, shape := range []ixmShape{{}, {hot: 0.2}} {
		x, delta := ixmBuild(t, rng, 400, 30, shape, "")
		b := x.b
		orig := make([]byte, b.size())
		if _, err := b.r.ReadAt(orig, 0); err != nil {
			t.Fatal(err)
		}
		refused := map[string]int{}
		flips := map[string]int{}
		for i := range 300 {
			mergeChunk = []int{36, 240, 1 << 20}[i%3]
			data := slices.Clone(orig)
			off := int64(rng.Intn(len(data)))
			if i%2 == 0 { // in the rows or the entries
				off = b.rowsAt() + int64(rng.Intn(int(b.fanAt()-b.rowsAt())))
			}
			data[off] ^= byte(1 + rng.Intn(255))
			region := ixmRegion(b, off)
			flips[region]++
			if ixmCorrupt(t, fmt.Sprintf("flip at %d (%s), chunk %d", off, region, mergeChunk), x, delta, data) {
				refused[region]++
			} else if region == "entries" || region == "fan-out" || (region == "rows" && (off-b.rowsAt())%rowSize >= 13) {
				t.Fatalf("a flip at %d (%s) was not detected", off, region)
			}
		}
		t.Logf("%+v: flips %v, refused %v", shape, flips, refused)
		if refused["rows"] == 0 || refused["entries"] == 0 || refused["fan-out"] == 0 {
			t.Fatalf("refused %v of flips %v", refused, flips)
		}
		for _, off := range []int{0, 8, 40, 100, idxHeaderSize - 1} {
			data := slices.Clone(orig)
			data[off] ^= 0x10
			if ixmCorrupt(t, fmt.Sprintf("header flip at %d", off), x, delta, data) {
				t.Fatalf("a flip at %d of the header (not read by a merge) was refused", off)
			}
		}
		for _, n := range []int64{int64(len(orig)) - 1, b.fanAt() + 100, b.fanAt(), b.entAt() + 5, b.rowsAt() + 17, 0} {
			mergeChunk = []int{36, 1 << 20}[rng.Intn(2)]
			if !ixmCorrupt(t, fmt.Sprintf("cut to %d", n), x, delta, orig[:n]) {
				t.Fatalf("a base cut to %d of %d bytes was merged", n, len(orig))
			}
		}
		// Rewritten with valid checksums: the merge's own checks.
		crafted := map[string]func(data []byte, fan []uint32){
			"entries out of order": func(data []byte, fan []uint32) {
				for bk := range fanBuckets {
					if fan[2*bk+2]-fan[2*bk] >= 2 {
						e := b.entAt() + int64(fan[2*bk])*entrySize
						a := slices.Clone(data[e : e+entrySize])
						copy(data[e:], data[e+entrySize:e+2*entrySize])
						copy(data[e+entrySize:], a)
						if bytes.Equal(a, data[e:e+entrySize]) {
							continue
						}
						return
					}
				}
				t.Fatal("no bucket of two distinct entries")
			},
			"entry in another bucket": func(data []byte, fan []uint32) {
				bk := ixmNonEmpty(t, fan, rng)
				e := b.entAt() + int64(fan[2*bk])*entrySize
				binary.LittleEndian.PutUint16(data[e+6:], uint16(bk+1))
			},
			"entry naming no row": func(data []byte, fan []uint32) {
				bk := ixmNonEmpty(t, fan, rng)
				e := b.entAt() + int64(fan[2*bk+2]-1)*entrySize
				binary.LittleEndian.PutUint32(data[e+8:], uint32(b.cp.Recs))
			},
			"fan-out first start": func(data []byte, fan []uint32) { fan[0] = 1 },
			"fan-out end":         func(data []byte, fan []uint32) { fan[2*fanBuckets]++ },
			"fan-out start moved": func(data []byte, fan []uint32) {
				bk := ixmNonEmpty(t, fan, rng)
				fan[2*bk+2]--
			},
			"fan-out start past the end": func(data []byte, fan []uint32) {
				bk := ixmNonEmpty(t, fan, rng)
				fan[2*bk] = fan[2*fanBuckets] + 1
			},
			"fan-out starts decreasing": func(data []byte, fan []uint32) {
				bk := ixmNonEmpty(t, fan, rng)
				fan[2*bk+2] = fan[2*bk] - min(fan[2*bk], 1)
				if bk > 0 {
					fan[2*bk] = fan[2*bk-2]
				}
			},
		}
		for name, change := range crafted {
			for i := range 3 {
				mergeChunk = []int{36, 240, 1 << 20}[i]
				data := slices.Clone(orig)
				fan := ixmFan(data, b)
				change(data, fan)
				ixmReseal(data, b, fan)
				if !ixmCorrupt(t, name, x, delta, data) {
					t.Fatalf("%s, chunk %d: merged", name, mergeChunk)
				}
			}
		}
		// A base resealed unchanged merges.
		data := slices.Clone(orig)
		ixmReseal(data, b, ixmFan(data, b))
		if ixmCorrupt(t, "resealed", x, delta, data) {
			t.Fatal("a resealed base was refused")
		}
	}
}

// ixmFan decodes the fan-out table of a base's bytes.
func ixmFan(data []byte, b *idxBase) []uint32 {
	fan := make([]uint32, 2*fanBuckets+1)
	for i := range fan {
		fan[i] = binary.LittleEndian.Uint32(data[b.fanAt()+4*int64(i):])
	}
	return fan
}

// ixmReseal writes fan into a base's bytes with every bucket's CRC
// computed over the entries its bounds name (clamped to the entries).
func ixmReseal(data []byte, b *idxBase, fan []uint32) {
	for bk := range fanBuckets {
		from, to := min(int64(fan[2*bk]), b.nent), min(int64(fan[2*bk+2]), b.nent)
		fan[2*bk+1] = 0
		if from < to {
			fan[2*bk+1] = crc32.Checksum(data[b.entAt()+from*entrySize:b.entAt()+to*entrySize], castagnoli)
		}
	}
	for i, v := range fan {
		binary.LittleEndian.PutUint32(data[b.fanAt()+4*int64(i):], v)
	}
}

// ixmNonEmpty returns a random bucket holding entries.
func ixmNonEmpty(t *testing.T, fan []uint32, rng *rand.Rand) int {
	var ne []int
	for bk := range fanBuckets {
		if fan[2*bk+2] > fan[2*bk] {
			ne = append(ne, bk)
		}
	}
	if len(ne) == 0 {
		t.Fatal("no bucket holds entries")
	}
	return ne[rng.Intn(len(ne))]
}
