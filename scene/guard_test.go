package scene_test

import (
	"reflect"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

const guardBase = `{"scene_id":"B","beats":[
 {"beat_id":"b1","beat_metadata":{"plan_shot":{"id":"s1","prompt":"a"},"scene_id":"B","inputs_fingerprint":"i1","note":"n"},
  "takes":[{"take_id":"t1","status":"running"}],"board":{"state":"open"}},
 {"beat_id":"b2","beat_metadata":{"shot":{"id":"s2","raw":"x"},"batch_shots":[{"id":"s2","aspect_ratio":"16:9"},3],"grouping":"g","modality":"m","generation_config":{"a":1},"element_config":null,"prompt_directive":"p","batch_summary":"s"}}
],"scene_metadata":{"episode":"1"}}`

func guardScene(t *testing.T) *scene.Scene {
	t.Helper()
	sc, err := scene.FromTree(obj(t, guardBase))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestStatusGuard(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name    string
		mutate  func(sc *scene.Scene)
		refused bool
	}{
		{"no change", func(sc *scene.Scene) {}, false},
		{"take status", func(sc *scene.Scene) { sc.Beats[0].Takes[0].Status = scene.TakeSucceeded }, false},
		{"take added", func(sc *scene.Scene) {
			sc.Beats[1].Takes = append(sc.Beats[1].Takes, &scene.Take{TakeID: "t2", Status: "pending"})
		}, false},
		{"take receipt", func(sc *scene.Scene) { sc.Beats[0].Takes[0].Receipt = objWith("k", "v") }, false},
		{"primary take", func(sc *scene.Scene) { sc.Beats[0].PrimaryTakeID = s("t1") }, false},
		{"board", func(sc *scene.Scene) { sc.Beats[0].Board = objWith("state", "decided") }, false},
		{"board removed", func(sc *scene.Scene) { sc.Beats[0].Board = nil }, false},
		{"approved", func(sc *scene.Scene) { sc.Beats[1].Approved = true }, false},
		{"lock", func(sc *scene.Scene) { sc.Locked = true; sc.LockReason = s("review") }, false},
		{"max_takes", func(sc *scene.Scene) { scene.RestampMaxTakes(sc, 7) }, false},
		{"phantom count", func(sc *scene.Scene) { sc.Beats[0].PhantomRecoveryCount = pyjson.Int("2") }, false},
		{"inputs_fingerprint", func(sc *scene.Scene) { sc.Beats[0].BeatMetadata.Set("inputs_fingerprint", "i2") }, false},
		{"inputs_fingerprint added", func(sc *scene.Scene) { sc.Beats[1].BeatMetadata.Set("inputs_fingerprint", "i9") }, false},
		{"non-structural metadata", func(sc *scene.Scene) { sc.Beats[0].BeatMetadata.Set("note", "other") }, false},
		{"scene_metadata", func(sc *scene.Scene) { sc.SceneMetadata.Set("episode", "2") }, false},
		{"unknown member", func(sc *scene.Scene) { sc.Extra = append(sc.Extra, scene.Member{Key: "x", Value: "y"}) }, false},
		{"structural key order", func(sc *scene.Scene) {
			md := pyjson.NewObject()
			old := sc.Beats[1].BeatMetadata
			keys := old.Keys()
			for i := len(keys) - 1; i >= 0; i-- {
				v, _ := old.Get(keys[i])
				md.Set(keys[i], v)
			}
			sc.Beats[1].BeatMetadata = md
		}, false},
		{"nested key order", func(sc *scene.Scene) {
			sc.Beats[0].BeatMetadata.Set("plan_shot", obj(t, `{"prompt":"a","id":"s1"}`))
		}, false},
		{"beat added", func(sc *scene.Scene) { sc.Beats = append(sc.Beats, &scene.Beat{BeatID: "b3"}) }, true},
		{"beat removed", func(sc *scene.Scene) { sc.Beats = sc.Beats[:1] }, true},
		{"beats reordered", func(sc *scene.Scene) { sc.Beats[0], sc.Beats[1] = sc.Beats[1], sc.Beats[0] }, true},
		{"beat_id", func(sc *scene.Scene) { sc.Beats[0].BeatID = "bx" }, true},
		{"scene_id", func(sc *scene.Scene) { sc.SceneID = "C" }, true},
		{"int 1 to float 1.0", func(sc *scene.Scene) {
			sc.Beats[1].BeatMetadata.Set("generation_config", obj(t, `{"a":1.0}`))
		}, true},
	}
	type guardCase = struct {
		name    string
		mutate  func(sc *scene.Scene)
		refused bool
	}
	for _, key := range scene.StructuralBeatMetadataKeys {
		// Every structural key is on b1 or b2: setting it changes or adds
		// it, deleting it from both removes it.
		tests = append(tests,
			guardCase{"set " + key, func(sc *scene.Scene) { sc.Beats[1].BeatMetadata.Set(key, "changed") }, true},
			guardCase{"added to b1 " + key + " or changed", func(sc *scene.Scene) { sc.Beats[0].BeatMetadata.Set(key, []any{"new"}) }, true},
			guardCase{"removed " + key, func(sc *scene.Scene) {
				sc.Beats[0].BeatMetadata.Delete(key)
				sc.Beats[1].BeatMetadata.Delete(key)
			}, true},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := guardScene(t)
			after := before.Clone()
			tt.mutate(after)
			err := scene.StatusGuard(before, after)
			if tt.refused {
				wantCode(t, err, settle.StructureImmutable)
			} else {
				wantCode(t, err, "")
			}
		})
	}
}

