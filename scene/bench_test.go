package scene_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// benchScene is a realistic scene of n beats: plan_shot, grouping and
// generation_config metadata and two takes with receipts per beat. It
// mirrors bench_scene in testdata/seed_bench_fingerprint.py.
func benchScene(n int) *scene.Scene {
	o := func(kv ...any) *pyjson.Object {
		m := pyjson.NewObject()
		for i := 0; i < len(kv); i += 2 {
			v := kv[i+1]
			if x, ok := v.(int); ok {
				v = pyjson.Int(fmt.Sprint(x))
			}
			m.Set(kv[i].(string), v)
		}
		return m
	}
	s := func(v string) *string { return &v }
	sc := &scene.Scene{SceneID: "BATCH_007", SceneMetadata: o("episode", "1", "project", "demo")}
	for i := range n {
		sid := fmt.Sprintf("SH_%04d", i)
		b := &scene.Beat{
			BeatID:   sid,
			MaxTakes: pyjson.Int("3"),
			BeatMetadata: o(
				"scene_id", "BATCH_007",
				"plan_shot", o(
					"shot_id", sid,
					"prompt", fmt.Sprintf("Wide establishing shot %d of the harbour at dawn, slow dolly in, 35mm, soft light", i),
					"duration", 4.5+float64(i%7)*0.25,
					"camera", o("move", "dolly_in", "lens_mm", 35, "height_m", 1.6),
					"characters", []any{fmt.Sprintf("char_%d", i%5), fmt.Sprintf("char_%d", (i+1)%5)},
					"aspect_ratio", "16:9",
					"is_env_only", i%4 == 0,
				),
				"grouping", o("group", i/4, "position", i%4),
				"generation_config", o("model", "video-gen-3", "seed", 1000+i, "guidance", 7.5, "steps", 30),
				"prompt_directive", "keep continuity with the previous shot \u2014 caf\u00e9 sign stays lit",
				"inputs_fingerprint", fmt.Sprintf("%064x", i),
			),
			PrimaryTakeID:        s(sid + "_t0"),
			PhantomRecoveryCount: pyjson.Int("0"),
			Board:                o("state", "open", "decided_by", nil),
			Approved:             i%3 == 0,
		}
		for j := range 2 {
			t := &scene.Take{
				TakeID:       fmt.Sprintf("%s_t%d", sid, j),
				Status:       "running",
				CreatedAt:    s("2026-06-02T10:00:00+00:00"),
				StartedAt:    s("2026-06-02T10:00:01.250000+00:00"),
				ArtifactPath: s(fmt.Sprintf("renders/%s/take_%d.mp4", sid, j)),
				Receipt: o("job_id", fmt.Sprintf("job-%d-%d", i, j), "cost_usd", 0.42, "latency_ms", 53000+i,
					"provider", "gen", "meta", o("gpu", "a100", "region", "us-east")),
			}
			if j == 0 {
				t.Status = "succeeded"
				t.FinishedAt = s("2026-06-02T10:01:00+00:00")
			}
			b.Takes = append(b.Takes, t)
		}
		sc.Beats = append(sc.Beats, b)
	}
	return sc
}

var benchSizes = []int{10, 100, 1000}

func BenchmarkFingerprint(b *testing.B) {
	for _, n := range benchSizes {
		sc := benchScene(n)
		b.Run(fmt.Sprintf("beats=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if scene.Fingerprint(sc) == "" {
					b.Fatal("no fingerprint")
				}
			}
		})
	}
}

func BenchmarkDecodeBody(b *testing.B) {
	for _, n := range benchSizes {
		data, err := scene.EncodeBody(benchScene(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("beats=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scene.DecodeBody(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchScenesMatchSeed checks that the benchmark scenes are the ones
// the Python timing script fingerprints (same fingerprint as the seed's).
func TestBenchScenesMatchSeed(t *testing.T) {
	python, refDir := referenceDir(t)
	script, err := filepath.Abs(filepath.Join("testdata", "seed_bench_fingerprint.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, "--fingerprints")
	cmd.Dir = refDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	want := obj(t, strings.TrimSpace(string(out)))
	for _, n := range benchSizes {
		w, _ := want.GetString(fmt.Sprint(n))
		if got := scene.Fingerprint(benchScene(n)); got != w {
			t.Errorf("beats=%d: Fingerprint %s, seed %s", n, got, w)
		}
	}
}
