package file_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// hdNest is a JSON text of n nested arrays around a 1: depth n.
func hdNest(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

// hdWantLimit checks that err is InvalidInput naming the limit.
func hdWantLimit(t *testing.T, err error, limit string) {
	t.Helper()
	storetest.WantCode(t, err, settle.InvalidInput)
	if !strings.Contains(err.Error(), limit) {
		t.Fatalf("refusal does not name %s: %v", limit, err)
	}
}

// hdDepth is the nesting depth of a JSON document.
func hdDepth(t *testing.T, data []byte) int {
	t.Helper()
	v, err := pyjson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for d := 0; ; d++ {
		if !pyjson.DepthExceeds(v, d) {
			return d
		}
	}
}

// TestHardeningB_DeepPatchRefused: a patch that would write a body deeper
// than MaxJSONDepth (the 9,990-deep value, or a shallow value added
// deep in the scene), larger than MaxSceneBytes, or a patch over
// MaxPatchBytes or MaxPatchOps, is refused with InvalidInput naming the limit,
// and nothing is written.
func TestHardeningB_DeepPatchRefused(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	ref := storetest.Ref("BATCH_A")
	base := storetest.Hydrate(t, storetest.Tree(`{"scene_id": "BATCH_A", "beats": [{"beat_id": "S01", "takes": [{"take_id": "t1"}]}], "scene_metadata": {}}`))
	storetest.OK(t, s.Save(scCtx, ref, base))

	big := strings.Repeat("x", 900<<10)
	copies := `[{"op": "add", "path": "/scene_metadata/a", "value": "` + big + `"}`
	for _, k := range []string{"b", "c", "d", "e"} {
		copies += `, {"op": "copy", "from": "/scene_metadata/a", "path": "/scene_metadata/` + k + `"}`
	}
	copies += "]"
	manyOps := "[" + strings.TrimSuffix(strings.Repeat(`{"op": "test", "path": "/scene_id", "value": "BATCH_A"}, `, settle.MaxPatchOps+1), ", ") + "]"
	cases := []struct {
		name, patch, limit string
	}{
		{"issue's 9990-deep value", `[{"op": "add", "path": "/scene_metadata/x", "value": ` + hdNest(9990) + `}]`, "MaxJSONDepth"},
		// The patch is 63 deep; the take it lands in is at depth 5.
		{"shallow value added deep", `[{"op": "add", "path": "/beats/0/takes/0/receipt", "value": {"r": ` + hdNest(60) + `}}]`, "MaxJSONDepth"},
		{"copies past the body size", copies, "MaxSceneBytes"},
		{"patch over MaxPatchBytes", `[{"op": "add", "path": "/scene_metadata/x", "value": "` + strings.Repeat("y", settle.MaxPatchBytes) + `"}]`, "MaxPatchBytes"},
		{"too many operations", manyOps, "MaxPatchOps"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := scSnapshot(t, root)
			_, err := s.PatchStatus(scCtx, ref, 1, []byte(c.patch))
			hdWantLimit(t, err, c.limit)
			storetest.SameSnapshot(t, before, scSnapshot(t, root))
		})
	}

	// A scene given whole (runner save, candidate) is held to the same
	// limits.
	deep := storetest.Hydrate(t, storetest.Tree(`{"scene_id": "BATCH_A", "beats": [{"beat_id": "S01", "takes": [{"take_id": "t1", "receipt": {"x": `+hdNest(80)+`}}]}], "scene_metadata": {}}`))
	before := scSnapshot(t, root)
	_, err := s.WriteCandidate(scCtx, ref, deep, "deep", true)
	hdWantLimit(t, err, "MaxJSONDepth")
	ldA, err := s.Load(scCtx, ref)
	storetest.OK(t, err)
	_, err = s.SaveRunner(scCtx, ref, 1, ldA.Revision, deep)
	hdWantLimit(t, err, "MaxJSONDepth")
	storetest.SameSnapshot(t, before, scSnapshot(t, root))
	_, err = scene.DecodeInput([]byte(`{"scene_id": "B", "beats": [], "scene_metadata": {"x": ` + hdNest(9990) + `}}`))
	hdWantLimit(t, err, "MaxJSONDepth")
}