func TestFingerprintProperties(t *testing.T) {
	sc := guardScene(t)
	fp := scene.Fingerprint(sc)
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q", fp)
	}
	tree, err := scene.DecodeBodyTree(mustEncode(t, sc))
	if err != nil {
		t.Fatal(err)
	}
	if got := scene.FingerprintTree(tree); got != fp {
		t.Fatalf("FingerprintTree = %s, Fingerprint = %s", got, fp)
	}
	// Missing, null and {} beat_metadata are the same structure.
	a := scene.FingerprintTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b"}]}`))
	b := scene.FingerprintTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":null}]}`))
	c := scene.FingerprintTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":{}}]}`))
	d := scene.FingerprintTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":["x"]}]}`))
	if a != b || b != c || c != d || a == "" {
		t.Fatalf("falsy metadata fingerprints differ: %s %s %s %s", a, b, c, d)
	}
	// The seed's projection for an empty scene, computed by hand.
	if got, want := scene.FingerprintTree(obj(t, `{"scene_id":"B"}`)), sha(`{"beat_ids":[],"beats":[],"scene_id":"B","shot_count":0}`); got != want {
		t.Fatalf("empty scene fingerprint %s, want %s", got, want)
	}
}

func TestFingerprintTreeSeedRaises(t *testing.T) {
	for _, in := range []string{
		`{"scene_id":"B","beats":"ab"}`,
		`{"scene_id":"B","beats":{"a":1}}`,
		`{"scene_id":"B","beats":5}`,
		`{"scene_id":"B","beats":[1]}`,
		`{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":5}]}`,
		`{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":true}]}`,
		`{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":["shot"]}]}`,
		`{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":"my plan_shot"}]}`,
	} {
		_, err := scene.FingerprintTreeStrict(obj(t, in))
		wantCode(t, err, settle.Corrupt)
		if scene.FingerprintTree(obj(t, in)) != "" {
			t.Errorf("FingerprintTree(%s) not empty", in)
		}
	}
	if _, err := scene.FingerprintStrict(nil); settle.ErrorCode(err) != settle.InvalidInput {
		t.Fatalf("nil scene: %v", err)
	}
}

