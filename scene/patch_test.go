package scene_test

import (
	"fmt"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

const patchBase = `{"scene_id":"B","beats":[{"beat_id":"b","max_takes":3.50,"beat_metadata":{"plan_shot":{"n":123456789012345678901234567890,"f":1e-07,"z":-0.0,"s":"\ud800 lone","h":"<&>"}},"takes":[{"take_id":"t","status":"running"}]}],"u":{"x":1E400}}`

func patchScene(t *testing.T) *scene.Scene {
	t.Helper()
	v, err := pyjson.Parse([]byte(strings.Replace(patchBase, "1E400", "1E300", 1)))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scene.FromTree(v.(*pyjson.Object))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestApplyPatch(t *testing.T) {
	sc := patchScene(t)
	before := compact(t, sc.ToTree())
	out, err := scene.ApplyPatch(sc, []byte(`[
	 {"op":"test","path":"/beats/0/takes/0/status","value":"running"},
	 {"op":"replace","path":"/beats/0/takes/0/status","value":"succeeded"},
	 {"op":"add","path":"/beats/0/board","value":{"big":98765432109876543210987654321,"f":2.50}},
	 {"op":"add","path":"/beats/0/takes/-","value":{"take_id":"t2"}},
	 {"op":"replace","path":"/beats/0/approved","value":true}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if compact(t, sc.ToTree()) != before {
		t.Fatal("ApplyPatch changed its input")
	}
	tree := out.ToTree()
	got := compact(t, tree)
	for _, want := range []string{
		`"status":"succeeded"`,
		`"n":123456789012345678901234567890`,
		`"f":1e-07`,
		`"z":-0.0`,
		`"s":"\ud800 lone"`,
		`"h":"<&>"`,
		`"big":98765432109876543210987654321`,
		`"f":2.5`,
		`"max_takes":3.5`,
		`{"take_id":"t2","status":"pending"`,
		`"approved":true`,
		`"u":{"x":1e+300}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("result lacks %s:\n%s", want, got)
		}
	}
	if err := scene.StatusGuard(sc, out); err != nil {
		t.Fatalf("status patch refused: %v", err)
	}
}

func TestApplyPatchErrors(t *testing.T) {
	tests := []struct{ name, patch string }{
		{"not json", `[{`},
		{"not array", `{"op":"add"}`},
		{"null", `null`},
		{"empty", ``},
		{"unknown op", `[{"op":"frob","path":"/x"}]`},
		{"no path", `[{"op":"remove"}]`},
		{"add without value", `[{"op":"add","path":"/x"}]`},
		{"test without value", `[{"op":"test","path":"/scene_id"}]`},
		{"move without from", `[{"op":"move","path":"/x"}]`},
		{"failing test", `[{"op":"test","path":"/scene_id","value":"C"}]`},
		{"missing path", `[{"op":"replace","path":"/nope","value":1}]`},
		{"remove missing", `[{"op":"remove","path":"/beats/5"}]`},
		{"negative index", `[{"op":"replace","path":"/beats/-1/approved","value":true}]`},
		{"add under missing parent", `[{"op":"add","path":"/a/b/c","value":1}]`},
		{"result wrong type", `[{"op":"replace","path":"/beats/0/approved","value":"yes"}]`},
		{"result missing scene_id", `[{"op":"remove","path":"/scene_id"}]`},
		{"result not object", `[{"op":"replace","path":"","value":[1]}]`},
		{"schema_version added", `[{"op":"add","path":"/schema_version","value":1}]`},
		{"NaN value", `[{"op":"add","path":"/x","value":NaN}]`},
		{"doubling copy bomb", doublingPatch(60)},
		{"copy bomb", `[{"op":"add","path":"/a","value":"` + strings.Repeat("x", 1<<20) + `"}` + strings.Repeat(`,{"op":"copy","from":"/a","path":"/b"},{"op":"copy","from":"/b","path":"/c"}`, 12) + `]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scene.ApplyPatch(patchScene(t), []byte(tt.patch))
			wantCode(t, err, settle.InvalidInput)
		})
	}
}

func TestApplyPatchNonFinite(t *testing.T) {
	sc := patchScene(t)
	v, _ := pyjson.Parse([]byte(`[NaN, Infinity, -Infinity]`))
	sc.Beats[0].BeatMetadata.Set("bad", v)
	out, err := scene.ApplyPatch(sc, []byte(`[{"op":"replace","path":"/beats/0/approved","value":true}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := compact(t, out.Beats[0].BeatMetadata); !strings.Contains(got, `"bad":[NaN,Infinity,-Infinity]`) {
		t.Fatalf("non-finite values not kept: %s", got)
	}
	// A patch is standard JSON: NaN in a patch is refused.
	_, err = scene.ApplyPatch(sc, []byte(`[{"op":"add","path":"/x","value":NaN}]`))
	wantCode(t, err, settle.InvalidInput)
}

func TestValidatePatch(t *testing.T) {
	wantCode(t, scene.ValidatePatch([]byte(`[]`)), "")
	wantCode(t, scene.ValidatePatch([]byte(`[{"op":"add","path":"/a","value":null},{"op":"copy","from":"/a","path":"/b"}]`)), "")
	wantCode(t, scene.ValidatePatch([]byte(`[{"op":"add","path":"/a"}]`)), settle.InvalidInput)
	wantCode(t, scene.ValidatePatch([]byte(`{}`)), settle.InvalidInput)
}

// doublingPatch copies the whole document into a new member n times: the
// document doubles with every operation.
func doublingPatch(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"","path":"/x%d"}`, i)
	}
	return "[" + strings.Join(ops, ",") + "]"
}