// TestHardeningB_PythonReadsBackAtLimits: bodies settle writes at the
// maximum depth and close to the maximum size are read back, and written
// again, by the Python seed (json.load under Python's recursion limit).
func TestHardeningB_PythonReadsBackAtLimits(t *testing.T) {
	root := t.TempDir()
	s := scOpen(t, root)
	ref := storetest.Ref("BATCH_A")
	// root (1) > scene_metadata (2) > 62 nested arrays: depth 64.
	tree := storetest.Tree(`{"scene_id": "BATCH_A", "beats": [{"beat_id": "S01", "takes": [{"take_id": "t1"}]}], "scene_metadata": {"deep": ` + hdNest(settle.MaxJSONDepth-2) + `}}`)
	storetest.OK(t, s.Save(scCtx, ref, storetest.Hydrate(t, tree)))
	// Patches (each under MaxPatchBytes) fill the body to within 64 KiB of
	// MaxSceneBytes.
	room := settle.MaxSceneBytes - (64 << 10) - len(scReadRaw(t, root, storetest.Token+"_BATCH_A.json"))
	if _, err := s.PatchStatus(scCtx, ref, 1, []byte(`[{"op": "add", "path": "/beats/0/takes/0/receipt", "value": {}}]`)); err != nil {
		t.Fatal(err)
	}
	var ld scene.Loaded
	for i := 0; i < 5; i++ {
		chunk := strings.Repeat("z", room/5-32)
		var err error
		ld, err = s.PatchStatus(scCtx, ref, 1, []byte(fmt.Sprintf(`[{"op": "add", "path": "/beats/0/takes/0/receipt/fill%d", "value": "%s"}]`, i, chunk)))
		storetest.OK(t, err)
	}
	fill := strings.Repeat("z", room-(64<<10))
	body := []byte(scReadRaw(t, root, storetest.Token+"_BATCH_A.json"))
	if d := hdDepth(t, body); d != settle.MaxJSONDepth {
		t.Fatalf("body depth %d, want %d", d, settle.MaxJSONDepth)
	}
	if len(body) > settle.MaxSceneBytes || len(body) < settle.MaxSceneBytes-(128<<10) {
		t.Fatalf("body of %d bytes, want close to %d", len(body), settle.MaxSceneBytes)
	}
	// A candidate at the same limits makes a versioned batch too.
	cand := storetest.Hydrate(t, storetest.Tree(`{"scene_id": "BATCH_B", "beats": [{"beat_id": "S01", "takes": [{"take_id": "t1", "receipt": {"fill": "`+fill+`"}}]}], "scene_metadata": {"deep": `+hdNest(settle.MaxJSONDepth-2)+`}}`))
	v, err := s.WriteCandidate(scCtx, storetest.Ref("BATCH_B"), cand, "at the limits", true)
	storetest.OK(t, err)
	ldB, err := s.Load(scCtx, storetest.Ref("BATCH_B"))
	storetest.OK(t, err)

	res := scRunSeed(t, root, []map[string]any{
		scOp("load", "BATCH_A"),
		scOp("load", "BATCH_B"),
		scOp("status", "BATCH_A", "expected_version", 1, "patch", json.RawMessage(`[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "succeeded"}]`)),
		scOp("load", "BATCH_A"),
	})
	for i, r := range res {
		scSeedOK(t, r, []string{"load A", "load B", "status A", "reload A"}[i])
	}
	if fp := scSeedString(t, res[0], "fingerprint"); fp != ld.Fingerprint {
		t.Fatalf("seed fingerprint of A %s, settle %s", fp, ld.Fingerprint)
	}
	if fp := scSeedString(t, res[1], "fingerprint"); fp != ldB.Fingerprint || scSeedInt(t, res[1], "version") != v {
		t.Fatalf("seed reads B as v%d %s, settle v%d %s", scSeedInt(t, res[1], "version"), fp, v, ldB.Fingerprint)
	}
	// And settle reads what the seed rewrote.
	if _, err := s.Load(scCtx, ref); err != nil {
		t.Fatalf("settle cannot read the seed's rewrite: %v", err)
	}
}

