package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// TestSameTranscriptAsFileStore runs one script of operations on the file
// store and on the PostgreSQL store and compares every outcome: the
// decisions, the records' exact lines, settle results, summaries, scene
// bodies, versions and error codes.
func TestSameTranscriptAsFileStore(t *testing.T) {
	t.Run("ledger", func(t *testing.T) {
		fl, err := file.OpenLedger(file.LedgerOptions{Root: t.TempDir(), Config: storetest.Config(), Logger: quiet()})
		want := storetest.LedgerTrace(t, opened(t, fl, err))
		got := storetest.LedgerTrace(t, openStore(t, "", storetest.Config()))
		storetest.CompareTraces(t, "file", want, "postgres", got)
		if len(want) < 60 {
			t.Fatalf("transcript of %d lines is too short to mean much", len(want))
		}
	})
	t.Run("scenes", func(t *testing.T) {
		fs, err := file.OpenScenes(file.SceneOptions{Root: t.TempDir(), Logger: quiet()})
		want := storetest.SceneTrace(t, opened(t, fs, err))
		got := storetest.SceneTrace(t, openStore(t, "", storetest.Config()))
		storetest.CompareTraces(t, "file", want, "postgres", got)
	})
}

func TestMigrationsConcurrentOpen(t *testing.T) {
	schema := newSchema(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*postgres.Store, n)
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(ctx, postgres.Options{URL: testenv.PostgresDSN(t), Schema: schema, Config: storetest.Config(), Logger: quiet()})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	migs, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var count, maxV int
	if err := stores[0].Pool().QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&count, &maxV); err != nil {
		t.Fatal(err)
	}
	if count != len(migs) || maxV != len(migs) {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", count, maxV, len(migs))
	}
	if v, err := stores[3].SchemaVersion(ctx); err != nil || v != len(migs) {
		t.Fatalf("SchemaVersion = %d %v", v, err)
	}
	// Every store works on the shared schema.
	for i, s := range stores {
		if err := s.AppendRegistry(ctx, storetest.Registry(fmt.Sprintf("task-%d", i), writeback.StatusRegistered)); err != nil {
			t.Fatal(err)
		}
	}
	recs := storetest.AllRecords(t, stores[0], writeback.RecordQuery{})
	if len(recs) != n {
		t.Fatalf("%d records", len(recs))
	}
}

