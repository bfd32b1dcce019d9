package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
)

func keyIdxPath(dir string) string { return eventsPath(dir) + ".keyidx" }

// activeLines returns the offsets after each complete line of the active
// file, the floor line excluded, and the floor.
func activeLines(t *testing.T, dir string) (ends []int64, floor int64) {
	t.Helper()
	data, err := os.ReadFile(eventsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	if bytes.HasPrefix(data, []byte(`{"events_floor":`)) {
		i := bytes.IndexByte(data, '\n')
		if _, err := fmt.Sscanf(string(data[:i]), `{"events_floor":%d}`, &floor); err != nil {
			t.Fatal(err)
		}
		pos = i + 1
		ends = append(ends, int64(pos))
	} else {
		ends = append(ends, 0)
	}
	for {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return ends, floor
		}
		pos += i + 1
		ends = append(ends, int64(pos))
	}
}

// TestEventsActiveIdxDifferential runs random appends and keyed appends
// through several openers, with seals, torn tails, undecodable lines, the
// active file truncated (all openers closed) or replaced by a copy, and
// its key index deleted, corrupted or replaced by an older one. Every
// keyed append and id agrees with an in-memory model, and at every check
// each key's lookup on a fresh opener that takes the key index equals the
// lookup of a fresh opener that reads the whole file (the index moved
// away) and the model. Replay with SETTLE_TEST_SEED=<the logged seed>.
func TestEventsActiveIdxDifferential(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	rng := rand.New(rand.NewPCG(seed, seed^0xac71d))
	every := int64(1 + rng.IntN(6))
	size := -1
	if rng.IntN(3) > 0 {
		size = 8 + rng.IntN(40)
	}
	t.Logf("index every %d events, segment size %d", every, size)
	defer file.SetActiveIdxEvery(every)()
	dir := t.TempDir()
	open := func() *file.Events {
		ev, err := file.OpenEvents(file.EventsOptions{Root: dir, SegmentEvents: size, Logger: lgQuiet()})
		if err != nil {
			t.Fatalf("open events: %v", err)
		}
		return ev
	}
	logs := []*file.Events{open(), open(), open()}
	defer func() {
		for _, l := range logs {
			l.Close()
		}
	}()
	keys := map[string]int64{}
	next := int64(1)
	var snaps [][]byte
	taken, scans := 0, 0
	ctx := context.Background()
	check := func(step int) {
		t.Helper()
		a := open()
		if file.ActiveIdxTaken(a) {
			taken++
		}
		idx, err := os.ReadFile(keyIdxPath(dir))
		if err == nil {
			if err := os.Remove(keyIdxPath(dir)); err != nil {
				t.Fatal(err)
			}
		}
		b := open()
		if file.ActiveIdxTaken(b) {
			t.Fatalf("step %d: an opener took a key index that was moved away", step)
		}
		scans++
		if idx != nil {
			if err := os.WriteFile(keyIdxPath(dir), idx, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 120 {
			k := fmt.Sprintf("k%d", i)
			ia, oka, erra := file.LookupKey(a, k)
			ib, okb, errb := file.LookupKey(b, k)
			live := logs[i%len(logs)]
			// A lookup answers from what the opener has read: catch up.
			if _, err := live.Since(ctx, next, 1); err != nil {
				t.Fatalf("step %d: catch up: %v", step, err)
			}
			il, okl, errl := file.LookupKey(live, k)
			want, okw := keys[k]
			if erra != nil || errb != nil || errl != nil || ia != ib || oka != okb || ia != want || oka != okw || il != want || okl != okw {
				t.Fatalf("step %d: key %s: indexed %d %v %v, scan %d %v %v, live %d %v %v, model %d %v",
					step, k, ia, oka, erra, ib, okb, errb, il, okl, errl, want, okw)
			}
		}
		a.Close()
		b.Close()
	}
	for step := range 1200 {
		ev := logs[rng.IntN(len(logs))]
		switch r := rng.IntN(100); {
		case r < 25:
			got, err := ev.Append(ctx, "test.plain", json.RawMessage(fmt.Sprintf(`{"step":%d}`, step)))
			if err != nil || got.ID != next {
				t.Fatalf("step %d: append: %d %v, want id %d", step, got.ID, err, next)
			}
			next++
		case r < 70:
			k := fmt.Sprintf("k%d", rng.IntN(120))
			got, appended, err := ev.AppendOnce(ctx, k, "test.keyed", json.RawMessage(fmt.Sprintf(`{"step":%d}`, step)))
			if err != nil {
				t.Fatalf("step %d: append once %s: %v", step, k, err)
			}
			if id, ok := keys[k]; ok {
				if appended || got.ID != id {
					t.Fatalf("step %d: AppendOnce(%s) = %d appended %v, want existing %d", step, k, got.ID, appended, id)
				}
			} else {
				if !appended || got.ID != next {
					t.Fatalf("step %d: AppendOnce(%s) = %d appended %v, want new %d", step, k, got.ID, appended, next)
				}
				keys[k] = next
				next++
			}
		case r < 74:
			i := rng.IntN(len(logs))
			logs[i].Close()
			logs[i] = open()
		case r < 77:
			if err := os.Remove(keyIdxPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		case r < 80:
			if b, err := os.ReadFile(keyIdxPath(dir)); err == nil && len(b) > 0 {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				if err := os.WriteFile(keyIdxPath(dir), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case r < 84:
			if b, err := os.ReadFile(keyIdxPath(dir)); err == nil {
				snaps = append(snaps, b)
			}
		case r < 87:
			if len(snaps) > 0 {
				if err := os.WriteFile(keyIdxPath(dir), snaps[rng.IntN(len(snaps))], 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case r < 89:
			// A torn last line: the next writer repairs it.
			f, err := os.OpenFile(eventsPath(dir), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(`{"id":1,"type":"torn`)
			f.Close()
		case r < 91:
			// A complete line that does not decode: it takes an id.
			f, err := os.OpenFile(eventsPath(dir), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("not an event\n")
			f.Close()
			next++
		case r < 93:
			// The active file replaced by a copy of itself (another inode).
			data, err := os.ReadFile(eventsPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			tmp := eventsPath(dir) + ".copy"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, eventsPath(dir)); err != nil {
				t.Fatal(err)
			}
		case r < 94:
			// The active file truncated to an earlier line, every opener
			// closed: the key index may name lines that are gone, or
			// (after new appends) bytes that differ.
			for _, l := range logs {
				l.Close()
			}
			ends, floor := activeLines(t, dir)
			k := len(ends) - 1 - rng.IntN(min(len(ends), 8))
			if err := os.Truncate(eventsPath(dir), ends[k]); err != nil {
				t.Fatal(err)
			}
			next = floor + int64(k) + 1
			for key, id := range keys {
				if id >= next {
					delete(keys, key)
				}
			}
			for i := range logs {
				logs[i] = open()
			}
		default:
			check(step)
		}
	}
	check(-1)
	if taken == 0 {
		t.Fatalf("no fresh opener took a key index in %d checks", scans)
	}
	t.Logf("%d checks, %d took the key index; %d events, %d keys", scans, taken, next-1, len(keys))
}

const evidxChildEnv = "SETTLE_EVIDX_CHILD"

// TestEventsActiveIdxChild appends keyed events (and repeats of earlier
// keys) to the log in the given root until killed, printing each
// acknowledged event, with the key index rewritten every 3 to 15 events
// (a helper process).
func TestEventsActiveIdxChild(t *testing.T) {
	root := os.Getenv(evidxChildEnv)
	if root == "" {
		t.Skip("helper process")
	}
	file.SetActiveIdxEvery(3 + int64(os.Getpid()%13))
	ev, err := file.OpenEvents(file.EventsOptions{Root: root, SegmentEvents: -1, Logger: lgQuiet()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		key := fmt.Sprintf("p%d-%d", os.Getpid(), i)
		if i%4 == 3 {
			key = fmt.Sprintf("p%d-%d", os.Getpid(), i/2)
		}
		got, appended, err := ev.AppendOnce(ctx, key, "test.child", nil)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Printf("ACK %d %s %v\n", got.ID, got.Key, appended)
	}
}

// TestEventsActiveIdxCrash kills child processes at each durable step of
// a key index rewrite (SETTLE_FAILPOINT exits there with 137; the child
// seals nothing, so the index is its only replaced file) and with SIGKILL
// at a random moment. After each, every acknowledged event is read with
// its id and key, no key is in the log twice, and every key's lookup is
// the same with the key index as with a read of the whole file.
func TestEventsActiveIdxCrash(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	steps := []string{"tmp-created", "before-fsync", "before-rename", "before-dir-fsync", ""}
	taken := 0
	acked, failpoints := eventsCrashRounds(t, "TestEventsActiveIdxChild", evidxChildEnv+"="+root, steps, 400*time.Millisecond,
		func(round int, step string, acked map[int64]string) {
			ev, err := file.OpenEvents(file.EventsOptions{Root: root, SegmentEvents: -1, Logger: lgQuiet()})
			if err != nil {
				t.Fatal(err)
			}
			if file.ActiveIdxTaken(ev) {
				taken++
			}
			evs, err := ev.Since(ctx, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int64{}
			got := map[int64]string{}
			for i, e := range evs {
				if e.ID != int64(i)+1 {
					t.Fatalf("round %d (%q): event %d at %d", round, step, e.ID, i)
				}
				if id, dup := seen[e.Key]; dup {
					t.Fatalf("round %d (%q): key %s in events %d and %d", round, step, e.Key, id, e.ID)
				}
				seen[e.Key], got[e.ID] = e.ID, e.Key
			}
			for id, k := range acked {
				if got[id] != k {
					t.Fatalf("round %d (%q): acknowledged event %d %s read as %q", round, step, id, k, got[id])
				}
			}
			idx, ierr := os.ReadFile(keyIdxPath(root))
			if ierr == nil {
				os.Remove(keyIdxPath(root))
			}
			scan, err := file.OpenEvents(file.EventsOptions{Root: root, SegmentEvents: -1, Logger: lgQuiet()})
			if err != nil {
				t.Fatal(err)
			}
			for k, id := range seen {
				a, oka, erra := file.LookupKey(ev, k)
				b, okb, errb := file.LookupKey(scan, k)
				if erra != nil || errb != nil || !oka || !okb || a != id || b != id {
					t.Fatalf("round %d (%q): key %s: indexed %d %v %v, scan %d %v %v, want %d", round, step, k, a, oka, erra, b, okb, errb, id)
				}
			}
			// The key index is put back after both closes, so that the
			// next round opens the one the children left.
			scan.Close()
			ev.Close()
			if ierr == nil {
				if err := os.WriteFile(keyIdxPath(root), idx, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	if len(acked) == 0 || failpoints < 4 || taken == 0 {
		t.Fatalf("%d acknowledged events, %d children stopped at a failpoint, %d opens took the key index", len(acked), failpoints, taken)
	}
	t.Logf("%d acknowledged events, %d children stopped at a failpoint, %d of 10 opens took the key index", len(acked), failpoints, taken)
}