// hdMaxBinding is a binding whose ids are MaxIDBytes long and whose other
// strings are MaxTextBytes long (the verdict stays a valid pass).
func hdMaxBinding() writeback.Binding {
	pad := func(s string, n int) string { return s + strings.Repeat("i", n-len(s)) }
	b := storetest.Binding(pad("task-", settle.MaxIDBytes), pad("T", settle.MaxIDBytes), pad("B-", settle.MaxNameBytes)) // a batch id is a file name: docs/names.md
	b.DispatchID = pad("d-", settle.MaxIDBytes)
	b.NormalCollectorCronID = pad("ncc-", settle.MaxIDBytes)
	b.ExecutorKey = pad("exec", settle.MaxIDBytes)
	b.ChatID = pad("chat", settle.MaxIDBytes)
	b.CompletedAt = pad("2025-11-22T09:00:00+09:00 ", settle.MaxTextBytes)
	b.SourceResultPath = pad("memory/results/", settle.MaxTextBytes)
	return b
}

// TestHardeningJ_BindingLimits: an id over MaxIDBytes (the 20M
// characters) or another string over MaxTextBytes is refused by the store
// before anything is written, dry run or not; a registry record likewise.
// Records at the limits are written and read back by the Python seed.
func TestHardeningJ_BindingLimits(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	path := lgLedgerPath(root)

	huge := storetest.Binding(strings.Repeat("t", 20_000_000), "T1", "B1")
	for _, dry := range []bool{false, true} {
		_, err := l.Writeback(lgCtx, writeback.WritebackRequest{Binding: huge, DryRun: dry})
		hdWantLimit(t, err, "MaxIDBytes")
	}
	long := storetest.Binding("task-1", "T1", "B1")
	long.SourceResultPath = strings.Repeat("p", settle.MaxTextBytes+1)
	_, err := l.Writeback(lgCtx, lgReq(long))
	hdWantLimit(t, err, "MaxTextBytes")
	rec := storetest.Registry(strings.Repeat("r", settle.MaxIDBytes+1), writeback.StatusDispatched)
	err = l.AppendRegistry(lgCtx, rec)
	storetest.WantCode(t, err, settle.InvalidInput)
	if !strings.Contains(err.Error(), "MaxIDBytes") {
		t.Fatalf("registry refusal does not name MaxIDBytes: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a refusal created the ledger (stat: %v)", err)
	}

	// At the limits: written, and read by the seed's readers.
	maxB := hdMaxBinding()
	reg := storetest.Registry(maxB.TaskID, writeback.StatusDispatched)
	reg.DispatchID, reg.DispatchCronID, reg.NormalCollectorCronID, reg.ChatID = maxB.DispatchID, maxB.DispatchID, maxB.NormalCollectorCronID, maxB.ChatID
	storetest.OK(t, l.AppendRegistry(lgCtx, reg))
	out := lgWriteback(t, l, maxB)
	if !out.Decision.Appended {
		t.Fatalf("binding at the limits not appended: %s %q", out.Decision.Classification, out.Decision.Reasons)
	}
	ref, python := lgReference(t)
	got := lgSeedReads(t, ref, python, path, maxB.TaskID)
	if got.Durable != 1 || got.Registry < 1 || len(got.WritebackIDs) != 1 || got.WritebackIDs[0] != maxB.WritebackID() {
		t.Fatalf("python reads %+v, want the one durable record %s", got, maxB.WritebackID())
	}
}

