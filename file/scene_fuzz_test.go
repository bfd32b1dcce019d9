package file_test

import (
	"math/rand"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// FuzzScenesLoad: whatever bytes the manifest and the flat body hold, Load
// neither panics nor fails without one of the load codes.
func FuzzScenesLoad(f *testing.F) {
	body := scBodyTextOf(scGenTree(rand.New(rand.NewSource(50)), "B", 2))
	f.Add([]byte(nil), []byte(body))
	f.Add([]byte(`{"schema_version": 1, "batch_id": "B", "active_version": 1, "versions": [{"version": 1, "artifact": "ep_001_B.json", "structure_fingerprint": "", "created_at": null, "reason": ""}]}`), []byte(body))
	f.Add([]byte(`{"schema_version": 1, "batch_id": "B", "active_version": 1, "versions": [{"version": 1, "artifact": "../x"}]}`), []byte(body))
	f.Add([]byte(`{"schema_version": true, "batch_id": "B", "active_version": 1.0, "versions": {}}`), []byte(`[]`))
	f.Add([]byte(nil), []byte(`{"schema_version": 1, "scene_id": "B", "beats": [{"beat_id": 1}]}`))
	f.Add([]byte(nil), []byte(`{"schema_version": 1, "scene_id": "B", "beats": [{"beat_id": "a", "takes": [{}]}]}`))
	f.Add([]byte(nil), []byte("\xff\xfe{}"))
	f.Fuzz(func(t *testing.T, manifest, flat []byte) {
		root := t.TempDir()
		scWriteRaw(t, root, storetest.Token+"_B.json", string(flat))
		if len(manifest) > 0 {
			scWriteRaw(t, root, storetest.Token+"_B.versions.json", string(manifest))
		}
		s := scOpen(t, root)
		ld, err := s.Load(scCtx, storetest.Ref("B"))
		switch settle.ErrorCode(err) {
		case "":
			if ld.Scene == nil || ld.Fingerprint == "" {
				t.Fatalf("load without scene or fingerprint")
			}
		case settle.NotFound, settle.SchemaMismatch, settle.Corrupt, settle.UnsafeArtifact, settle.ManifestIdentity:
		default:
			t.Fatalf("load error without a load code: %v", err)
		}
	})
}

// FuzzScenesPatchStatus: any patch is applied whole or refused with
// INVALID_INPUT or STRUCTURE_IMMUTABLE, writing nothing; an accepted patch
// never changes the structure fingerprint nor writes a body past the limits.
func FuzzScenesPatchStatus(f *testing.F) {
	tree := scGenTree(rand.New(rand.NewSource(51)), "B", 3)
	body := scBodyTextOf(tree)
	for _, p := range []string{
		`[]`, `[{"op": "replace", "path": "/beats/0/approved", "value": true}]`,
		`[{"op": "move", "from": "/beats/0", "path": "/beats/1"}]`,
		`[{"op": "add", "path": "/beats/1/takes/-", "value": {"take_id": "x"}}]`,
		`[{"op": "remove", "path": "/beats/0/beat_metadata/plan_shot"}]`,
		`[{"op": "test", "path": "/locked", "value": 0}, {"op": "copy", "from": "/beats/0/board", "path": "/beats/1/board"}]`,
		`[{"op": "replace", "path": "", "value": {"scene_id": "B"}}]`,
		`{"op": "remove"}`, `[1]`, `nul`,
		`[{"op": "add", "path": "/scene_metadata/x", "value": ` + hdNest(9990) + `}]`,
		`[{"op": "add", "path": "/beats/0/takes/0/receipt", "value": {"r": ` + hdNest(settle.MaxJSONDepth-4) + `}}]`,
		`[{"op": "add", "path": "/scene_metadata/x", "value": ` + hdNest(settle.MaxJSONDepth-3) + `}]`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		root := t.TempDir()
		s := scOpen(t, root)
		sc := storetest.Hydrate(t, tree)
		scWriteRaw(t, root, storetest.Token+"_B.json", body)
		before := scSnapshot(t, root)
		ld, err := s.PatchStatus(scCtx, storetest.Ref("B"), 1, patch)
		switch settle.ErrorCode(err) {
		case "":
			back, err := s.Load(scCtx, storetest.Ref("B"))
			storetest.OK(t, err)
			if back.Fingerprint != ld.Fingerprint || ld.Fingerprint != scene.Fingerprint(sc) {
				t.Fatalf("accepted patch changed the structure")
			}
			hdBodiesWithinLimits(t, root)
		case settle.InvalidInput, settle.StructureImmutable:
			storetest.SameSnapshot(t, before, scSnapshot(t, root))
		default:
			t.Fatalf("patch refused without a patch code: %v", err)
		}
	})
}
