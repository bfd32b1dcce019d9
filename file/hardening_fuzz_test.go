package file_test

import (
	"bytes"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

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

// FuzzHardeningSceneInput: any scene input is written as a candidate
// within the limits or refused, writing nothing.
func FuzzHardeningSceneInput(f *testing.F) {
	for _, s := range hdFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(scBodyTextOf(scGenTree(rand.New(rand.NewSource(52)), "B", 2))))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		s := scOpen(t, root)
		before := scSnapshot(t, root)
		sc, err := scene.DecodeInput(data)
		if err == nil {
			_, err = s.WriteCandidate(scCtx, storetest.Ref("B"), sc, "fuzz", true)
		}
		switch settle.ErrorCode(err) {
		case "":
			hdBodiesWithinLimits(t, root)
		case settle.InvalidInput, settle.SchemaMismatch, settle.IdentityMismatch:
			storetest.SameSnapshot(t, before, scSnapshot(t, root))
		default:
			t.Fatalf("refused without an input code: %v", err)
		}
	})
}

// FuzzHardeningPlan: any plan initializes scenes within the limits or is
// refused, writing nothing.
func FuzzHardeningPlan(f *testing.F) {
	for _, s := range hdFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"sequences": {"B": {"shots": [{"shot_id": "S1"}, {"id": "S2"}, {}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		s := scOpen(t, root)
		before := scSnapshot(t, root)
		plan, err := scene.DecodePlan(data)
		if err == nil {
			_, err = s.InitFromPlan(scCtx, storetest.Project, storetest.Episode, plan, 3, false)
		}
		switch settle.ErrorCode(err) {
		case "":
			hdBodiesWithinLimits(t, root)
		case settle.InvalidInput:
			// InitFromPlan writes sequence by sequence, as the seed does:
			// a sequence the seed would refuse (a spec that is not an
			// object) stops it after the earlier ones. A refusal for a
			// limit writes nothing.
			if strings.Contains(err.Error(), "exceeds Max") {
				storetest.SameSnapshot(t, before, scSnapshot(t, root))
			}
			hdBodiesWithinLimits(t, root)
		default:
			t.Fatalf("refused without an input code: %v", err)
		}
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