// TestHardeningL_CheckRecordSchema: Check (settle fsck) flags records that
// the lenient reader accepts but that break their schema: a task_id that is
// a list, missing mandatory fields, a forged writeback_id, a mistyped
// registry field, a conflict whose conflict_id does not match; the records
// settle wrote pass.
func TestHardeningL_CheckRecordSchema(t *testing.T) {
	root := t.TempDir()
	l := lgOpen(t, root)
	path := lgLedgerPath(root)
	storetest.OK(t, l.AppendRegistry(lgCtx, storetest.Registry("task-1", writeback.StatusDispatched)))
	good := storetest.Binding("task-1", "T1", "B1")
	lgWriteback(t, l, good)
	bad := storetest.Binding("task-1", "T1", "B1")
	bad.CollectorRole = "EXECUTOR" // refused: a conflict record
	lgWriteback(t, l, bad)

	valid := map[string]any{}
	if err := json.Unmarshal([]byte(lgLine(t, good.Record(writeback.DurableSuccessWritten))), &valid); err != nil {
		t.Fatal(err)
	}
	variant := func(edit func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	lines := []struct{ line, want string }{
		{variant(func(m map[string]any) { m["task_id"] = []string{"x"} }), "task_id is an array, not a string"},
		{variant(func(m map[string]any) { delete(m, "collector_key"); delete(m, "batch_id") }), "collector_key missing"},
		{variant(func(m map[string]any) { m["writeback_id"] = strings.Repeat("0", 64) }), "does not match the record's content"},
		{variant(func(m map[string]any) { m["track_id"] = "" }), "track_id empty"},
		{strings.Replace(lgLine(t, storetest.Registry("task-2", writeback.StatusDispatched)), `"no_fallback": true`, `"no_fallback": "yes"`, 1), "no_fallback is a string, not a boolean"},
	}
	var conflict string
	for _, rec := range storetest.AllRecords(t, l, writeback.RecordQuery{}) {
		if rec.Kind == writeback.KindConflict {
			conflict = string(rec.Raw)
		}
	}
	if conflict == "" {
		t.Fatal("no conflict record was written")
	}
	cm := map[string]any{}
	if err := json.Unmarshal([]byte(conflict), &cm); err != nil {
		t.Fatal(err)
	}
	cm["conflict_id"] = strings.Repeat("0", 64)
	forged, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, struct{ line, want string }{string(forged) + "\n", "conflict_id"})

	rep, err := l.Check(lgCtx)
	storetest.OK(t, err)
	if !rep.OK() || len(rep.InvalidRecords) != 0 {
		t.Fatalf("records settle wrote are flagged: %+v", rep.InvalidRecords)
	}
	for _, x := range lines {
		file.AppendRawForTest(t, path, x.line)
	}
	rep, err = l.Check(lgCtx)
	storetest.OK(t, err)
	if rep.OK() || len(rep.InvalidRecords) != len(lines) {
		t.Fatalf("%d invalid records flagged, want %d: %+v", len(rep.InvalidRecords), len(lines), rep.InvalidRecords)
	}
	for i, x := range lines {
		got := strings.Join(rep.InvalidRecords[i].Problems, "; ")
		if !strings.Contains(got, x.want) {
			t.Errorf("line %d: problems %q, want %q", rep.InvalidRecords[i].Line, got, x.want)
		}
	}
}