func TestStructuralMutations(t *testing.T) {
	tests := []struct {
		name, disk, rebuild string
		want                []string
	}{
		{"equal", guardBase, guardBase, []string{}},
		{"scene_id", `{"scene_id":"A"}`, `{"scene_id":"B"}`, []string{"scene_id"}},
		{"missing both scene_id", `{}`, `{}`, []string{}},
		{"topology", `{"scene_id":"B","beats":[{"beat_id":"a"},{"beat_id":"b"}]}`, `{"scene_id":"B","beats":[{"beat_id":"b"},{"beat_id":"a"}]}`, []string{"beat_topology"}},
		{"topology and scene id", `{"scene_id":"A","beats":[{"beat_id":"a"}]}`, `{"scene_id":"B","beats":[]}`, []string{"scene_id", "beat_topology"}},
		{"enrichment allowed", `{"beats":[{"beat_id":"a","beat_metadata":{}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"plan_shot":1,"shot":{}}}]}`, []string{}},
		{"removed", `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":1,"modality":2}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"modality":2}}]}`, []string{"a.grouping:removed"}},
		{"changed", `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":1}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":2}}]}`, []string{"a.grouping:changed"}},
		{"int equals float", `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":1}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":1.0}}]}`, []string{}},
		{"builder variant shot keys ignored", `{"beats":[{"beat_id":"a","beat_metadata":{"shot":{"id":1,"raw":"x"},"batch_shots":[{"id":1,"is_env_only":true},5]}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"shot":{"id":1,"aspect_ratio":"1:1"},"batch_shots":[{"id":1},5]}}]}`, []string{}},
		{"builder variant key elsewhere counts", `{"beats":[{"beat_id":"a","beat_metadata":{"plan_shot":{"id":1,"raw":"x"}}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"plan_shot":{"id":1}}}]}`, []string{"a.plan_shot:changed"}},
		{"non builder shot key counts", `{"beats":[{"beat_id":"a","beat_metadata":{"shot":{"id":1}}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"shot":{"id":1,"prompt":"p"}}}]}`, []string{"a.shot:changed"}},
		{"missing beat_id uses index", `{"beats":[{"beat_metadata":{"modality":1}}]}`, `{"beats":[{"beat_metadata":{}}]}`, []string{"0.modality:removed"}},
		{"null beat_id is None", `{"beats":[{"beat_id":null,"beat_metadata":{"modality":1}}]}`, `{"beats":[{"beat_id":null}]}`, []string{"None.modality:removed"}},
		{"int beat id str", `{"beats":[{"beat_id":1.5,"beat_metadata":{"modality":1}}]}`, `{"beats":[{"beat_id":1.5,"beat_metadata":{"modality":2}}]}`, []string{"1.5.modality:changed"}},
		{"nested NaN equal (json singleton)", `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":[NaN]}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":[NaN]}}]}`, []string{}},
		{"bare NaN differs", `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":NaN}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"grouping":NaN}}]}`, []string{"a.grouping:changed"}},
		{"NaN scene id differs", `{"scene_id":NaN}`, `{"scene_id":NaN}`, []string{"scene_id"}},
		{"NaN beat ids equal", `{"beats":[{"beat_id":NaN}]}`, `{"beats":[{"beat_id":NaN}]}`, []string{}},
		{"falsy metadata", `{"beats":[{"beat_id":"a","beat_metadata":null}]}`, `{"beats":[{"beat_id":"a","beat_metadata":0}]}`, []string{}},
		{"list metadata removal", `{"beats":[{"beat_id":"a","beat_metadata":["grouping"]}]}`, `{"beats":[{"beat_id":"a"}]}`, []string{"a.grouping:removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scene.StructuralMutationsStrict(obj(t, tt.disk), obj(t, tt.rebuild))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("mutations = %q, want %q", got, tt.want)
			}
			if got2 := scene.StructuralMutations(obj(t, tt.disk), obj(t, tt.rebuild)); !reflect.DeepEqual(got2, tt.want) {
				t.Fatalf("StructuralMutations = %q", got2)
			}
		})
	}
}

func TestStructuralMutationsSeedRaises(t *testing.T) {
	tests := []struct {
		name, disk, rebuild string
		code                settle.Code
	}{
		{"disk beats string", `{"beats":"ab"}`, `{}`, settle.Corrupt},
		{"disk beat not dict", `{"beats":[1]}`, `{"beats":5}`, settle.Corrupt},
		{"rebuild beats number", `{"beats":[]}`, `{"beats":5}`, settle.InvalidInput},
		{"rebuild beat not dict", `{"beats":[]}`, `{"beats":[[]]}`, settle.InvalidInput},
		{"disk metadata number", `{"beats":[{"beat_id":"a","beat_metadata":3}]}`, `{"beats":[{"beat_id":"a"}]}`, settle.Corrupt},
		{"rebuild metadata true", `{"beats":[{"beat_id":"a"}]}`, `{"beats":[{"beat_id":"a","beat_metadata":true}]}`, settle.InvalidInput},
		{"both have key, disk list", `{"beats":[{"beat_id":"a","beat_metadata":["shot"]}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"shot":1}}]}`, settle.Corrupt},
		{"both have key, rebuild str", `{"beats":[{"beat_id":"a","beat_metadata":{"shot":1}}]}`, `{"beats":[{"beat_id":"a","beat_metadata":"shot"}]}`, settle.InvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scene.StructuralMutationsStrict(obj(t, tt.disk), obj(t, tt.rebuild))
			wantCode(t, err, tt.code)
			m := scene.StructuralMutations(obj(t, tt.disk), obj(t, tt.rebuild))
			if len(m) != 1 || len(m[0]) < 10 || m[0][:10] != "malformed:" {
				t.Fatalf("StructuralMutations = %q, want fail-closed malformed", m)
			}
		})
	}
}

