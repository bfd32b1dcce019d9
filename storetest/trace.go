package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// timePlaceholder replaces the clock's values in a transcript.
const timePlaceholder = "<time>"

func errLine(err error) string {
	if err == nil {
		return "ok"
	}
	return "error " + string(settle.ErrorCode(err))
}

func jsonLine(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recordLine renders a record as its canonical ledger line, with the
// conflict's recorded_at (a clock value) replaced.
func recordLine(t testing.TB, r writeback.LedgerRecord) string {
	t.Helper()
	v := r.Body()
	if conflict, ok := v.(*writeback.ConflictRecord); ok {
		c := *conflict
		c.RecordedAt = timePlaceholder
		v = &c
	}
	line, err := writeback.EncodeLine(v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s %s", r.Seq, r.Kind, strings.TrimSuffix(string(line), "\n"))
}

// LedgerTrace runs one fixed script of ledger operations on an empty
// store — registry appends, write-backs of every classification, dry
// runs, settle evaluations, batches, summaries, record pages — and
// returns a transcript of every outcome with clock values replaced. Two
// stores that behave the same give equal transcripts.
func LedgerTrace(t testing.TB, s writeback.Store) []string {
	t.Helper()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	do := func(name string, r writeback.WritebackRequest) {
		o, err := s.Writeback(bg, r)
		add("writeback %s: %s %s conflict=%v", name, errLine(err), jsonLine(t, o.Decision), o.ConflictRecorded)
	}
	reg := func(task, status string, f func(*writeback.RegistryRecord)) {
		r := Registry(task, status)
		if f != nil {
			f(&r)
		}
		add("registry %s %s: %s", task, status, errLine(s.AppendRegistry(bg, r)))
	}
	settleB := func(batch string, tracks []writeback.TrackTask, this string) {
		o, err := s.Settle(bg, batch, tracks, this)
		add("settle %s %s: %s first=%v %s", batch, this, errLine(err), o.FirstConsolidation, jsonLine(t, o.Result))
	}

	tracks := Tracks("tb", 3)
	reg(tracks[0].TaskID, writeback.StatusRegistered, nil)
	reg(tracks[0].TaskID, writeback.StatusDispatched, nil)
	reg(tracks[1].TaskID, writeback.StatusRegistered, func(r *writeback.RegistryRecord) { r.DispatchID = "other" })
	reg("bad", "BOGUS", nil)
	settleB("tb", tracks, "T1")
	for _, tt := range tracks {
		do(tt.TrackID, req(Binding(tt.TaskID, tt.TrackID, "tb")))
	}
	derived := Binding(tracks[1].TaskID, "T2", "tb")
	derived.DispatchID = writeback.DerivedDispatchPrefix + "d"
	do("derived", req(derived))
	do("skip", req(Binding(tracks[0].TaskID, "T1", "tb")))
	c := Binding(tracks[0].TaskID, "T1", "tb")
	c.AuthoritativeVerdict = "PASS"
	do("conflict", req(c))
	do("conflict again", req(c))
	dry := req(Binding("dry", "T1", "tb"))
	dry.DryRun = true
	do("dry", dry)
	for i, rf := range refusals() {
		if rf.setup != nil {
			continue
		}
		do(fmt.Sprintf("refusal %d %s", i, rf.name), rf.request())
	}
	settleB("tb", tracks, "T3")
	settleB("tb", tracks, "T3")
	last := Binding(tracks[2].TaskID, "T3", "tb")
	last.DispatchID = writeback.DerivedDispatchPrefix + "late"
	last.AuthoritativeVerdict = "ACCEPTED"
	do("late accepted", req(last))
	settleB("tb", tracks, "T3")
	settleB("", tracks, "")
	sum, err := s.Summary(bg, "tb")
	sum.WrittenAt = timePlaceholder
	add("summary tb: %s %s", errLine(err), jsonLine(t, sum))
	_, err = s.Summary(bg, "none")
	add("summary none: %s", errLine(err))
	add("declare: %s", errLine(s.DeclareBatch(bg, writeback.Batch{BatchID: "tb", Tracks: tracks})))
	add("declare empty: %s", errLine(s.DeclareBatch(bg, writeback.Batch{BatchID: "tb"})))
	b, err := s.GetBatch(bg, "tb")
	add("batch tb: %s %s", errLine(err), jsonLine(t, b))
	for _, task := range []string{tracks[0].TaskID, tracks[1].TaskID, "none"} {
		h, err := s.RegistryHistory(bg, task)
		cl, cerr := s.Classify(bg, task)
		add("history %s: %s %s classify %s %s", task, errLine(err), jsonLine(t, h), errLine(cerr), cl)
	}
	for _, q := range []writeback.RecordQuery{
		{After: -1, Limit: 1000},
		{After: 3, Limit: 4},
		{Kind: writeback.KindConflict, After: -1},
		{BatchID: "tb", Kind: writeback.KindDurable, After: 2, Limit: 2},
		{TaskID: tracks[1].TaskID, After: -1},
		{Kind: "nope", After: -1},
	} {
		p, err := s.Records(bg, q)
		add("records %+v: %s next=%d n=%d", q, errLine(err), p.Next, len(p.Records))
		for _, r := range p.Records {
			add("  %s", recordLine(t, r))
		}
	}
	return out
}

// loadedLine renders a loaded scene.
func loadedLine(t testing.TB, ld scene.Loaded, err error) string {
	t.Helper()
	if err != nil || ld.Scene == nil {
		return errLine(err)
	}
	return fmt.Sprintf("v%d %s rev %s %s", ld.Version, ld.Fingerprint, ld.Revision, bodyText(t, ld.Scene))
}

// SceneTrace runs one fixed script of scene operations on an empty store
// and returns a transcript of every outcome (bodies as their stored text,
// manifest times replaced). Two stores that behave the same give equal
// transcripts.
func SceneTrace(t testing.TB, s scene.Store) []string {
	t.Helper()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	rng := rand.New(rand.NewSource(42))
	gen := func(batch string, n int) *scene.Scene { return Hydrate(t, GenTree(rng, batch, n)) }
	load := func(batch string) {
		ld, err := s.Load(bg, Ref(batch))
		add("load %s: %s", batch, loadedLine(t, ld, err))
	}
	versions := func(batch string) {
		vs, err := s.Versions(bg, Ref(batch))
		for i := range vs {
			if vs[i].CreatedAt != nil {
				p := timePlaceholder
				vs[i].CreatedAt = &p
			}
		}
		add("versions %s: %s %s", batch, errLine(err), jsonLine(t, vs))
	}
	list := func(ep string) {
		names, err := s.List(bg, Project, ep)
		add("list %s: %s %v", ep, errLine(err), names)
	}

	plan := planOf(`{"sequences": {"S1": {"shots": [{"shot_id": "a", "x": 1.0}, {"id": "b"}]}, "S2": {"shots": []}}}`)
	res, err := s.InitFromPlan(bg, Project, Episode, plan, 3, true)
	add("init dry: %s %d", errLine(err), len(res))
	list(Episode)
	res, err = s.InitFromPlan(bg, Project, Episode, plan, 3, false)
	add("init: %s", errLine(err))
	for _, r := range res {
		add("  %s created=%v %s", r.Batch, r.Created, bodyText(t, r.Scene))
	}
	load("S1")
	versions("S1")
	ld, err := s.PatchStatus(bg, Ref("S1"), 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`))
	add("patch S1: %s", loadedLine(t, ld, err))
	_, err = s.PatchStatus(bg, Ref("S1"), 2, []byte(`[]`))
	add("patch S1 v2: %s", errLine(err))
	_, err = s.PatchStatus(bg, Ref("S1"), 1, []byte(`[{"op": "remove", "path": "/beats/0"}]`))
	add("patch S1 structure: %s", errLine(err))

	b := gen("B", 4)
	v, err := s.WriteCandidate(bg, Ref("B"), b, "first", false)
	add("candidate B: %d %s", v, errLine(err))
	b2 := Restructure(b, "two")
	v, err = s.WriteCandidate(bg, Ref("B"), b2, "second", false)
	add("candidate B2: %d %s", v, errLine(err))
	v, err = s.WriteCandidate(bg, Ref("B"), b2.Clone(), "dup", true)
	add("candidate B2 dup: %d %s", v, errLine(err))
	v, err = s.WriteCandidate(bg, Ref("B"), gen("X", 1), "", true)
	add("candidate identity: %d %s", v, errLine(err))
	versions("B")
	load("B")
	add("activate B 1: %s", errLine(s.Activate(bg, Ref("B"), 1)))
	add("activate B 9: %s", errLine(s.Activate(bg, Ref("B"), 9)))
	load("B")
	ld, err = s.LoadVersion(bg, Ref("B"), 2)
	add("load B v2: %s", loadedLine(t, ld, err))
	runner := b.Clone()
	runner.Beats[0].Takes = append(runner.Beats[0].Takes, &scene.Take{TakeID: "r1", Status: scene.TakeRunning})
	base, err := s.Load(bg, Ref("B"))
	add("load B for the runner: %s", errLine(err))
	sr, err := s.SaveRunner(bg, Ref("B"), 1, base.Revision, runner)
	add("save runner B: %s", loadedLine(t, sr, err))
	sr, err = s.SaveRunner(bg, Ref("B"), 1, base.Revision, runner)
	add("save runner B again from the same base: %s", errLine(err))
	sr, err = s.SaveRunner(bg, Ref("C"), 1, "", gen("C", 2))
	add("save runner C cold: %s", loadedLine(t, sr, err))
	v, err = s.WriteCandidate(bg, Ref("C"), Restructure(gen("C", 2), "c2"), "c2", false)
	add("candidate C: %d %s", v, errLine(err))
	versions("C")
	running := Tree(`{"scene_id": "R", "beats": [{"beat_id": "S1", "takes": [
		{"take_id": "old", "status": "running", "started_at": "2026-06-03T10:01:00+00:00"},
		{"take_id": "young", "status": "running", "started_at": "2026-06-03T10:08:00+00:00"}]}], "scene_metadata": {}}`)
	_, err = s.SaveRunner(bg, Ref("R"), 1, "", Hydrate(t, running))
	add("save runner R: %s", errLine(err))
	n, err := s.RecoverStale(bg, Ref("R"), 0, time.Date(2026, 6, 3, 10, 10, 0, 0, time.UTC))
	add("recover R: %d %s", n, errLine(err))
	load("R")
	res, err = s.InitFromPlan(bg, Project, Episode, plan, 5, false)
	add("init again: %s", errLine(err))
	for _, r := range res {
		add("  %s created=%v %s", r.Batch, r.Created, bodyText(t, r.Scene))
	}
	list(Episode)
	list("ep_002")
	_, err = s.Load(bg, scene.Ref{Project: Project, Episode: "x", Batch: "B"})
	add("load bad episode: %s", errLine(err))
	load("NONE")
	return out
}

// CompareTraces fails with the first differing line of two transcripts.
func CompareTraces(t testing.TB, nameA string, a []string, nameB string, b []string) {
	t.Helper()
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			t.Fatalf("transcripts differ at line %d:\n%s: %s\n%s: %s", i+1, nameA, x, nameB, y)
		}
	}
}
