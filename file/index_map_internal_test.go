package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// TestIndexBaseMapped: once looked up often, the base is read through a
// mapping, with the same answers; a base file cut behind the store's back
// then reads as corrupt (no crash), and the store rebuilds its index from
// the ledger.
func TestIndexBaseMapped(t *testing.T) {
	defer func(m, f int) { mergeRows, fanCacheAfter = m, f }(mergeRows, fanCacheAfter)
	mergeRows, fanCacheAfter = 16, 3
	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	ixFill(t, root, 0, 20)
	scan := ixFullScan(t, path)
	l := ixOpen(t, root)
	defer l.Close()

	l.mu.Lock()
	b := l.ix.b
	if b == nil || b.f == nil || b.cp.Recs == 0 {
		l.mu.Unlock()
		t.Fatal("no base file loaded")
	}
	hashes := make([]uint64, 0, 64)
	for i := range 64 {
		hashes = append(hashes, uint64(i)<<48|uint64(i))
	}
	var before [][]uint32
	for _, h := range hashes[:fanCacheAfter] {
		got, err := b.find(h, nil)
		if err != nil {
			l.mu.Unlock()
			t.Fatal(err)
		}
		before = append(before, got)
	}
	if b.mem != nil {
		l.mu.Unlock()
		t.Fatalf("base mapped after %d lookups, want after %d", fanCacheAfter, fanCacheAfter+1)
	}
	if _, err := b.find(hashes[0], nil); err != nil {
		l.mu.Unlock()
		t.Fatal(err)
	}
	if b.mem == nil {
		l.mu.Unlock()
		t.Fatal("base not mapped after the lookup threshold")
	}
	for i, h := range hashes[:fanCacheAfter] {
		got, err := b.find(h, nil)
		if err != nil || len(got) != len(before[i]) {
			l.mu.Unlock()
			t.Fatalf("hash %x mapped: %v %v, read: %v", h, got, err, before[i])
		}
	}
	if b.nent == 0 {
		l.mu.Unlock()
		t.Fatal("base without entries")
	}
	// An indexed hash: its bucket is not empty, so a lookup reads it.
	indexed := binary.LittleEndian.Uint64(b.mem[b.entAt():])
	if got, err := b.find(indexed, nil); err != nil || len(got) == 0 {
		l.mu.Unlock()
		t.Fatalf("indexed hash %x: %v %v", indexed, got, err)
	}
	l.mu.Unlock()
	ixCompare(t, "mapped base", l, scan)

	// Cut the base behind the store's back: the mapped pages beyond the
	// new end fault, which a lookup reports as a corrupt index.
	if err := os.Truncate(path+idxSuffix, 0); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	_, err := l.ix.b.find(indexed, nil)
	_, rerr := l.ix.b.row(0)
	l.mu.Unlock()
	if !errors.Is(err, errIndexCorrupt) || !errors.Is(rerr, errIndexCorrupt) {
		t.Fatalf("lookup on a cut mapped base: find %v, row %v; want errIndexCorrupt", err, rerr)
	}
	// The store answers from the ledger again (the index is rebuilt).
	ixCompare(t, "after the base was cut", l, scan)
	if l.Stats().Rebuilds == 0 {
		t.Error("no index rebuild counted after the base was cut")
	}
}

// TestKeyHashIsFNV: the inline hash is FNV-1a with the avalanche, as the
// index files on disk were written with, and a record's keys built in one
// buffer are the keys built one by one.
func TestKeyHashIsFNV(t *testing.T) {
	rng := testenv.Rand(t)
	for range 2000 {
		b := make([]byte, rng.Intn(80))
		rng.Read(b)
		h := fnv.New64a()
		h.Write(b)
		x := h.Sum64()
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		x *= 0xc4ceb9fe1a85ec53
		x ^= x >> 33
		if got := ikey(b).hash(); got != x {
			t.Fatalf("hash of %x = %x, want %x", b, got, x)
		}
	}
	for i := range 200 {
		task := strings.Repeat("t", rng.Intn(300))
		b := storetest.Binding(task, fmt.Sprintf("T%d", i), strings.Repeat("b", rng.Intn(200)))
		d := writeback.Evaluate(writeback.WritebackRequest{Binding: b}, storetest.Config(), writeback.NewMemView())
		rec := writeback.LedgerRecord{Kind: writeback.KindDurable, Durable: d.DurableRecord}
		want := []ikey{newKey(keyWID, d.DurableRecord.WritebackID), identityKey(d.DurableRecord.Identity()),
			newKey(keyLatest, b.BatchID, b.TrackID), newKey(keyTask, b.TaskID), newKey(keyBatch, b.BatchID)}
		got := recordIndexKeys(&rec, nil)
		if len(got) != len(want) {
			t.Fatalf("%d keys, want %d", len(got), len(want))
		}
		for j := range got {
			if string(got[j]) != string(want[j]) {
				t.Fatalf("key %d: %q, want %q", j, got[j], want[j])
			}
		}
	}
}