// TestHardeningL_PythonRecordsAreValid: the records the Python seed and the
// reference registry write pass Check's schema checks, including a
// registry record without fallback_callback_cron_id (the registry validates
// with rec.get()).
func TestHardeningL_PythonRecordsAreValid(t *testing.T) {
	root := t.TempDir()
	path := lgLedgerPath(root)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ref, python := lgReference(t)
	script := `
import json, sys
sys.path.insert(0, sys.argv[1])
from anu_v3 import batch_settle_writeback as W
from anu_v3.callback_4tuple_registry import Callback4TupleRegistry, make_record
reg = Callback4TupleRegistry(sys.argv[2])
reg.append(make_record(task_id="t-1", dispatch_id="d-1", dispatch_cron_id="d-1", executor="py",
    chat_id="c", normal_collector_cron_id="n-1", fallback_callback_cron_id=None, role="dispatcher",
    status="DISPATCHED", no_fallback=True, ts_kst="2025-11-22T08:00:00+09:00"))
reg.append({"schema": "callback_4tuple_ledger_record.v1", "task_id": "t-1", "dispatch_id": "d-1",
    "dispatch_cron_id": "d-1", "executor": "py", "chat_id": "c", "normal_collector_cron_id": "n-1",
    "role": "dispatcher", "status": "REGISTERED", "no_fallback": True, "ts_kst": "2025-11-22T08:00:00+09:00"})
b = W.WritebackBinding(task_id="t-1", track_id="T1", dispatch_id="d-1", dispatch_id_source="source_recorded",
    normal_collector_cron_id="n-1", normal_collector_cron_id_source="source_recorded", collector_key="k",
    collector_role="ANU", authoritative_verdict="AUTHORITATIVE_PASS", terminal_status="COMPLETED",
    completed_at="2025-11-22T09:00:00+09:00", source_result_path="r.json", batch_id="B1")
with open(sys.argv[2], "a", encoding="utf-8") as fh:
    fh.write(json.dumps(b.to_record(W.DURABLE_SUCCESS_WRITTEN), ensure_ascii=False, sort_keys=True) + "\n")
`
	if out, err := exec.Command(python, "-c", script, ref, path).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	l := lgOpen(t, root)
	rep, err := l.Check(lgCtx)
	storetest.OK(t, err)
	if rep.Records[writeback.KindDurable] != 1 || rep.Records[writeback.KindRegistry] != 2 {
		t.Fatalf("records %v, want 1 durable and 2 registry", rep.Records)
	}
	if !rep.OK() || len(rep.InvalidRecords) != 0 {
		t.Fatalf("records the Python tools wrote are flagged: %+v", rep.InvalidRecords)
	}
}

// hdFuzzSeeds are inputs at and past the limits, shared by the fuzz targets.
func hdFuzzSeeds() []string {
	return []string{
		hdNest(settle.MaxJSONDepth), hdNest(settle.MaxJSONDepth + 1), hdNest(9990),
		`{"x": ` + hdNest(settle.MaxJSONDepth-1) + `}`,
		`{"task_id": "` + strings.Repeat("t", settle.MaxIDBytes+1) + `"}`,
		`{"scene_id": "B", "beats": [], "scene_metadata": {"x": ` + hdNest(settle.MaxJSONDepth-2) + `}}`,
		`{"scene_id": "B", "beats": [], "scene_metadata": {"x": ` + hdNest(settle.MaxJSONDepth-1) + `}}`,
		`{"sequences": {"B": {"shots": [{"shot_id": "S1", "x": ` + hdNest(settle.MaxJSONDepth-5) + `}]}}}`,
		`{"sequences": {"B": {"shots": [{"shot_id": "S1", "x": ` + hdNest(settle.MaxJSONDepth-6) + `}]}}}`,
		`[`, `{}`, `null`,
	}
}

// hdBodiesWithinLimits fails unless every scene body under root is within
// MaxSceneBytes and MaxJSONDepth.
func hdBodiesWithinLimits(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".versions.json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := pyjson.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(data) > settle.MaxSceneBytes || pyjson.DepthExceeds(v, settle.MaxJSONDepth) {
			t.Fatalf("%s: a body of %d bytes past the limits was written", p, len(data))
		}
		return nil
	})
}