func TestWriter1Overlay(t *testing.T) {
	disk := `{"scene_id":"B","beats":[{"beat_id":"a","max_takes":3,"beat_metadata":{"plan_shot":{"id":1},"inputs_fingerprint":"old","note":"keep"},"takes":[],"primary_take_id":null,"phantom_recovery_count":4,"board":{"s":"disk"},"approved":true,"zz":1},{"beat_id":"b"}],"scene_metadata":{},"locked":true,"lock_reason":"r","top":1}`
	runner := `{"scene_id":"B","beats":[{"beat_id":"b","takes":[{"take_id":"t9"}],"beat_metadata":{"shot":{"id":2,"raw":"r"},"batch_shots":[{"id":2,"aspect_ratio":"1"},"x"],"reroll_cleared_stale":true}},{"beat_id":"a","takes":[{"take_id":"t1","status":"running"}],"primary_take_id":"t1","beat_metadata":{"plan_shot":{"id":99},"inputs_fingerprint":"new","grouping":"g"},"board":{"s":"runner"},"approved":false}],"locked":false}`
	tests := []struct {
		name  string
		allow bool
		want  string
	}{
		{"no enrichment", false, `{"scene_id":"B","beats":[{"beat_id":"a","max_takes":3,"beat_metadata":{"plan_shot":{"id":1},"inputs_fingerprint":"new","note":"keep"},"takes":[{"take_id":"t1","status":"running"}],"primary_take_id":"t1","phantom_recovery_count":4,"board":{"s":"disk"},"approved":true,"zz":1},{"beat_id":"b","takes":[{"take_id":"t9"}],"primary_take_id":null,"phantom_recovery_count":0,"beat_metadata":{"reroll_cleared_stale":true}}],"scene_metadata":{},"locked":true,"lock_reason":"r","top":1}`},
		{"enrichment", true, `{"scene_id":"B","beats":[{"beat_id":"a","max_takes":3,"beat_metadata":{"plan_shot":{"id":1},"inputs_fingerprint":"new","note":"keep","grouping":"g"},"takes":[{"take_id":"t1","status":"running"}],"primary_take_id":"t1","phantom_recovery_count":4,"board":{"s":"disk"},"approved":true,"zz":1},{"beat_id":"b","takes":[{"take_id":"t9"}],"primary_take_id":null,"phantom_recovery_count":0,"beat_metadata":{"reroll_cleared_stale":true,"shot":{"id":2},"batch_shots":[{"id":2},"x"]}}],"scene_metadata":{},"locked":true,"lock_reason":"r","top":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, r := obj(t, disk), obj(t, runner)
			got, err := scene.Writer1Overlay(d, r, tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			if s := compact(t, got); s != tt.want {
				t.Fatalf("overlay:\n got %s\nwant %s", s, tt.want)
			}
			if compact(t, d) != compact(t, obj(t, disk)) || compact(t, r) != compact(t, obj(t, runner)) {
				t.Fatal("inputs modified")
			}
		})
	}
}

func TestWriter1OverlayErrors(t *testing.T) {
	tests := []struct {
		name, disk, runner string
		allow              bool
		code               settle.Code
		want               string
	}{
		{"disk beat missing from runner", `{"beats":[{"beat_id":"a"}]}`, `{"beats":[{"beat_id":"b"}]}`, false, settle.StructureImmutable, ""},
		{"runner beats not list", `{"beats":[]}`, `{"beats":"ab"}`, false, settle.InvalidInput, ""},
		{"runner beat not dict", `{"beats":[]}`, `{"beats":[1]}`, false, settle.InvalidInput, ""},
		{"runner unhashable id", `{"beats":[]}`, `{"beats":[{"beat_id":[1]}]}`, false, settle.InvalidInput, ""},
		{"disk beats not list", `{"beats":{"a":1}}`, `{"beats":[]}`, false, settle.Corrupt, ""},
		{"disk beat not dict", `{"beats":["a"]}`, `{"beats":[]}`, false, settle.Corrupt, ""},
		{"disk unhashable id", `{"beats":[{"beat_id":{}}]}`, `{"beats":[]}`, false, settle.Corrupt, ""},
		{"disk metadata list written", `{"beats":[{"beat_id":"a","beat_metadata":[1]}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"inputs_fingerprint":1}}]}`, false, settle.Corrupt, ""},
		{"runner metadata number", `{"beats":[{"beat_id":"a"}]}`, `{"beats":[{"beat_id":"a","beat_metadata":7}]}`, false, settle.InvalidInput, ""},
		{"null disk metadata replaced", `{"beats":[{"beat_id":"a","beat_metadata":null}]}`, `{"beats":[{"beat_id":"a","beat_metadata":{"inputs_fingerprint":1}}]}`, false, "", `{"beats":[{"beat_id":"a","beat_metadata":{"inputs_fingerprint":1},"takes":[],"primary_take_id":null,"phantom_recovery_count":0}]}`},
		{"null disk metadata kept", `{"beats":[{"beat_id":"a","beat_metadata":null}]}`, `{"beats":[{"beat_id":"a"}]}`, false, "", `{"beats":[{"beat_id":"a","beat_metadata":null,"takes":[],"primary_take_id":null,"phantom_recovery_count":0}]}`},
		{"int and float ids are one key", `{"beats":[{"beat_id":1}]}`, `{"beats":[{"beat_id":1.0,"primary_take_id":"x"},{"beat_id":true,"primary_take_id":"y"}]}`, false, "", `{"beats":[{"beat_id":1,"takes":[],"primary_take_id":"y","phantom_recovery_count":0,"beat_metadata":{}}]}`},
		{"later runner beat wins", `{"beats":[{"beat_id":"a"}]}`, `{"beats":[{"beat_id":"a","primary_take_id":"x"},{"beat_id":"a","primary_take_id":"y"}]}`, false, "", `{"beats":[{"beat_id":"a","takes":[],"primary_take_id":"y","phantom_recovery_count":0,"beat_metadata":{}}]}`},
		{"runner phantom null kept", `{"beats":[{"beat_id":"a","phantom_recovery_count":2}]}`, `{"beats":[{"beat_id":"a","phantom_recovery_count":null,"takes":0}]}`, false, "", `{"beats":[{"beat_id":"a","phantom_recovery_count":null,"takes":[],"primary_take_id":null,"beat_metadata":{}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scene.Writer1Overlay(obj(t, tt.disk), obj(t, tt.runner), tt.allow)
			wantCode(t, err, tt.code)
			if err == nil && compact(t, got) != tt.want {
				t.Fatalf("overlay:\n got %s\nwant %s", compact(t, got), tt.want)
			}
		})
	}
	_, err := scene.Writer1Overlay(nil, obj(t, `{}`), false)
	wantCode(t, err, settle.Corrupt)
}

func TestAssertBatchIdentity(t *testing.T) {
	wantCode(t, scene.AssertBatchIdentity("B", &scene.Scene{SceneID: "B"}), "")
	wantCode(t, scene.AssertBatchIdentity("B", &scene.Scene{SceneID: "C"}), settle.IdentityMismatch)
	wantCode(t, scene.AssertBatchIdentity("B", nil), settle.IdentityMismatch)
}

func TestCanonicalShotIdentity(t *testing.T) {
	in := obj(t, `{"id":1,"raw":{"a":1},"is_env_only":false,"aspect_ratio":"1","prompt":["p"]}`)
	got := scene.CanonicalShotIdentity(in)
	if compact(t, got) != `{"id":1,"prompt":["p"]}` {
		t.Fatalf("got %s", compact(t, got))
	}
	got.Set("id", 2)
	if v, _ := in.Get("id"); v != pyjson.Int("1") {
		t.Fatal("input aliased")
	}
	if scene.CanonicalShotIdentity(nil).Len() != 0 {
		t.Fatal("nil shot")
	}
}
