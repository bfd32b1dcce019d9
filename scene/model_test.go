package scene_test

import (
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

func TestFromTreeDefaults(t *testing.T) {
	sc, err := scene.FromTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b1","takes":[{"take_id":"t1"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := compact(t, sc.ToTree())
	want := `{"scene_id":"B","beats":[{"beat_id":"b1","max_takes":3,"beat_metadata":{},"takes":[{"take_id":"t1","status":"pending","created_at":null,"started_at":null,"finished_at":null,"artifact_path":null,"receipt":null,"error":null}],"primary_take_id":null,"phantom_recovery_count":0,"board":null,"approved":false}],"scene_metadata":{},"locked":false,"lock_reason":null}`
	if got != want {
		t.Fatalf("defaults:\n got %s\nwant %s", got, want)
	}
}

func TestFromTreeFalsyContainers(t *testing.T) {
	// The seed's `or {}` / `or []`: any falsy value is empty.
	for _, v := range []string{"null", "false", "0", "0.0", `""`, "[]", "{}"} {
		sc, err := scene.FromTree(obj(t, `{"scene_id":"B","scene_metadata":`+v+`,"beats":[{"beat_id":"b","beat_metadata":`+v+`,"takes":`+v+`}]}`))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if sc.SceneMetadata.Len() != 0 || sc.Beats[0].BeatMetadata.Len() != 0 || len(sc.Beats[0].Takes) != 0 {
			t.Fatalf("%s: not empty", v)
		}
	}
	sc, err := scene.FromTree(obj(t, `{"scene_id":"B","beats":null}`))
	if err != nil || len(sc.Beats) != 0 {
		t.Fatalf("beats null: %v %v", sc, err)
	}
}

func TestFromTreeRoundTripExtra(t *testing.T) {
	in := `{"zz":1,"scene_id":"B","beats":[{"x":[1,2.5,1e+21],"beat_id":"b","board":{"k":"v"},"takes":[{"take_id":"t","receipt":{"n":123456789012345678901234567890},"extra_take":null}],"approved":true,"max_takes":5.0}],"scene_metadata":{"episode":"1"},"locked":true,"lock_reason":"r","aa":{"nested":[]}}`
	sc, err := scene.FromTree(obj(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Extra) != 2 || sc.Extra[0].Key != "zz" || sc.Extra[1].Key != "aa" {
		t.Fatalf("scene extra = %+v", sc.Extra)
	}
	got := compact(t, sc.ToTree())
	want := `{"scene_id":"B","beats":[{"beat_id":"b","max_takes":5.0,"beat_metadata":{},"takes":[{"take_id":"t","status":"pending","created_at":null,"started_at":null,"finished_at":null,"artifact_path":null,"receipt":{"n":123456789012345678901234567890},"error":null,"extra_take":null}],"primary_take_id":null,"phantom_recovery_count":0,"board":{"k":"v"},"approved":true,"x":[1,2.5,1e+21]}],"scene_metadata":{"episode":"1"},"locked":true,"lock_reason":"r","zz":1,"aa":{"nested":[]}}`
	if got != want {
		t.Fatalf("round trip:\n got %s\nwant %s", got, want)
	}
	// A second round trip is stable.
	sc2, err := scene.FromTree(sc.ToTree())
	if err != nil || compact(t, sc2.ToTree()) != want {
		t.Fatalf("second round trip: %v", err)
	}
}

func TestFromTreeShapeErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"missing scene_id", `{"beats":[]}`},
		{"int scene_id", `{"scene_id":1}`},
		{"null scene_id", `{"scene_id":null}`},
		{"beats object", `{"scene_id":"B","beats":{"a":1}}`},
		{"beats string", `{"scene_id":"B","beats":"ab"}`},
		{"beat not object", `{"scene_id":"B","beats":[1]}`},
		{"missing beat_id", `{"scene_id":"B","beats":[{}]}`},
		{"int beat_id", `{"scene_id":"B","beats":[{"beat_id":3}]}`},
		{"string max_takes", `{"scene_id":"B","beats":[{"beat_id":"b","max_takes":"3"}]}`},
		{"bool max_takes", `{"scene_id":"B","beats":[{"beat_id":"b","max_takes":true}]}`},
		{"null max_takes", `{"scene_id":"B","beats":[{"beat_id":"b","max_takes":null}]}`},
		{"list beat_metadata", `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":[1]}]}`},
		{"string beat_metadata", `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":"plan_shot"}]}`},
		{"board list", `{"scene_id":"B","beats":[{"beat_id":"b","board":[]}]}`},
		{"approved int", `{"scene_id":"B","beats":[{"beat_id":"b","approved":1}]}`},
		{"primary int", `{"scene_id":"B","beats":[{"beat_id":"b","primary_take_id":1}]}`},
		{"phantom string", `{"scene_id":"B","beats":[{"beat_id":"b","phantom_recovery_count":"0"}]}`},
		{"takes object", `{"scene_id":"B","beats":[{"beat_id":"b","takes":{"t":1}}]}`},
		{"take not object", `{"scene_id":"B","beats":[{"beat_id":"b","takes":["t"]}]}`},
		{"missing take_id", `{"scene_id":"B","beats":[{"beat_id":"b","takes":[{}]}]}`},
		{"null status", `{"scene_id":"B","beats":[{"beat_id":"b","takes":[{"take_id":"t","status":null}]}]}`},
		{"receipt string", `{"scene_id":"B","beats":[{"beat_id":"b","takes":[{"take_id":"t","receipt":"x"}]}]}`},
		{"error number", `{"scene_id":"B","beats":[{"beat_id":"b","takes":[{"take_id":"t","error":1}]}]}`},
		{"scene_metadata list", `{"scene_id":"B","scene_metadata":[1]}`},
		{"locked null", `{"scene_id":"B","locked":null}`},
		{"lock_reason bool", `{"scene_id":"B","lock_reason":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scene.FromTree(obj(t, tt.in))
			wantCode(t, err, settle.Corrupt)
		})
	}
	_, err := scene.FromTree(nil)
	wantCode(t, err, settle.Corrupt)
}

func TestCloneIsDeep(t *testing.T) {
	sc, err := scene.FromTree(obj(t, `{"scene_id":"B","beats":[{"beat_id":"b","beat_metadata":{"plan_shot":{"a":[1]}},"board":{"s":"x"},"takes":[{"take_id":"t","receipt":{"r":1},"error":"e"}]}],"q":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	before := compact(t, sc.ToTree())
	c := sc.Clone()
	c.Beats[0].BeatMetadata.Set("plan_shot", "changed")
	c.Beats[0].Board.(*pyjson.Object).Set("s", "y")
	c.Beats[0].Takes[0].Receipt.(*pyjson.Object).Set("r", 2)
	*c.Beats[0].Takes[0].Error = "f"
	c.Extra[0].Value.([]any)[0] = pyjson.Int("9")
	c.Beats = append(c.Beats, &scene.Beat{BeatID: "new"})
	if got := compact(t, sc.ToTree()); got != before {
		t.Fatalf("clone aliased the original:\n got %s\nwant %s", got, before)
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name, in string
		code     settle.Code
	}{
		{"ok", `{"schema_version":1,"scene_id":"B"}`, ""},
		{"float schema passes", `{"schema_version":1.0,"scene_id":"B"}`, ""},
		{"true schema passes", `{"schema_version":true,"scene_id":"B"}`, ""},
		{"schema last", `{"scene_id":"B","schema_version":1}`, ""},
		{"missing schema", `{"scene_id":"B"}`, settle.SchemaMismatch},
		{"null schema", `{"schema_version":null,"scene_id":"B"}`, settle.SchemaMismatch},
		{"string schema", `{"schema_version":"1","scene_id":"B"}`, settle.SchemaMismatch},
		{"schema 2", `{"schema_version":2,"scene_id":"B"}`, settle.SchemaMismatch},
		{"NaN schema", `{"schema_version":NaN,"scene_id":"B"}`, settle.SchemaMismatch},
		{"invalid json", `{"schema_version":1,`, settle.Corrupt},
		{"empty", ``, settle.Corrupt},
		{"array", `[1]`, settle.Corrupt},
		{"bom", "\ufeff{\"schema_version\":1,\"scene_id\":\"B\"}", settle.Corrupt},
		{"invalid utf8", "{\"schema_version\":1,\"scene_id\":\"\xff\"}", settle.Corrupt},
		{"wrong type", `{"schema_version":1,"scene_id":7}`, settle.Corrupt},
		{"schema before shape", `{"schema_version":2,"scene_id":7}`, settle.SchemaMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scene.DecodeBody([]byte(tt.in))
			wantCode(t, err, tt.code)
			tree, err := scene.DecodeBodyTree([]byte(tt.in))
			if tt.code == settle.Corrupt && tt.name == "wrong type" {
				// The raw tree does not check the model's shape.
				wantCode(t, err, "")
				return
			}
			wantCode(t, err, tt.code)
			if err == nil && tree.Has("schema_version") {
				t.Fatal("schema_version not removed")
			}
		})
	}
}

func TestEncodeBodyGolden(t *testing.T) {
	sc, err := scene.FromTree(obj(t, `{"scene_id":"B\u00e9\ud83c\udfac","beats":[{"beat_id":"b","beat_metadata":{"x":-0.0,"y":1e-07,"z":[]}}],"scene_metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := scene.EncodeBody(sc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "schema_version": 1,
  "scene_id": "B\u00e9\ud83c\udfac",
  "beats": [
    {
      "beat_id": "b",
      "max_takes": 3,
      "beat_metadata": {
        "x": -0.0,
        "y": 1e-07,
        "z": []
      },
      "takes": [],
      "primary_take_id": null,
      "phantom_recovery_count": 0,
      "board": null,
      "approved": false
    }
  ],
  "scene_metadata": {},
  "locked": false,
  "lock_reason": null
}`
	if string(got) != want {
		t.Fatalf("EncodeBody:\n%s\nwant\n%s", got, want)
	}
	back, err := scene.DecodeBody(got)
	if err != nil || compact(t, back.ToTree()) != compact(t, sc.ToTree()) {
		t.Fatalf("decode of encoded body differs: %v", err)
	}
}

func TestEncodeBodyTreeSchemaFirst(t *testing.T) {
	got, err := scene.EncodeBodyTree(obj(t, `{"scene_id":"B","schema_version":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"schema_version\": 1,\n  \"scene_id\": \"B\"\n}"; string(got) != want {
		t.Fatalf("got %s", got)
	}
	_, err = scene.EncodeBodyTree(nil)
	wantCode(t, err, settle.InvalidInput)
	_, err = scene.EncodeBody(&scene.Scene{SceneID: "B", SceneMetadata: objWith("k", struct{}{})})
	wantCode(t, err, settle.InvalidInput)
}

func objWith(k string, v any) *pyjson.Object {
	o := pyjson.NewObject()
	o.Set(k, v)
	return o
}

func TestDecodeManifest(t *testing.T) {
	good := `{"active_version": 2, "batch_id": "B", "schema_version": 1, "versions": [{"artifact": "ep_001_B.json", "created_at": null, "reason": "materialized-legacy", "structure_fingerprint": "aa", "version": 1}, {"artifact": "ep_001_B.v002.json", "created_at": "2026-01-02T03:04:05.000006+00:00", "reason": "", "structure_fingerprint": "bb", "version": 2}]}`
	tests := []struct {
		name, in string
		code     settle.Code
	}{
		{"ok", good, ""},
		{"float schema", strings.Replace(good, `"schema_version": 1`, `"schema_version": 1.0`, 1), ""},
		{"missing schema", strings.Replace(good, `"schema_version": 1,`, ``, 1), settle.SchemaMismatch},
		{"schema 2", strings.Replace(good, `"schema_version": 1`, `"schema_version": 2`, 1), settle.SchemaMismatch},
		{"other batch", strings.Replace(good, `"batch_id": "B"`, `"batch_id": "C"`, 1), settle.ManifestIdentity},
		{"missing batch", strings.Replace(good, `"batch_id": "B",`, ``, 1), settle.ManifestIdentity},
		{"schema before identity", strings.Replace(strings.Replace(good, `"batch_id": "B"`, `"batch_id": "C"`, 1), `"schema_version": 1`, `"schema_version": 3`, 1), settle.SchemaMismatch},
		{"float active", strings.Replace(good, `"active_version": 2`, `"active_version": 2.0`, 1), settle.Corrupt},
		{"null active", strings.Replace(good, `"active_version": 2`, `"active_version": null`, 1), settle.Corrupt},
		{"huge active", strings.Replace(good, `"active_version": 2`, `"active_version": 99999999999999999999`, 1), settle.Corrupt},
		{"versions object", `{"schema_version":1,"batch_id":"B","active_version":1,"versions":{}}`, settle.Corrupt},
		{"entry not object", `{"schema_version":1,"batch_id":"B","active_version":1,"versions":[1]}`, settle.Corrupt},
		{"entry artifact int", `{"schema_version":1,"batch_id":"B","active_version":1,"versions":[{"version":1,"artifact":1}]}`, settle.Corrupt},
		{"entry no version", `{"schema_version":1,"batch_id":"B","active_version":1,"versions":[{"artifact":"a"}]}`, settle.Corrupt},
		{"entry bool version", `{"schema_version":1,"batch_id":"B","active_version":1,"versions":[{"version":true,"artifact":"a"}]}`, settle.Corrupt},
		{"invalid json", `{`, settle.Corrupt},
		{"not object", `[]`, settle.Corrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := scene.DecodeManifest([]byte(tt.in), "B")
			wantCode(t, err, tt.code)
			if err != nil {
				return
			}
			out, err := scene.EncodeManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := scene.DecodeManifest(out, "B")
			if err != nil {
				t.Fatal(err)
			}
			out2, _ := scene.EncodeManifest(m2)
			if string(out) != string(out2) {
				t.Fatal("manifest round trip not stable")
			}
		})
	}
}

func TestManifestEncodeEntryMax(t *testing.T) {
	ts := "2026-01-02T03:04:05+00:00"
	m := &scene.Manifest{SchemaVersion: 1, BatchID: "B\u00e9", ActiveVersion: 3, Versions: []scene.ManifestEntry{
		{Version: 1, Artifact: "a", StructureFingerprint: "f1", Reason: "materialized-legacy"},
		{Version: 3, Artifact: "c", StructureFingerprint: "f3", CreatedAt: &ts, Reason: "r"},
	}}
	got, err := scene.EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "active_version": 3,
  "batch_id": "B\u00e9",
  "schema_version": 1,
  "versions": [
    {
      "artifact": "a",
      "created_at": null,
      "reason": "materialized-legacy",
      "structure_fingerprint": "f1",
      "version": 1
    },
    {
      "artifact": "c",
      "created_at": "2026-01-02T03:04:05+00:00",
      "reason": "r",
      "structure_fingerprint": "f3",
      "version": 3
    }
  ]
}`
	if string(got) != want {
		t.Fatalf("EncodeManifest:\n%s", got)
	}
	if e, err := m.Entry(3); err != nil || e.Artifact != "c" {
		t.Fatalf("Entry(3) = %v, %v", e, err)
	}
	_, err = m.Entry(2)
	wantCode(t, err, settle.NotFound)
	if m.MaxVersion() != 3 {
		t.Fatalf("MaxVersion = %d", m.MaxVersion())
	}
	if (&scene.Manifest{}).MaxVersion() != 0 {
		t.Fatal("empty MaxVersion")
	}
	_, err = scene.EncodeManifest(nil)
	wantCode(t, err, settle.InvalidInput)
}

func TestPyISOFormat(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05+00:00"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), "2026-01-02T03:04:05.123456+00:00"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC), "2026-01-02T03:04:05+00:00"},
		{time.Date(2026, 1, 2, 12, 0, 0, 1000, time.FixedZone("", 9*3600)), "2026-01-02T03:00:00.000001+00:00"},
	}
	for _, tt := range tests {
		if got := scene.PyISOFormat(tt.in); got != tt.want {
			t.Errorf("PyISOFormat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromTreeIgnoresWrapperSchemaVersion(t *testing.T) {
	sc, err := scene.FromTree(obj(t, `{"schema_version":1,"scene_id":"B","beats":[{"beat_id":"b","schema_version":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Extra) != 0 {
		t.Fatalf("scene extra = %+v", sc.Extra)
	}
	if len(sc.Beats[0].Extra) != 1 || sc.Beats[0].Extra[0].Key != "schema_version" {
		t.Fatalf("a beat's schema_version is an ordinary unknown member: %+v", sc.Beats[0].Extra)
	}
	if _, err := scene.ApplyPatch(sc, []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
}