func TestMigrationRecordChecked(t *testing.T) {
	schema := newSchema(t)
	s := openStore(t, schema, storetest.Config())
	open := func() error {
		s2, err := postgres.Open(ctx, postgres.Options{URL: testenv.PostgresDSN(t), Schema: schema, Logger: quiet()})
		if err == nil {
			s2.Close()
		}
		return err
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	storetest.WantCode(t, open(), settle.Corrupt)
	migs, _ := postgres.Migrations()
	if _, err := s.Pool().Exec(ctx, "UPDATE schema_migrations SET checksum = $1 WHERE version = 1", migs[0].Checksum); err != nil {
		t.Fatal(err)
	}
	if err := open(); err != nil {
		t.Fatalf("reopen after repair: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	storetest.WantCode(t, open(), settle.Unavailable)
}

func TestOpenOptions(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	t.Run("schema from the URL's search_path", func(t *testing.T) {
		schema := newSchema(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(ctx, postgres.Options{URL: u.String(), Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Schema() != schema {
			t.Fatalf("schema %q, want %q", s.Schema(), schema)
		}
		var n int
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'ledger'", schema).Scan(&n); err != nil || n != 1 {
			t.Fatalf("ledger table in %s: %d %v", schema, n, err)
		}
	})
	t.Run("bad schema name", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Options{URL: dsn, Schema: "Robert'); DROP TABLE x;--", Logger: quiet()})
		storetest.WantCode(t, err, settle.InvalidInput)
	})
	t.Run("bad url", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Options{URL: "postgres://u:secret@host:notaport/db", Logger: quiet()})
		storetest.WantCode(t, err, settle.InvalidInput)
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := postgres.Open(cctx, postgres.Options{URL: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", Logger: quiet()})
		storetest.WantCode(t, err, settle.Unavailable)
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := openStore(t, "", storetest.Config())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		_, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding("t", "T1", "b")})
		storetest.WantCode(t, err, settle.Unavailable)
		_, err = s.Load(ctx, storetest.Ref("B"))
		storetest.WantCode(t, err, settle.Unavailable)
		_, err = s.Append(ctx, "x", nil)
		storetest.WantCode(t, err, settle.Unavailable)
		select {
		case <-s.Wait(ctx, 0):
		case <-time.After(5 * time.Second):
			t.Fatal("Wait on a closed store does not return")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := openStore(t, "", storetest.Config())
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Writeback(cctx, writeback.WritebackRequest{Binding: storetest.Binding("t", "T1", "b")})
		storetest.WantCode(t, err, settle.Unavailable)
	})
}

// TestManyServers: several stores (separate pools, as separate servers)
// hammer the same tasks, batches and scenes at once: no duplicate record,
// contiguous seqs, one conflict per refused candidate, exactly one summary
// and one batch.settled per batch, no lost status update.
func TestManyServers(t *testing.T) {
	schema := newSchema(t)
	const servers = 4
	var ss []*postgres.Store
	for range servers {
		ss = append(ss, openStore(t, schema, storetest.Config()))
	}
	const batches, tracks, rounds = 3, 4, 3
	var wg sync.WaitGroup
	var firsts, settledEvents atomic.Int64
	var mu sync.Mutex
	successes := map[string]int{}
	for b := range batches {
		batch := fmt.Sprintf("b%d", b)
		tt := storetest.Tracks(batch, tracks)
		for i, tr := range tt {
			for r := range rounds {
				for v := range 2 {
					wg.Go(func() {
						s := ss[(i+r+v)%servers]
						bind := storetest.Binding(tr.TaskID, tr.TrackID, batch)
						if v == 1 && r == 0 {
							bind.AuthoritativeVerdict = "PASS" // a conflicting candidate
						}
						out, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: bind})
						if err != nil {
							t.Error(err)
							return
						}
						if out.Decision.Classification == writeback.DurableSuccessWritten {
							mu.Lock()
							successes[tr.TaskID]++
							mu.Unlock()
						}
						res, err := s.Settle(ctx, batch, tt, tr.TrackID)
						if err != nil {
							t.Error(err)
							return
						}
						if res.FirstConsolidation {
							firsts.Add(1)
						}
						if res.Result.Decision == writeback.AllSettledConsolidate {
							if _, appended, err := s.AppendOnce(ctx, "batch.settled:"+batch, event.BatchSettled, res.Result); err != nil {
								t.Error(err)
							} else if appended {
								settledEvents.Add(1)
							}
						}
					})
				}
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for task, n := range successes {
		if n != 1 {
			t.Fatalf("task %s written back %d times", task, n)
		}
	}
	if len(successes) != batches*tracks {
		t.Fatalf("%d tasks written back, want %d", len(successes), batches*tracks)
	}
	storetest.CheckRecordIDs(t, storetest.AllRecords(t, ss[0], writeback.RecordQuery{Limit: 1000}))
	// Each batch settles only when all its tracks are in; whether a
	// settle after the last write-back ran is a matter of scheduling, so
	// settle once more, then count.
	for b := range batches {
		batch := fmt.Sprintf("b%d", b)
		res, err := ss[b%servers].Settle(ctx, batch, storetest.Tracks(batch, tracks), "T1")
		if err != nil {
			t.Fatal(err)
		}
		if res.FirstConsolidation {
			firsts.Add(1)
		}
		if _, appended, err := ss[b%servers].AppendOnce(ctx, "batch.settled:"+batch, event.BatchSettled, res.Result); err != nil {
			t.Fatal(err)
		} else if appended {
			settledEvents.Add(1)
		}
	}
	// The conflicting PASS candidate may have come first for a track
	// (then it is that track's success and the batch is settled but not
	// consolidated): count the batches that consolidated.
	consolidated := 0
	err := ss[0].WalkSummaryFiles(ctx, func(string, []byte) error { consolidated++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if int(firsts.Load()) != consolidated {
		t.Fatalf("%d first consolidations for %d summaries", firsts.Load(), consolidated)
	}
	if settledEvents.Load() != batches {
		t.Fatalf("%d batch.settled events, want %d", settledEvents.Load(), batches)
	}

	// Status saves from every server on one scene: none lost.
	if _, err := ss[0].SaveRunner(ctx, storetest.Ref("S"), 1, "", hydrateScene(t)); err != nil {
		t.Fatal(err)
	}
	const saves = 40
	for i := range saves {
		wg.Go(func() {
			p := fmt.Sprintf(`[{"op": "add", "path": "/scene_metadata/k%d", "value": %d}]`, i, i)
			if _, err := ss[i%servers].PatchStatus(ctx, storetest.Ref("S"), 1, []byte(p)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ld, err := ss[1].Load(ctx, storetest.Ref("S"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range saves {
		if _, found := ld.Scene.SceneMetadata.Get(fmt.Sprintf("k%d", i)); !found {
			t.Fatalf("status save %d lost", i)
		}
	}
}

func hydrateScene(t testing.TB) *scene.Scene {
	t.Helper()
	sc, err := scene.FromTree(storetest.Tree(`{"scene_id": "S", "beats": [{"beat_id": "A"}], "scene_metadata": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestRecordsCursorNeverSkips: a reader paging with After while several
// servers append sees every record exactly once, in order: seqs commit in
// order, so a cursor never passes a record that commits later.
func TestRecordsCursorNeverSkips(t *testing.T) {
	schema := newSchema(t)
	writers := []*postgres.Store{openStore(t, schema, storetest.Config()), openStore(t, schema, storetest.Config())}
	reader := openStore(t, schema, storetest.Config())
	const n = 120
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := storetest.Registry(fmt.Sprintf("task-%d", i%17), writeback.StatusRegistered)
			if err := writers[i%2].AppendRegistry(ctx, rec); err != nil {
				t.Error(err)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	var seen []int64
	after := int64(-1)
	for {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		p, err := reader.Records(ctx, writeback.RecordQuery{After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen = append(seen, r.Seq)
			after = r.Seq
		}
		if finished && len(p.Records) == 0 {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("the reader saw %d records, want %d", len(seen), n)
	}
	for i, s := range seen {
		if s != int64(i) {
			t.Fatalf("the reader saw seq %d at position %d", s, i)
		}
	}
}

// TestEventsListenerReconnects: the LISTEN connection is killed; Wait
// still wakes for another server's append (after the reconnect, or by the
// head poll).
func TestEventsListenerReconnects(t *testing.T) {
	schema := newSchema(t)
	a, err := postgres.Open(ctx, postgres.Options{URL: testenv.PostgresDSN(t), Schema: schema, Logger: quiet(), EventPoll: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openStore(t, schema, storetest.Config())
	first := a.Wait(ctx, 0) // starts the listener
	if _, err := b.Append(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Within(t, first, 10*time.Second, "the wake-up")
	testenv.Until(t, 10*time.Second, func() bool {
		var killed int
		if err := b.Pool().QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
			postgres.ListenerApplicationName(schema)).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		return killed > 0
	})
	ch := a.Wait(ctx, 1)
	if _, err := b.Append(ctx, "y", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Within(t, ch, 15*time.Second, "the wake-up after the listener connection was killed")
	// And later appends wake it through the new connection.
	ch = a.Wait(ctx, 2)
	if _, err := b.Append(ctx, "z", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Within(t, ch, 15*time.Second, "the wake-up after the reconnect")
}

// TestTablesHoldExactBytes: the ledger rows hold the file store's lines
// byte for byte and the scene rows EncodeBody's bytes.
func TestTablesHoldExactBytes(t *testing.T) {
	s := openStore(t, "", storetest.Config())
	b := storetest.Binding("task-é", "T1", "b")
	out, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: b})
	if err != nil {
		t.Fatal(err)
	}
	want, err := writeback.EncodeLine(out.Decision.DurableRecord)
	if err != nil {
		t.Fatal(err)
	}
	var line []byte
	if err := s.Pool().QueryRow(ctx, "SELECT line FROM ledger WHERE seq = 0").Scan(&line); err != nil {
		t.Fatal(err)
	}
	if string(line)+"\n" != string(want) {
		t.Fatalf("row holds\n%s\nwant\n%s", line, want)
	}
	rows, err := s.Pool().Query(ctx, "SELECT kind, task_id, batch_id, writeback_id FROM ledger ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Kind, Task string
		Batch, WID *string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != "durable" || got[0].Task != "task-é" || *got[0].Batch != "b" || *got[0].WID != b.WritebackID() ||
		got[1].Kind != "registry" || got[1].Batch != nil {
		t.Fatalf("rows %+v", got)
	}
}

func TestErrorsOfABrokenDatabase(t *testing.T) {
	schema := newSchema(t)
	s := openStore(t, schema, storetest.Config())
	if _, err := s.Pool().Exec(ctx, "UPDATE ledger_head SET next_seq = 5"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO ledger (seq, kind, task_id, line) VALUES (0, 'durable', 't', '{"schema": "durable_success_writeback.v1", "task_id": "t"')`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Records(ctx, writeback.RecordQuery{After: -1})
	storetest.WantCode(t, err, settle.Corrupt)
	_, err = s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding("t", "T1", "b")})
	storetest.WantCode(t, err, settle.Corrupt)
	// A failed transaction leaves nothing behind.
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT next_seq FROM ledger_head").Scan(&n); err != nil || n != 5 {
		t.Fatalf("head %d %v", n, err)
	}
	if err := s.ImportRecords(ctx, 0, [][]byte{[]byte("not a record")}); settle.ErrorCode(err) != settle.InvalidInput {
		t.Fatalf("import of a non-record: %v", err)
	}
	line, _ := writeback.EncodeLine(storetest.Registry("t", writeback.StatusRegistered))
	err = s.ImportRecords(ctx, 0, [][]byte{line[:len(line)-1]})
	storetest.WantCode(t, err, settle.VersionConflict)
}

// TestGroupCommit: concurrent write-backs of one store share
// transactions, and each is answered with its own decision.
func TestGroupCommit(t *testing.T) {
	s := openStore(t, "", storetest.Config())
	const n = 64
	var wg sync.WaitGroup
	outs := make([]writeback.WritebackOutcome, n)
	for i := range n {
		wg.Go(func() {
			out, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(fmt.Sprintf("task-%d", i/2), "T1", "b")})
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		})
	}
	wg.Wait()
	success := map[string]int{}
	for _, o := range outs {
		if o.Decision.Classification == writeback.DurableSuccessWritten {
			success[o.Decision.TaskID]++
		} else if o.Decision.Classification != writeback.WritebackIdempotentSkip {
			t.Fatalf("decision %s", o.Decision.Classification)
		}
	}
	if len(success) != n/2 {
		t.Fatalf("%d successes, want %d", len(success), n/2)
	}
	st := s.GroupStats()
	if st.Grouped != n || st.Groups >= n || st.MaxGroup < 2 {
		t.Fatalf("no group commit: %+v", st)
	}
	t.Logf("%d requests in %d transactions, largest %d", st.Grouped, st.Groups, st.MaxGroup)

	// Events too: concurrent appends share transactions, ids stay 1..n.
	ids := make([]int64, n)
	for i := range n {
		wg.Go(func() {
			var ev event.Event
			var err error
			if i%2 == 0 {
				ev, err = s.Append(ctx, event.WritebackRecorded, map[string]int{"i": i})
			} else {
				ev, _, err = s.AppendOnce(ctx, fmt.Sprintf("k%d", i%8), event.BatchSettled, nil)
			}
			if err != nil {
				t.Error(err)
			}
			ids[i] = ev.ID
		})
	}
	wg.Wait()
	evs, err := s.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n/2+4 {
		t.Fatalf("%d events, want %d", len(evs), n/2+4)
	}
	for i, ev := range evs {
		if ev.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, ev.ID)
		}
	}
	// (An AppendOnce of a key already committed answers without the queue.)
	if est := s.EventGroupStats(); est.Grouped < n/2 || est.Grouped > n || est.MaxGroup < 2 {
		t.Fatalf("no event group commit: %+v", est)
	} else {
		t.Logf("%d event appends in %d transactions, largest %d", est.Grouped, est.Groups, est.MaxGroup)
	}
}

func BenchmarkPostgresWriteback(b *testing.B) {
	s := openStore(b, "", storetest.Config())
	var n atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS concurrent clients, as servers would have
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			out, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(fmt.Sprintf("task-%d", i), "T1", "b")})
			if err != nil || out.Decision.Classification != writeback.DurableSuccessWritten {
				b.Fatalf("%+v %v", out.Decision.Classification, err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writebacks/s")
	if st := s.GroupStats(); st.Groups > 0 {
		b.ReportMetric(float64(st.Grouped)/float64(st.Groups), "requests/group")
	}
}

func BenchmarkPostgresEventAppend(b *testing.B) {
	s := openStore(b, "", storetest.Config())
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ctx, event.WritebackRecorded, map[string]string{"writeback_id": "x"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPostgresStatusSave(b *testing.B) {
	s := openStore(b, "", storetest.Config())
	const batches = 8
	for i := range batches {
		sc, err := scene.FromTree(storetest.GenTree(newRand(int64(i)), fmt.Sprintf("B%d", i), 12))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.SaveRunner(ctx, storetest.Ref(fmt.Sprintf("B%d", i)), 1, "", sc); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p := fmt.Sprintf(`[{"op": "replace", "path": "/beats/%d/approved", "value": %v}]`, i%12, i%2 == 0)
			if _, err := s.PatchStatus(ctx, storetest.Ref(fmt.Sprintf("B%d", i%batches)), 1, []byte(p)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
}
