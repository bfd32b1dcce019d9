package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/migrate"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// pgURL returns a URL of a fresh schema of the test database (dropped at
// cleanup), or skips LOUDLY (fails under CI=true) without one.
func pgURL(t *testing.T) string {
	t.Helper()
	return testenv.PostgresURL(t, "m_")
}

// openLedger, openScenes, openEvents and openPostgres open a store on a
// file root or a database URL; the caller closes it.
func openLedger(t *testing.T, root string) *file.Ledger {
	t.Helper()
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: quiet()})
	storetest.OK(t, err)
	return l
}

func openScenes(t *testing.T, root string) *file.Scenes {
	t.Helper()
	s, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: quiet()})
	storetest.OK(t, err)
	return s
}

// openEvents opens the event log of root, sealing segments of segment
// events (0: the default).
func openEvents(t *testing.T, root string, segment int) *file.Events {
	t.Helper()
	e, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: quiet(), SegmentEvents: segment})
	storetest.OK(t, err)
	return e
}

func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctx, postgres.Options{URL: url, Config: storetest.Config(), Logger: quiet()})
	storetest.OK(t, err)
	return s
}

func open(t *testing.T, raw string, create bool) *migrate.Endpoint {
	t.Helper()
	e, err := migrate.Open(ctx, raw, migrate.OpenOptions{Logger: quiet(), Create: create})
	if err != nil {
		t.Fatalf("open %s: %v", raw, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func run(t *testing.T, from, to string, opts migrate.Options) (*migrate.Report, error) {
	t.Helper()
	a := open(t, from, false)
	b := open(t, to, true)
	var buf bytes.Buffer
	if opts.Progress == nil {
		opts.Progress = &buf
	}
	r, err := migrate.Run(ctx, a, b, opts)
	if err == nil && opts.Progress == &buf && !strings.Contains(buf.String(), "verified") {
		t.Fatalf("no progress output:\n%s", buf.String())
	}
	a.Close()
	b.Close()
	return r, err
}

func mustRun(t *testing.T, from, to string, opts migrate.Options) *migrate.Report {
	t.Helper()
	r, err := run(t, from, to, opts)
	if err != nil {
		t.Fatalf("migrate %s -> %s: %v", from, to, err)
	}
	if !r.Verified || r.SourceLedgerSHA256 != r.TargetLedgerSHA256 {
		t.Fatalf("report %+v", r)
	}
	return r
}

// populate fills a file workspace with every kind of data: write-backs
// (successes, skips, refusals), registry records, a batch declaration and
// a consolidated summary, a foreign line the stores skip, scenes with
// flat, materialized and versioned bodies, patched bodies and a planted
// body with unusual number literals.
func populate(t *testing.T, root string, round int) {
	t.Helper()
	led := openLedger(t, root)
	defer led.Close()
	batch := fmt.Sprintf("batch-%d", round)
	tracks := storetest.Tracks(batch, 3)
	for _, tt := range tracks {
		if err := led.AppendRegistry(ctx, storetest.Registry(tt.TaskID, writeback.StatusDispatched)); err != nil {
			t.Fatal(err)
		}
		for _, verdict := range []string{writeback.AuthoritativePass, writeback.AuthoritativePass, "PASS"} {
			b := storetest.Binding(tt.TaskID, tt.TrackID, batch)
			b.AuthoritativeVerdict = verdict
			if _, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: b}); err != nil {
				t.Fatal(err)
			}
		}
	}
	self := storetest.Binding("self-"+batch, "T1", batch)
	self.ExecutorKey = self.CollectorKey
	if _, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: self}); err != nil {
		t.Fatal(err)
	}
	if err := led.DeclareBatch(ctx, writeback.Batch{BatchID: batch, Tracks: tracks}); err != nil {
		t.Fatal(err)
	}
	if res, err := led.Settle(ctx, batch, tracks, "T3"); err != nil || !res.FirstConsolidation {
		t.Fatalf("settle: %+v %v", res, err)
	}
	sc := openScenes(t, root)
	defer sc.Close()
	plan := scene.Plan{Root: storetest.Tree(fmt.Sprintf(`{"sequences": {"S%d": {"shots": [{"shot_id": "a", "d": 1.50}, {"id": "b"}]}}}`, round))}
	if _, err := sc.InitFromPlan(ctx, storetest.Project, storetest.Episode, plan, 3, false); err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewSource(int64(round)))
	for i := range 2 {
		b := fmt.Sprintf("B%d_%d", round, i)
		s1, err := scene.FromTree(storetest.GenTree(rng, b, 4))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.SaveRunner(ctx, storetest.Ref(b), 1, "", s1); err != nil {
			t.Fatal(err)
		}
		s2 := s1.Clone()
		s2.Beats = s2.Beats[:3]
		if _, err := sc.WriteCandidate(ctx, storetest.Ref(b), s2, "rederive", true); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.PatchStatus(ctx, storetest.Ref(b), 2, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`)); err != nil {
			t.Fatal(err)
		}
	}
	odd := fmt.Sprintf(`{"schema_version": 1, "scene_id": "ODD%d", "beats": [{"beat_id": "x", "beat_metadata": {"plan_shot": {"n": 1.50, "e": 1E+2, "big": 123456789012345678901234567890}}}], "scene_metadata": {"\u00e9": "caf\u00e9"}}`, round)
	if err := sc.PutSceneFile(ctx, storetest.Project, fmt.Sprintf("ep_001_ODD%d.json", round), []byte(odd)); err != nil {
		t.Fatal(err)
	}
}

// ledgerLines returns a file ledger's record lines (lines that decode).
func ledgerLines(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if _, ok := writeback.DecodeLine([]byte(strings.TrimSuffix(l, "\n"))); ok {
			out = append(out, l)
		}
	}
	return out
}

// files maps every file under root's memory/events (but the ledger) and
// projects directories to its content; lock files are left out.
func files(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range []string{"memory/events/batches", "memory/events/batch_summaries", "projects"} {
		err := filepath.Walk(filepath.Join(root, dir), func(p string, fi os.FileInfo, err error) error {
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil || fi.IsDir() || strings.HasSuffix(p, ".lock") {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out[rel] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sameFiles(t *testing.T, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d files vs %d", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("file %s differs", k)
		}
	}
}

func counts(c migrate.Counts) string {
	return fmt.Sprintf("source=%d target=%d copied=%d same=%d replaced=%d", c.Source, c.Target, c.Copied, c.Same, c.Replaced)
}

// TestFileToFile needs no database: the migration logic on two
// workspaces, round trip byte for byte, idempotent re-run, catch-up.
func TestFileToFile(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "new")
	populate(t, src, 1)
	// A foreign line every reader skips: not a record, not copied.
	f, err := os.OpenFile(filepath.Join(src, filepath.FromSlash(writeback.DefaultLedgerRelPath)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, `{"schema": "something_else.v1"}`)
	f.Close()

	r := mustRun(t, "file:"+src, "file:"+dst, migrate.Options{})
	if r.Records.Copied != r.Records.Source || r.Records.Source == 0 || r.Summaries.Copied != 1 || r.Batches.Copied != 1 || r.SceneFiles.Copied == 0 {
		t.Fatalf("first run: records %s batches %s summaries %s scenes %s", counts(r.Records), counts(r.Batches), counts(r.Summaries), counts(r.SceneFiles))
	}
	if got, want := ledgerLines(t, dst), ledgerLines(t, src); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatal("the target ledger's records differ from the source's")
	}
	sameFiles(t, files(t, src), files(t, dst))

	// A re-run copies nothing.
	r = mustRun(t, "file:"+src, "file:"+dst, migrate.Options{})
	if r.Records.Copied != 0 || r.Records.Same != r.Records.Source || r.SceneFiles.Copied != 0 || r.Summaries.Copied != 0 || r.Batches.Copied != 0 {
		t.Fatalf("re-run copied: records %s scenes %s", counts(r.Records), counts(r.SceneFiles))
	}
	// More on the source: only the new records are appended.
	before := r.Records.Source
	populate(t, src, 2)
	r = mustRun(t, "file:"+src, "file:"+dst, migrate.Options{})
	if r.Records.Same != before || r.Records.Copied != r.Records.Source-before || r.Summaries.Copied != 1 {
		t.Fatalf("catch-up: records %s summaries %s", counts(r.Records), counts(r.Summaries))
	}
	if got, want := ledgerLines(t, dst), ledgerLines(t, src); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatal("after catch-up the ledgers differ")
	}
	sameFiles(t, files(t, src), files(t, dst))
}

func TestRefusals(t *testing.T) {
	base := t.TempDir()
	populate(t, base, 1)
	clone := func() (string, string) {
		src, dst := t.TempDir(), t.TempDir()
		mustRun(t, "file:"+base, "file:"+src, migrate.Options{})
		mustRun(t, "file:"+base, "file:"+dst, migrate.Options{})
		return src, dst
	}
	ledgerOf := func(root string) string {
		b, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath)))
		return string(b)
	}
	writeback1 := func(root, task string) {
		led := openLedger(t, root)
		defer led.Close()
		if _, err := led.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(task, "T1", "x")}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("target ledger diverged", func(t *testing.T) {
		src, dst := clone()
		writeback1(src, "on-source")
		writeback1(dst, "on-target")
		before := files(t, dst)
		led := ledgerOf(dst)
		_, err := run(t, "file:"+src, "file:"+dst, migrate.Options{})
		storetest.WantCode(t, err, settle.VersionConflict)
		if ledgerOf(dst) != led {
			t.Fatal("a refused migration wrote the ledger")
		}
		sameFiles(t, before, files(t, dst))
	})
	t.Run("target ledger longer", func(t *testing.T) {
		src, dst := clone()
		writeback1(dst, "on-target")
		_, err := run(t, "file:"+src, "file:"+dst, migrate.Options{})
		storetest.WantCode(t, err, settle.VersionConflict)
	})
	t.Run("scene file differs", func(t *testing.T) {
		src, dst := clone()
		sc := openScenes(t, src)
		if _, err := sc.PatchStatus(ctx, storetest.Ref("B1_0"), 2, []byte(`[{"op": "replace", "path": "/locked", "value": true}]`)); err != nil {
			t.Fatal(err)
		}
		sc.Close()
		writeback1(src, "more")
		led := ledgerOf(dst)
		_, err := run(t, "file:"+src, "file:"+dst, migrate.Options{})
		storetest.WantCode(t, err, settle.VersionConflict)
		if !strings.Contains(err.Error(), "ep_001_B1_0.v002.json") || ledgerOf(dst) != led {
			t.Fatalf("refusal %v; ledger written: %v", err, ledgerOf(dst) != led)
		}
		r := mustRun(t, "file:"+src, "file:"+dst, migrate.Options{Overwrite: true})
		if r.SceneFiles.Replaced != 1 || r.Records.Copied != 2 {
			t.Fatalf("overwrite: scenes %s records %s", counts(r.SceneFiles), counts(r.Records))
		}
		sameFiles(t, files(t, src), files(t, dst))
	})
	t.Run("summary differs", func(t *testing.T) {
		src, dst := clone()
		p := filepath.Join(dst, filepath.FromSlash(writeback.SummariesRelDir), "batch-1.json")
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := run(t, "file:"+src, "file:"+dst, migrate.Options{Overwrite: true})
		storetest.WantCode(t, err, settle.VersionConflict)
	})
	t.Run("bad urls", func(t *testing.T) {
		for _, u := range []string{"s3://bucket", "file://host/x", "file:" + filepath.Join(base, "missing")} {
			if _, err := migrate.Open(ctx, u, migrate.OpenOptions{Logger: quiet()}); settle.ErrorCode(err) != settle.InvalidInput {
				t.Fatalf("%s: %v", u, err)
			}
		}
		e, err := migrate.Open(ctx, "file://"+base, migrate.OpenOptions{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
	})
}

// TestFileToPostgresAndBack: file -> PostgreSQL -> file round trips byte
// for byte (ledger lines, batch and summary files, every scene file); a
// re-run copies nothing; the PostgreSQL store then serves the same data.
func TestFileToPostgresAndBack(t *testing.T) {
	pg := pgURL(t)
	src, back := t.TempDir(), t.TempDir()
	populate(t, src, 1)
	r := mustRun(t, "file:"+src, pg, migrate.Options{})
	if r.Records.Copied == 0 || r.Records.Copied != r.Records.Source || r.SceneFiles.Copied == 0 || r.Summaries.Copied != 1 {
		t.Fatalf("file -> pg: records %s scenes %s", counts(r.Records), counts(r.SceneFiles))
	}
	r = mustRun(t, "file:"+src, pg, migrate.Options{})
	if r.Records.Copied != 0 || r.SceneFiles.Copied != 0 || r.Batches.Copied != 0 {
		t.Fatalf("re-run copied: records %s scenes %s", counts(r.Records), counts(r.SceneFiles))
	}
	populate(t, src, 2)
	r = mustRun(t, "file:"+src, pg, migrate.Options{})
	if r.Records.Same == 0 || r.Records.Copied == 0 {
		t.Fatalf("catch-up: %s", counts(r.Records))
	}
	r2 := mustRun(t, pg, "file:"+back, migrate.Options{})
	if r2.Records.Copied != r.Records.Source || r2.SourceLedgerSHA256 != r.SourceLedgerSHA256 {
		t.Fatalf("pg -> file: %s sha %s vs %s", counts(r2.Records), r2.SourceLedgerSHA256, r.SourceLedgerSHA256)
	}
	if got, want := ledgerLines(t, back), ledgerLines(t, src); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatal("the round-tripped ledger differs")
	}
	sameFiles(t, files(t, src), files(t, back))

	// The PostgreSQL store serves what the file store served.
	s := openPostgres(t, pg)
	defer s.Close()
	fl := openLedger(t, src)
	defer fl.Close()
	fs := openScenes(t, src)
	defer fs.Close()
	tracks := storetest.Tracks("batch-1", 3)
	for _, st := range []writeback.Store{fl, s} {
		res, err := st.Settle(ctx, "batch-1", tracks, "T3")
		if err != nil || res.FirstConsolidation || res.Result.Decision != writeback.AllSettledConsolidate {
			t.Fatalf("settle after migration: %+v %v", res, err)
		}
		out, err := st.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(tracks[0].TaskID, "T1", "batch-1"), DryRun: true})
		if err != nil || out.Decision.Classification != writeback.WritebackIdempotentSkip {
			t.Fatalf("a migrated write-back is not a skip: %+v %v", out.Decision.Classification, err)
		}
	}
	fsum, err := fl.Summary(ctx, "batch-1")
	if err != nil {
		t.Fatal(err)
	}
	psum, err := s.Summary(ctx, "batch-1")
	if err != nil || psum.WrittenAt != fsum.WrittenAt || len(psum.Records) != len(fsum.Records) {
		t.Fatalf("summary %+v %v", psum, err)
	}
	for _, b := range []string{"S1", "B1_0", "B2_1", "ODD1"} {
		want, err := fs.Load(ctx, storetest.Ref(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, storetest.Ref(b))
		if err != nil || got.Version != want.Version || got.Fingerprint != want.Fingerprint {
			t.Fatalf("scene %s: v%d %s, want v%d %s (%v)", b, got.Version, got.Fingerprint, want.Version, want.Fingerprint, err)
		}
		wv, _ := fs.Versions(ctx, storetest.Ref(b))
		gv, _ := s.Versions(ctx, storetest.Ref(b))
		wj, _ := json.Marshal(wv)
		gj, _ := json.Marshal(gv)
		if len(wv) == 0 || string(wj) != string(gj) {
			t.Fatalf("versions of %s differ", b)
		}
	}
	names, _ := s.List(ctx, storetest.Project, storetest.Episode)
	want, _ := fs.List(ctx, storetest.Project, storetest.Episode)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("List %v, want %v", names, want)
	}

	// A divergent PostgreSQL target is refused.
	if _, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding("pg-only", "T1", "x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding("file-only", "T1", "x")}); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "file:"+src, pg, migrate.Options{})
	storetest.WantCode(t, err, settle.VersionConflict)
}

// TestHardeningI_MigrateControlCharacterIDs: a file workspace whose ledger
// holds ids with U+0000 and U+0001 moves to PostgreSQL and back byte for
// byte, and the PostgreSQL store answers for those ids as the file store.
func TestHardeningI_MigrateControlCharacterIDs(t *testing.T) {
	pg := pgURL(t)
	src, back := t.TempDir(), t.TempDir()
	const task, batch = "nul\x00task", "B\x01nul"
	fl := openLedger(t, src)
	defer fl.Close()
	for _, b := range []writeback.Binding{storetest.Binding(task, "T\x00", batch), storetest.Binding("plain", "T1", batch)} {
		if _, err := fl.Writeback(ctx, writeback.WritebackRequest{Binding: b}); err != nil {
			t.Fatal(err)
		}
	}
	c := storetest.Binding(task, "T\x00", batch)
	c.AuthoritativeVerdict = "PASS"
	if out, err := fl.Writeback(ctx, writeback.WritebackRequest{Binding: c}); err != nil || !out.ConflictRecorded {
		t.Fatalf("conflict: %+v %v", out, err)
	}
	// A registry line another tool wrote, its task id a lone surrogate
	// (not UTF-8 once decoded; text cannot hold it either).
	lf, err := os.OpenFile(fl.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	foreign := `{"schema": "callback_4tuple_ledger_record.v1", "task_id": "sur\ud800", "dispatch_id": "d", "status": "REGISTERED"}` + "\n"
	if _, err := lf.WriteString(foreign); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	page, err := fl.Records(ctx, writeback.RecordQuery{Kind: writeback.KindRegistry, After: -1})
	if err != nil {
		t.Fatal(err)
	}
	surrogate := page.Records[len(page.Records)-1].Registry.TaskID
	mustRun(t, "file:"+src, pg, migrate.Options{})
	mustRun(t, pg, "file:"+back, migrate.Options{})
	if got, want := ledgerLines(t, back), ledgerLines(t, src); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatal("the round-tripped ledger differs")
	}
	s := openPostgres(t, pg)
	defer s.Close()
	for _, st := range []writeback.Store{fl, s} {
		if h, err := st.RegistryHistory(ctx, surrogate); err != nil || len(h) != 1 || h[0].TaskID != surrogate {
			t.Fatalf("%T history of %q: %+v %v", st, surrogate, h, err)
		}
	}
	for _, st := range []writeback.Store{fl, s} {
		h, err := st.RegistryHistory(ctx, task)
		if err != nil || len(h) != 1 || h[0].TaskID != task {
			t.Fatalf("%T history: %+v %v", st, h, err)
		}
		page, err := st.Records(ctx, writeback.RecordQuery{TaskID: task, After: -1})
		if err != nil || len(page.Records) != 3 {
			t.Fatalf("%T records of the task: %d %v", st, len(page.Records), err)
		}
		out, err := st.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(task, "T\x00", batch), DryRun: true})
		if err != nil || out.Decision.Classification != writeback.WritebackIdempotentSkip {
			t.Fatalf("%T: a migrated write-back is not a skip: %s %v", st, out.Decision.Classification, err)
		}
	}
}