// hdFuzzSceneWrites fuzzes one scene write on a new store per input: a
// write that succeeds leaves every body within the limits; a refusal
// must carry one of the codes refusal accepts, leaves every body within
// the limits too, and writes nothing when refusal says it must not.
func hdFuzzSceneWrites(f *testing.F, seed string, write func(s *file.Scenes, data []byte) error,
	refusal func(err error) (accepted, writesNothing bool)) {
	for _, s := range hdFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(seed))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		s := scOpen(t, root)
		before := scSnapshot(t, root)
		if err := write(s, data); err != nil {
			accepted, writesNothing := refusal(err)
			if !accepted {
				t.Fatalf("refused without an input code: %v", err)
			}
			if writesNothing {
				storetest.SameSnapshot(t, before, scSnapshot(t, root))
			}
		}
		hdBodiesWithinLimits(t, root)
	})
}

// FuzzHardeningSceneInput: any scene input is written as a candidate
// within the limits or refused, writing nothing.
func FuzzHardeningSceneInput(f *testing.F) {
	hdFuzzSceneWrites(f, scBodyTextOf(scGenTree(rand.New(rand.NewSource(52)), "B", 2)),
		func(s *file.Scenes, data []byte) error {
			sc, err := scene.DecodeInput(data)
			if err == nil {
				_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), sc, "fuzz", true)
			}
			return err
		},
		func(err error) (bool, bool) {
			switch settle.ErrorCode(err) {
			case settle.InvalidInput, settle.SchemaMismatch, settle.IdentityMismatch:
				return true, true
			}
			return false, false
		})
}

// FuzzHardeningPlan: any plan initializes scenes within the limits or is
// refused, writing nothing.
func FuzzHardeningPlan(f *testing.F) {
	hdFuzzSceneWrites(f, `{"sequences": {"B": {"shots": [{"shot_id": "S1"}, {"id": "S2"}, {}]}}}`,
		func(s *file.Scenes, data []byte) error {
			plan, err := scene.DecodePlan(data)
			if err == nil {
				_, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 3, false)
			}
			return err
		},
		func(err error) (bool, bool) {
			// InitFromPlan writes sequence by sequence, as the seed does:
			// a sequence the seed would refuse (a spec that is not an
			// object) stops it after the earlier ones. A refusal for a
			// limit writes nothing.
			return settle.ErrorCode(err) == settle.InvalidInput, strings.Contains(err.Error(), "exceeds Max")
		})
}

// FuzzHardeningVerdict: any verdict file is written back within the limits
// (every ledger line it adds passes its schema's types and id checks) or
// refused with INVALID_INPUT, writing nothing.
func FuzzHardeningVerdict(f *testing.F) {
	for _, s := range hdFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"task_id": "task-1", "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU", "collector_key": "anu0000000000001", "executor_key": "exec1", "dispatch_id": "d-1", "normal_collector_cron_id": "ncc-1", "ts_kst": "2026-11-22T10:10:00+09:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		l := lgOpen(t, root)
		b, err := writeback.Extract(data, writeback.ExtractOptions{BatchID: "B1", Root: root, SourcePath: filepath.Join(root, "v.json"), Config: storetest.Config()})
		if err == nil {
			_, err = l.Writeback(lgCtx, lgReq(b))
		}
		path := lgLedgerPath(root)
		switch settle.ErrorCode(err) {
		case "":
			raw, rerr := os.ReadFile(path)
			if rerr != nil && !os.IsNotExist(rerr) {
				t.Fatal(rerr)
			}
			for _, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				for _, p := range writeback.CheckLine(line) {
					// An extracted binding may lack mandatory fields (it is
					// then refused and recorded as a conflict); nothing else
					// may be wrong.
					if !strings.HasSuffix(p, " empty") {
						t.Fatalf("settle wrote a line that breaks its schema: %s\n%s", p, line)
					}
				}
			}
		case settle.InvalidInput:
			if _, serr := os.Stat(path); !os.IsNotExist(serr) {
				t.Fatalf("a refused verdict created the ledger")
			}
		default:
			t.Fatalf("refused without an input code: %v", err)
		}
	})
}
