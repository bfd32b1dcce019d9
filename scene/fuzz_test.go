package scene_test

import (
	"bytes"
	"testing"

	"github.com/settlehq/settle/scene"
)

// bodySeeds are scene bodies for the fuzz corpora.
func bodySeeds() []string {
	seeds := []string{
		`{"schema_version":1,"scene_id":"B"}`,
		`{"schema_version":1,` + guardBase[1:],
		`{"schema_version":1,` + patchBase[1:],
		`{"schema_version":1.0,"scene_id":"B","beats":[{"beat_id":"a","beat_metadata":null,"takes":0},{"beat_id":"a"}]}`,
		`{"schema_version":1,"scene_id":"B","beats":[{"beat_id":"a","beat_metadata":{"grouping":NaN,"shot":[Infinity]}}]}`,
		`{"schema_version":1,"scene_id":"\ud800","beats":[],"x":{"y":[1e400,-0.0,123456789012345678901234567890]}}`,
		`{"schema_version":2}`, `[]`, `{`, "",
	}
	g := newGen(7)
	for i := range 8 {
		seeds = append(seeds, g.scene(i%2 == 0, i%4 == 3))
	}
	return seeds
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range bodySeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if tree, err := scene.DecodeBodyTree(data); err == nil {
			_ = scene.FingerprintTree(tree)
			_ = scene.StructuralMutations(tree, tree)
			_, _ = scene.Writer1Overlay(tree, tree, true)
			if _, err := scene.EncodeBodyTree(tree); err != nil {
				t.Fatalf("EncodeBodyTree of a decoded tree: %v", err)
			}
		}
		sc, err := scene.DecodeBody(data)
		if err != nil {
			return
		}
		fp := scene.Fingerprint(sc)
		if len(fp) != 64 {
			t.Fatalf("fingerprint %q", fp)
		}
		enc, err := scene.EncodeBody(sc)
		if err != nil {
			t.Fatalf("EncodeBody of a decoded scene: %v", err)
		}
		sc2, err := scene.DecodeBody(enc)
		if err != nil {
			t.Fatalf("decode of encoded body: %v\n%s", err, enc)
		}
		enc2, err := scene.EncodeBody(sc2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encode not stable: %v\n%s\n%s", err, enc, enc2)
		}
		if scene.Fingerprint(sc2) != fp || scene.Fingerprint(sc.Clone()) != fp {
			t.Fatal("fingerprint changed by a round trip or Clone")
		}
		tree, err := scene.DecodeBodyTree(enc)
		if err != nil || scene.FingerprintTree(tree) != fp {
			t.Fatalf("FingerprintTree of the saved body differs: %v", err)
		}
		// The runner's own scene over its body: no structural change.
		merged, err := scene.Writer1Overlay(tree, sc.ToTree(), false)
		if err != nil {
			t.Fatalf("overlay of a scene on its own body: %v", err)
		}
		if scene.FingerprintTree(merged) != fp {
			t.Fatal("overlay changed the structure")
		}
		if err := scene.StatusGuard(sc, sc2); err != nil {
			t.Fatalf("status guard on equal scenes: %v", err)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	for _, s := range []string{
		`{"schema_version":1,"batch_id":"B","active_version":1,"versions":[{"version":1,"artifact":"ep_001_B.json","structure_fingerprint":"f","created_at":null,"reason":"materialized-legacy"}]}`,
		`{"schema_version":1.0,"batch_id":"B","active_version":2,"versions":[{"version":2,"artifact":"../x","created_at":"2026-01-02T03:04:05+00:00"}]}`,
		`{"schema_version":1,"batch_id":"B","active_version":1}`,
		`{"schema_version":"1","batch_id":"B"}`, `{"schema_version":1,"batch_id":"C"}`, `[]`, `{`,
	} {
		f.Add([]byte(s), "B")
	}
	f.Fuzz(func(t *testing.T, data []byte, batch string) {
		m, err := scene.DecodeManifest(data, batch)
		if err != nil {
			return
		}
		for _, e := range m.Versions {
			if _, err := m.Entry(e.Version); err != nil {
				t.Fatalf("Entry(%d): %v", e.Version, err)
			}
			_ = scene.CheckArtifact(e.Artifact)
		}
		_ = m.MaxVersion()
		enc, err := scene.EncodeManifest(m)
		if err != nil {
			t.Fatalf("EncodeManifest: %v", err)
		}
		m2, err := scene.DecodeManifest(enc, batch)
		if err != nil {
			t.Fatalf("decode of encoded manifest: %v\n%s", err, enc)
		}
		enc2, err := scene.EncodeManifest(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("manifest encode not stable: %v", err)
		}
	})
}

func FuzzApplyPatch(f *testing.F) {
	patches := []string{
		`[]`,
		`[{"op":"replace","path":"/beats/0/takes/0/status","value":"stale"}]`,
		`[{"op":"add","path":"/beats/0/board","value":{"n":1e-07}},{"op":"test","path":"/scene_id","value":"B"}]`,
		`[{"op":"move","from":"/beats/0","path":"/beats/1"}]`,
		`[{"op":"copy","from":"/beats","path":"/x"},{"op":"remove","path":"/x/0"}]`,
		`[{"op":"replace","path":"","value":{"scene_id":"C"}}]`,
		`[{"op":"add","path":"/beats/-","value":{"beat_id":"n"}}]`,
		`[{"op":"remove","path":"/beats/0/beat_metadata/plan_shot"}]`,
		`{"op":"add"}`, `[{"op":1}]`, `[`,
	}
	bodies := bodySeeds()
	for i, p := range patches {
		f.Add([]byte(bodies[i%4]), []byte(p))
	}
	f.Fuzz(func(t *testing.T, body, patch []byte) {
		_ = scene.ValidatePatch(patch)
		sc, err := scene.DecodeBody(body)
		if err != nil {
			return
		}
		before, err := scene.EncodeBody(sc)
		if err != nil {
			t.Fatal(err)
		}
		out, err := scene.ApplyPatch(sc, patch)
		if after, _ := scene.EncodeBody(sc); !bytes.Equal(before, after) {
			t.Fatal("ApplyPatch modified its input")
		}
		if err != nil {
			return
		}
		if scene.ValidatePatch(patch) != nil {
			t.Fatal("a patch ValidatePatch refuses was applied")
		}
		enc, err := scene.EncodeBody(out)
		if err != nil {
			t.Fatalf("EncodeBody of a patched scene: %v", err)
		}
		if _, err := scene.DecodeBody(enc); err != nil {
			t.Fatalf("patched scene does not decode: %v", err)
		}
		_ = scene.StatusGuard(sc, out)
		// The empty patch is the identity.
		same, err := scene.ApplyPatch(sc, []byte(`[]`))
		if err != nil {
			t.Fatalf("empty patch: %v", err)
		}
		if got, _ := scene.EncodeBody(same); !bytes.Equal(got, before) {
			t.Fatalf("empty patch changed the scene:\n%s\n%s", got, before)
		}
	})
}
