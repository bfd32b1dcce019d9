package scene_test

import (
	"bytes"
	"fmt"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
)

// TestStatusBodyCache runs the same status writes through a BatchFiles
// with a body cache and one without, and requires the same outcome and
// the same bytes after each: the cache must never change what is written,
// whether the body was changed under it by another writer, the caller
// changed the scene a write returned, or a change of a structural value
// is one only its spelling shows (30 and 30.0).
func TestStatusBodyCache(t *testing.T) {
	rng := testenv.Rand(t)
	body := []byte(`{"schema_version": 1, "scene_id": "B1", "beats": [` +
		`{"beat_id": "SH_000", "beat_metadata": {"modality": "t2v", "generation_config": {"steps": 30, "cfg": 6.5}}, "takes": [{"take_id": "t0", "status": "running"}]},` +
		`{"beat_id": "SH_001", "beat_metadata": {"plan_shot": {"shot_id": "SH_001"}}, "takes": []}], "scene_metadata": {}}`)
	plain, cached := newMemFiles(), newMemFiles()
	name := testBatch.Flat()
	plain.files[name] = append([]byte(nil), body...)
	cached.files[name] = append([]byte(nil), body...)
	bfs := []scene.BatchFiles{
		{Batch: testBatch, Files: plain},
		{Batch: testBatch, Files: cached, Cache: scene.NewBodyCache(0), CacheKey: "dir"},
	}
	c := scene.Cond{Version: 1, AnyRevision: true}
	patches := []string{
		`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`,
		`[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "succeeded"}]`,
		`[{"op": "add", "path": "/beats/1/takes/-", "value": {"take_id": "t1", "status": "pending"}}]`,
		`[{"op": "replace", "path": "/beats/0/beat_metadata/generation_config/steps", "value": 30}]`,
		`[{"op": "replace", "path": "/beats/0/beat_metadata/generation_config/steps", "value": 30.0}]`,
		`[{"op": "replace", "path": "/beats/0/beat_metadata/modality", "value": "i2v"}]`,
		`[{"op": "add", "path": "/beats/0/beat_metadata/inputs_fingerprint", "value": "ab"}]`,
		`[{"op": "remove", "path": "/beats/1"}]`,
		`[{"op": "replace", "path": "/beats/0/takes", "value": []}]`,
	}
	closures := []func(*scene.Scene) error{
		func(sc *scene.Scene) error { sc.Beats[0].Approved = !sc.Beats[0].Approved; return nil },
		func(sc *scene.Scene) error { sc.Beats[0].BeatMetadata.Set("prompt_directive", "warm"); return nil },
		func(sc *scene.Scene) error { sc.Beats[1].BeatMetadata.Set("note", "x"); return nil },
		func(sc *scene.Scene) error {
			sc.Beats[0].Takes = append(sc.Beats[0].Takes, &scene.Take{TakeID: "c", Status: "pending"})
			return nil
		},
		func(sc *scene.Scene) error { return fmt.Errorf("refused") },
	}
	codes := map[settle.Code]int{}
	for step := 0; step < 300; step++ {
		kind, pi, ci, restore := rng.Intn(6), rng.Intn(len(patches)), rng.Intn(len(closures)), rng.Intn(2) == 0
		var errs [2]error
		for i, bf := range bfs {
			var w scene.StatusWrite
			var err error
			switch kind {
			case 0, 1:
				w, err = bf.PatchStatusIf(c, []byte(patches[pi]))
			case 2:
				w, err = bf.UpdateStatusIf(c, closures[ci])
			case 3:
				// Another writer replaces the body.
				f := bf.Files.(*memFiles)
				if restore {
					f.files[name] = append([]byte(nil), body...)
				} else {
					f.files[name] = append(append([]byte(nil), f.files[name]...), '\n')
				}
			case 4, 5:
				// The caller changes the scene a write returned (a
				// closure's, or a patch's whose unchanged beats the
				// cache's scene shares).
				if kind == 4 {
					w, err = bf.UpdateStatusIf(c, func(sc *scene.Scene) error {
						if restore && len(sc.Beats) > 0 {
							sc.Beats[0].Approved = !sc.Beats[0].Approved
						}
						return nil
					})
				} else {
					w, err = bf.PatchStatusIf(c, []byte(patches[0]))
				}
				if err == nil {
					for _, b := range w.Loaded.Scene.Beats {
						for _, tk := range b.Takes {
							tk.Status = "changed"
						}
						b.Approved = !b.Approved
					}
					w.Loaded.Scene.Beats[0].BeatID = "CHANGED"
					w.Loaded.Scene.Beats[0].BeatMetadata.Set("modality", "changed")
					w.Loaded.Scene.SceneMetadata.Set("changed", true)
				}
			}
			errs[i] = err
		}
		if settle.ErrorCode(errs[0]) != settle.ErrorCode(errs[1]) || (errs[0] == nil) != (errs[1] == nil) {
			t.Fatalf("step %d (kind %d): without cache %v, with %v", step, kind, errs[0], errs[1])
		}
		if kind != 3 {
			codes[settle.ErrorCode(errs[0])]++
		}
		if !bytes.Equal(plain.files[name], cached.files[name]) {
			t.Fatalf("step %d (kind %d): bodies differ:\n%s\n%s", step, kind, plain.files[name], cached.files[name])
		}
	}
	if codes[""] == 0 || codes[settle.StructureImmutable] == 0 {
		t.Fatalf("outcomes %v: want saves and structure refusals", codes)
	}
}
