package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/internal/testenv"
)

// openSegmented opens the event log in dir with segments of size events.
func openSegmented(t testing.TB, dir string, size int) *file.Events {
	t.Helper()
	return openEventsWith(t, file.EventsOptions{Root: dir, PollInterval: 10 * time.Millisecond, SegmentEvents: size, Logger: lgQuiet()})
}

func segmentFiles(t testing.TB, dir string) []string {
	return testenv.DirNames(t, eventsPath(dir)+".segments")
}

// modelEvent is what the model keeps of one event.
type modelEvent struct {
	id       int64
	typ, key string
	data     string
}

// segModel is a simple in-memory event log: every event ever appended,
// the floor, and the keys of every event (removed ones included).
type segModel struct {
	evs   []modelEvent // evs[i].id == i+1
	floor int64
	keys  map[string]int64
}

func (m *segModel) check(t *testing.T, ev *file.Events, after int64, limit int, what string) {
	t.Helper()
	ctx := context.Background()
	got, err := ev.Since(ctx, after, limit)
	if after < m.floor {
		if settle.ErrorCode(err) != settle.Compacted {
			t.Fatalf("%s: Since(%d) below floor %d: %v", what, after, m.floor, err)
		}
		if !strings.Contains(err.Error(), "re-sync from the ledger") {
			t.Fatalf("%s: COMPACTED error does not say how to re-sync: %v", what, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: Since(%d, %d): %v", what, after, limit, err)
	}
	want := m.evs[min(after, int64(len(m.evs))):min(after+int64(limit), int64(len(m.evs)))]
	if len(got) != len(want) {
		t.Fatalf("%s: Since(%d, %d): %d events, want %d", what, after, limit, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.id || g.Type != w.typ || g.Key != w.key || string(g.Data) != w.data {
			t.Fatalf("%s: Since(%d): event %+v, want %+v", what, after, g, w)
		}
	}
}

// TestEventsSegmentsDifferential runs random appends, AppendOnce calls,
// compactions and reopens, through two openers, against an in-memory
// model: every read returns exactly the model's events with their ids,
// a resume below the floor is COMPACTED, a key is appended once even
// after its segment was removed, and retention keeps what it must and
// drops whole segments. Replay with SETTLE_TEST_SEED=<the logged seed>.
func TestEventsSegmentsDifferential(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	dir := t.TempDir()
	size := 1 + rng.IntN(9)
	t.Logf("segment size %d", size)
	logs := []*file.Events{openSegmented(t, dir, size), openSegmented(t, dir, size)}
	m := &segModel{keys: map[string]int64{}}
	ctx := context.Background()
	for step := range 1500 {
		ev := logs[rng.IntN(len(logs))]
		switch r := rng.IntN(100); {
		case r < 40:
			data := fmt.Sprintf(`{"step":%d}`, step)
			got, err := ev.Append(ctx, "test.plain", json.RawMessage(data))
			if err != nil {
				t.Fatalf("step %d: append: %v", step, err)
			}
			want := int64(len(m.evs) + 1)
			if got.ID != want {
				t.Fatalf("step %d: append id %d, want %d", step, got.ID, want)
			}
			m.evs = append(m.evs, modelEvent{want, "test.plain", "", data})
		case r < 75:
			key := fmt.Sprintf("k%d", rng.IntN(200))
			data := fmt.Sprintf(`{"step":%d}`, step)
			got, appended, err := ev.AppendOnce(ctx, key, "test.keyed", json.RawMessage(data))
			if err != nil {
				t.Fatalf("step %d: append once: %v", step, err)
			}
			id, present := m.keys[key]
			switch {
			case !present:
				want := int64(len(m.evs) + 1)
				if !appended || got.ID != want {
					t.Fatalf("step %d: AppendOnce(%s) = %d appended %v, want new id %d", step, key, got.ID, appended, want)
				}
				m.evs = append(m.evs, modelEvent{want, "test.keyed", key, data})
				m.keys[key] = want
			case id <= m.floor:
				if appended || got.Key != key {
					t.Fatalf("step %d: AppendOnce of removed key %s: %+v appended %v", step, key, got, appended)
				}
			default:
				if appended || got.ID != id || string(got.Data) != m.evs[id-1].data {
					t.Fatalf("step %d: AppendOnce(%s) = %+v appended %v, want event %d", step, key, got, appended, id)
				}
			}
		case r < 80:
			var ret file.Retention
			if rng.IntN(2) == 0 {
				ret.MaxEvents = int64(rng.IntN(40))
			} else {
				ret.MaxAge = time.Hour // keeps everything appended by this test
			}
			if ret.MaxEvents == 0 && ret.MaxAge == 0 {
				ret.MaxEvents = 1
			}
			n := int64(len(m.evs))
			res, err := ev.Compact(ctx, ret)
			if err != nil {
				t.Fatalf("step %d: compact: %v", step, err)
			}
			retained := n - res.Floor
			if res.Floor < m.floor || res.Removed != res.Floor-m.floor || res.Retained != retained {
				t.Fatalf("step %d: compact %+v: %+v (floor was %d, %d events)", step, ret, res, m.floor, n)
			}
			if ret.MaxEvents > 0 {
				// Keeps at least MaxEvents, and drops every whole segment
				// the count allows (less than a segment more).
				if retained < min(ret.MaxEvents, n-m.floor) || (res.Floor > m.floor && retained >= ret.MaxEvents+int64(size)) ||
					(res.Floor == m.floor && n-m.floor >= ret.MaxEvents+int64(size)) {
					t.Fatalf("step %d: compact %+v of %d events (floor %d): %+v", step, ret, n, m.floor, res)
				}
			} else if res.Floor != m.floor {
				t.Fatalf("step %d: compact by age removed young events: %+v", step, res)
			}
			m.floor = res.Floor
		case r < 85:
			i := rng.IntN(len(logs))
			logs[i].Close()
			logs[i] = openSegmented(t, dir, size)
		default:
			after := m.floor + int64(rng.IntN(int(int64(len(m.evs))-m.floor)+2)) - 1
			if rng.IntN(10) == 0 && m.floor > 0 {
				after = int64(rng.IntN(int(m.floor)))
			}
			m.check(t, ev, max(after, 0), 1+rng.IntN(30), fmt.Sprintf("step %d", step))
		}
	}
	for i, ev := range logs {
		m.check(t, ev, m.floor, len(m.evs)+1, fmt.Sprintf("opener %d at the end", i))
		if f, err := ev.Floor(ctx); err != nil || f != m.floor {
			t.Fatalf("opener %d: floor %d %v, want %d", i, f, err, m.floor)
		}
		st, err := ev.State(ctx)
		if err != nil || st.Floor != m.floor || st.Last != int64(len(m.evs)) {
			t.Fatalf("opener %d: state %+v %v", i, st, err)
		}
	}
	if len(segmentFiles(t, dir)) == 0 && len(m.evs)-int(m.floor) > 2*size {
		t.Fatalf("no segment sealed")
	}
}

// TestEventsSegmentsSealAndFloor: the active file is sealed into segments
// of the configured size with their key indexes, a fresh opener reads
// across segments, and a count policy drops whole segments only.
func TestEventsSegmentsSealAndFloor(t *testing.T) {
	dir := t.TempDir()
	ev := openSegmented(t, dir, 10)
	ctx := context.Background()
	for i := 1; i <= 35; i++ {
		if _, _, err := ev.AppendOnce(ctx, fmt.Sprintf("k%d", i), "test.keyed", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"00000000000000000010.idx", "00000000000000000010.jsonl",
		"00000000000000000020.idx", "00000000000000000020.jsonl",
		"00000000000000000030.idx", "00000000000000000030.jsonl",
	}
	if got := segmentFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	active, err := os.ReadFile(eventsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSuffix(string(active), "\n"), "\n"); len(lines) != 6 || lines[0] != `{"events_floor":30}` {
		t.Fatalf("active file:\n%s", active)
	}
	fresh := openSegmented(t, dir, 10)
	evs, err := fresh.Since(ctx, 0, 100)
	if err != nil || len(evs) != 35 {
		t.Fatalf("since 0: %d events %v", len(evs), err)
	}
	for i, e := range evs {
		if e.ID != int64(i+1) || e.Key != fmt.Sprintf("k%d", i+1) {
			t.Fatalf("event %d: %+v", i+1, e)
		}
	}
	// A key in a sealed segment is present for a fresh opener.
	got, appended, err := openSegmented(t, dir, 10).AppendOnce(ctx, "k3", "test.keyed", nil)
	if err != nil || appended || got.ID != 3 {
		t.Fatalf("AppendOnce of a sealed key: %+v %v %v", got, appended, err)
	}
	res, err := fresh.Compact(ctx, file.Retention{MaxEvents: 12})
	if err != nil || res.Floor != 20 || res.Removed != 20 || res.Retained != 15 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	for _, log := range []*file.Events{ev, fresh, openSegmented(t, dir, 10)} {
		_, err := log.Since(ctx, 19, 10)
		if settle.ErrorCode(err) != settle.Compacted || !strings.Contains(err.Error(), "re-sync from the ledger") {
			t.Fatalf("since 19 below the floor: %v", err)
		}
		if evs, err := log.Since(ctx, 20, 100); err != nil || len(evs) != 15 || evs[0].ID != 21 {
			t.Fatalf("since 20: %d events %v", len(evs), err)
		}
		if _, appended, err := log.AppendOnce(ctx, "k5", "test.keyed", nil); err != nil || appended {
			t.Fatalf("AppendOnce of a removed key: appended=%v %v", appended, err)
		}
	}
}

// sealFailpoints are the durable steps a seal or a compaction goes
// through.
var sealFailpoints = []string{"tmp-created", "before-fsync", "before-rename", "before-dir-fsync", "before-remove"}

// TestEventsSegmentsFailpoints fails each durable step of a seal and of a
// compaction, at each of its occurrences, then reopens the log as a new
// process would: every acknowledged event is read exactly once with its
// id, keys are still appended once, and appends and seals go on.
func TestEventsSegmentsFailpoints(t *testing.T) {
	ctx := context.Background()
	for _, step := range sealFailpoints {
		for nth := 1; nth <= 8; nth++ {
			t.Run(fmt.Sprintf("%s-%d", step, nth), func(t *testing.T) {
				dir := t.TempDir()
				ev := openSegmented(t, dir, 4)
				acked := map[int64]string{}
				appendN := func(log *file.Events, n int) {
					for range n {
						k := fmt.Sprintf("k%d", len(acked)+1)
						got, _, err := log.AppendOnce(ctx, k, "test.keyed", nil)
						if err == nil {
							acked[got.ID] = k
						}
					}
				}
				appendN(ev, 9) // two segments and one active event
				var hits int
				var mu sync.Mutex
				durable.SetFailpoint(step, func() error {
					mu.Lock()
					defer mu.Unlock()
					if hits++; hits == nth {
						return durable.ErrFailpoint
					}
					return nil
				})
				appendN(ev, 4) // a seal
				ev.Compact(ctx, file.Retention{MaxEvents: 6})
				durable.SetFailpoint(step, nil)
				ev.Close()

				again := openSegmented(t, dir, 4)
				floor, err := again.Floor(ctx)
				if err != nil {
					t.Fatal(err)
				}
				evs, err := again.Since(ctx, floor, 1000)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[int64]bool{}
				for i, e := range evs {
					if e.ID != floor+int64(i)+1 || seen[e.ID] || acked[e.ID] != e.Key {
						t.Fatalf("after failing %s #%d: event %+v (floor %d, acked %q)", step, nth, e, floor, acked[e.ID])
					}
					seen[e.ID] = true
				}
				for id := range acked {
					if id > floor && !seen[id] {
						t.Fatalf("after failing %s #%d: acknowledged event %d lost (floor %d)", step, nth, id, floor)
					}
				}
				for id, k := range acked {
					if _, appended, err := again.AppendOnce(ctx, k, "test.keyed", nil); err != nil || appended {
						t.Fatalf("key %s of event %d appended again: %v %v", k, id, appended, err)
					}
				}
				// A compaction removes what the failed step left behind.
				if _, err := again.Compact(ctx, file.Retention{MaxEvents: 1000}); err != nil {
					t.Fatal(err)
				}
				files := segmentFiles(t, dir)
				for _, name := range files {
					stem, _ := strings.CutSuffix(name, ".idx")
					stem, _ = strings.CutSuffix(stem, ".jsonl")
					if strings.Contains(name, durable.TmpMarker) || !slices.Contains(files, stem+".idx") || !slices.Contains(files, stem+".jsonl") {
						t.Fatalf("after failing %s #%d: leftover %s in %v", step, nth, name, files)
					}
				}
				n := int64(len(evs)) + floor
				appendN(again, 5)
				if evs, err := openSegmented(t, dir, 4).Since(ctx, n, 100); err != nil || len(evs) != 5 || evs[0].ID != n+1 {
					t.Fatalf("appends after recovery: %d events %v", len(evs), err)
				}
			})
		}
	}
}

const evsegChildEnv = "SETTLE_EVSEG_CHILD"

// TestEventsSegmentsChild appends keyed events to the log in the given
// root until killed, printing each acknowledged id (a helper process).
func TestEventsSegmentsChild(t *testing.T) {
	root := os.Getenv(evsegChildEnv)
	if root == "" {
		t.Skip("helper process")
	}
	ev, err := file.OpenEvents(file.EventsOptions{Root: root, SegmentEvents: 5, Logger: lgQuiet()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		got, _, err := ev.AppendOnce(ctx, fmt.Sprintf("p%d-%d", os.Getpid(), i), "test.child", nil)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Printf("ACK %d %s\n", got.ID, got.Key)
		if i%7 == 6 {
			if _, err := ev.Compact(ctx, file.Retention{MaxEvents: 12}); err != nil {
				fmt.Println("ERR", err)
				os.Exit(1)
			}
		}
	}
}

// TestEventsSegmentsCrash kills child processes at each durable step of a
// seal or a compaction (SETTLE_FAILPOINT exits there with 137) and with
// SIGKILL at a random moment; after each, every acknowledged event that is
// not below the floor is read once with its id and key.
func TestEventsSegmentsCrash(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	steps := []string{"tmp-created", "before-rename", "before-dir-fsync", "before-remove", ""}
	acked, failpoints := eventsCrashRounds(t, "TestEventsSegmentsChild", evsegChildEnv+"="+root, steps, 200*time.Millisecond,
		func(round int, step string, acked map[int64]string) {
			ev, err := file.OpenEvents(file.EventsOptions{Root: root, SegmentEvents: 5, Logger: lgQuiet()})
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Close()
			floor, err := ev.Floor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ev.Since(ctx, floor, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64]string{}
			for i, e := range evs {
				if e.ID != floor+int64(i)+1 {
					t.Fatalf("round %d (%q): event %d at %d after floor %d", round, step, e.ID, i, floor)
				}
				got[e.ID] = e.Key
			}
			for id, k := range acked {
				if id > floor && got[id] != k {
					t.Fatalf("round %d (%q): acknowledged event %d %s read as %q (floor %d)", round, step, id, k, got[id], floor)
				}
			}
		})
	if len(acked) == 0 || failpoints != 8 {
		t.Fatalf("%d acknowledged events, %d children stopped at a failpoint", len(acked), failpoints)
	}
	t.Logf("%d acknowledged events, %d children stopped at a failpoint, %d segment files", len(acked), failpoints, len(segmentFiles(t, root)))
}

// TestEventsSegmentsCompactUnderReaders: one opener appends (sealing a
// segment every few events), another compacts over and over, and two
// readers (one on each opener) stream Since: every batch a reader gets
// continues exactly where it left off, with no event missed or repeated,
// unless its resume point was removed, which is COMPACTED.
func TestEventsSegmentsCompactUnderReaders(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	dir := t.TempDir()
	writer, compactor := openSegmented(t, dir, 8), openSegmented(t, dir, 8)
	ctx := context.Background()
	const total = 600
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	written := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(written)
		if err := appendMixed(ctx, writer, total, 2); err != nil {
			errs <- err
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 1))
		for {
			select {
			case <-written:
				return
			default:
			}
			if _, err := compactor.Compact(ctx, file.Retention{MaxEvents: int64(20 + rng.IntN(200))}); err != nil {
				errs <- err
				return
			}
		}
	}()
	var compactedSeen [2]int
	for r, reader := range []*file.Events{writer, compactor} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(r+2)))
			var after int64
			for after < total {
				evs, err := reader.Since(ctx, after, 1+rng.IntN(50))
				if settle.ErrorCode(err) == settle.Compacted {
					f, ferr := reader.Floor(ctx)
					if ferr != nil || f <= after {
						errs <- fmt.Errorf("reader %d: COMPACTED at %d but floor %d %v", r, after, f, ferr)
						return
					}
					compactedSeen[r]++
					after = f
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if len(evs) == 0 {
					<-reader.Wait(ctx, after)
					continue
				}
				for _, e := range evs {
					var d struct{ I int64 }
					if err := json.Unmarshal(e.Data, &d); err != nil || e.ID != after+1 || d.I != e.ID {
						errs <- fmt.Errorf("reader %d: after %d got event %d (data %s)", r, after, e.ID, e.Data)
						return
					}
					after = e.ID
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := openSegmented(t, dir, 8)
	f, err := final.Floor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := final.Since(ctx, f, total)
	if err != nil || int64(len(evs)) != total-f {
		t.Fatalf("retained %d events after floor %d: %v", len(evs), f, err)
	}
	t.Logf("floor %d, readers sent back to the floor %v times", f, compactedSeen)
}

// TestEventsSegmentsIndexLossAndSymlink: a segment whose .idx is missing or
// damaged is indexed from its lines (nothing is lost), and a segments
// directory that is a symbolic link is refused.
func TestEventsSegmentsIndexLossAndSymlink(t *testing.T) {
	dir := t.TempDir()
	ev := openSegmented(t, dir, 4)
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		if _, _, err := ev.AppendOnce(ctx, fmt.Sprintf("k%d", i), "test.keyed", nil); err != nil {
			t.Fatal(err)
		}
	}
	ev.Close()
	segs := eventsPath(dir) + ".segments/"
	if err := os.Remove(segs + "00000000000000000004.idx"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segs+"00000000000000000008.idx", []byte("SETLIDX1 damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	again := openSegmented(t, dir, 4)
	evs, err := again.Since(ctx, 0, 100)
	if err != nil || len(evs) != 10 {
		t.Fatalf("since 0 with lost indexes: %d events %v", len(evs), err)
	}
	for _, k := range []string{"k2", "k7"} {
		if got, appended, err := again.AppendOnce(ctx, k, "test.keyed", nil); err != nil || appended || got.Key != k {
			t.Fatalf("AppendOnce(%s) with lost indexes: %+v %v %v", k, got, appended, err)
		}
	}
	again.Close()

	link := t.TempDir()
	other := t.TempDir()
	first, err := file.OpenEvents(file.EventsOptions{Root: link, Logger: lgQuiet()})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	if err := os.Symlink(other, eventsPath(link)+".segments"); err != nil {
		t.Fatal(err)
	}
	if _, err := file.OpenEvents(file.EventsOptions{Root: link, Logger: lgQuiet()}); settle.ErrorCode(err) != settle.PathRefused {
		t.Fatalf("symlinked segments directory: %v", err)
	}
}

// eventsCrashRounds runs 10 rounds of the child test childTest with env
// (its seed logged), each stopped at the next of steps in turn. A round
// with a failpoint (SETTLE_FAILPOINT=step) runs until its child stops
// there (the minute is only a guard: on a loaded machine a random kill
// must not end it first); a round with step "" is ended by SIGKILL after
// a random time from kill to three times kill. It fails t if a child ends
// otherwise or an event is acknowledged with two keys. After each round it
// calls check with the round, its step and every event acknowledged so
// far (id to key, from the children's ACK lines "id key ..."); it returns
// those events and how many children stopped at a failpoint.
func eventsCrashRounds(t *testing.T, childTest, env string, steps []string, kill time.Duration,
	check func(round int, step string, acked map[int64]string)) (acked map[int64]string, failpoints int) {
	t.Helper()
	seed := uint64(testenv.Seed(t))
	rng := rand.New(rand.NewPCG(seed, seed))
	acked = map[int64]string{}
	for round := range 10 {
		step := steps[round%len(steps)]
		cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1", "-test.v=true")
		cmd.Env = append(os.Environ(), env)
		after := kill + time.Duration(rng.Int64N(int64(2*kill)))
		if step != "" {
			cmd.Env = append(cmd.Env, "SETTLE_FAILPOINT="+step)
			after = time.Minute
		}
		c := lgStart(t, cmd)
		timer := time.AfterFunc(after, func() { cmd.Process.Signal(syscall.SIGKILL) })
		c.wait()
		timer.Stop()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		stopped := ws.Exited() && ws.ExitStatus() == 137
		if (step != "" && !stopped) || (step == "" && !ws.Signaled()) {
			t.Fatalf("round %d (%q): child ended %v\n%s%s", round, step, cmd.ProcessState, strings.Join(c.lines, "\n"), c.other.String())
		}
		if step != "" {
			failpoints++
		}
		for _, l := range c.acks {
			var id int64
			var key string
			if _, err := fmt.Sscanf(l, "%d %s", &id, &key); err == nil {
				if k, ok := acked[id]; ok && k != key {
					t.Fatalf("round %d: event %d acknowledged as %s and %s", round, id, k, key)
				}
				acked[id] = key
			}
		}
		check(round, step, acked)
	}
	return acked, failpoints
}
