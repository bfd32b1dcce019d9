package scene_test

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

func TestApplyPatchRFC(t *testing.T) {
	tests := []struct {
		name, patch string
		ok          bool
		check       string // substring of the result's compact JSON
	}{
		{"test int equals float", `[{"op":"test","path":"/beats/0/max_takes","value":3.5}]`, true, ""},
		{"test float spelling of big int", `[{"op":"test","path":"/beats/0/beat_metadata/plan_shot/n","value":1.2345678901234568e29}]`, false, ""},
		{"test exact big int", `[{"op":"test","path":"/beats/0/beat_metadata/plan_shot/n","value":123456789012345678901234567890}]`, true, ""},
		{"test 3 equals 3.0", `[{"op":"add","path":"/beats/0/x","value":3},{"op":"test","path":"/beats/0/x","value":3.0}]`, true, ""},
		{"test 3 equals 3e0", `[{"op":"add","path":"/beats/0/x","value":3},{"op":"test","path":"/beats/0/x","value":3e0}]`, true, ""},
		{"test true is not 1", `[{"op":"add","path":"/beats/0/x","value":true},{"op":"test","path":"/beats/0/x","value":1}]`, false, ""},
		{"test object unordered", `[{"op":"add","path":"/u","value":{"a":1,"b":[1,{"c":null}]}},{"op":"test","path":"/u","value":{"b":[1.0,{"c":null}],"a":1}}]`, true, ""},
		{"test array order matters", `[{"op":"add","path":"/u","value":[1,2]},{"op":"test","path":"/u","value":[2,1]}]`, false, ""},
		{"test null vs missing", `[{"op":"test","path":"/nope","value":null}]`, false, ""},
		{"test null", `[{"op":"test","path":"/beats/0/board","value":null}]`, true, ""},
		{"test lone surrogate", `[{"op":"test","path":"/beats/0/beat_metadata/plan_shot/s","value":"\ud800 lone"}]`, true, ""},
		{"test failing", `[{"op":"test","path":"/scene_id","value":"b"}]`, false, ""},
		{"leading zero index", `[{"op":"replace","path":"/beats/00/approved","value":true}]`, false, ""},
		{"index 01", `[{"op":"replace","path":"/beats/01/approved","value":true}]`, false, ""},
		{"minus zero index", `[{"op":"replace","path":"/beats/-0/approved","value":true}]`, false, ""},
		{"plus index", `[{"op":"replace","path":"/beats/+0/approved","value":true}]`, false, ""},
		{"huge index", `[{"op":"replace","path":"/beats/99999999999999999999999/approved","value":true}]`, false, ""},
		{"dash only for add", `[{"op":"replace","path":"/beats/-","value":{"beat_id":"x"}}]`, false, ""},
		{"dash in the middle", `[{"op":"replace","path":"/beats/-/approved","value":true}]`, false, ""},
		{"add at end index", `[{"op":"add","path":"/beats/1","value":{"beat_id":"x"}}]`, true, `{"beat_id":"x"`},
		{"add with dash", `[{"op":"add","path":"/beats/-","value":{"beat_id":"y"}}]`, true, `{"beat_id":"y"`},
		{"add at front", `[{"op":"add","path":"/beats/0","value":{"beat_id":"z"}}]`, true, `"beats":[{"beat_id":"z"`},
		{"add past end", `[{"op":"add","path":"/beats/2","value":{"beat_id":"x"}}]`, false, ""},
		{"escaped pointer", `[{"op":"add","path":"/beats/0/beat_metadata/a~1b~0c","value":1}]`, true, `"a/b~c":1`},
		{"empty key", `[{"op":"add","path":"/beats/0/beat_metadata/","value":2}]`, true, `"":2`},
		{"bad escape", `[{"op":"add","path":"/beats/0/beat_metadata/a~2","value":1}]`, false, ""},
		{"trailing tilde", `[{"op":"add","path":"/beats/0/beat_metadata/a~","value":1}]`, false, ""},
		{"pointer without slash", `[{"op":"add","path":"beats","value":1}]`, false, ""},
		{"replace keeps position", `[{"op":"replace","path":"/scene_id","value":"B"}]`, true, `{"scene_id":"B","beats"`},
		{"add existing member replaces in place", `[{"op":"add","path":"/scene_id","value":"B"}]`, true, `{"scene_id":"B","beats"`},
		{"add missing parent", `[{"op":"add","path":"/a/b","value":1}]`, false, ""},
		{"move into own child", `[{"op":"move","from":"/beats/0","path":"/beats/0/x"}]`, false, ""},
		{"move onto itself", `[{"op":"move","from":"/beats/0","path":"/beats/0"}]`, true, ""},
		{"move missing from", `[{"op":"move","from":"/nope","path":"/x"}]`, false, ""},
		{"move there and back", `[{"op":"move","from":"/beats/0/takes","path":"/beats/0/t2"},{"op":"move","from":"/beats/0/t2","path":"/beats/0/takes"}]`, true, ""},
		{"copy keeps the literal", `[{"op":"copy","from":"/beats/0/beat_metadata/plan_shot/n","path":"/beats/0/beat_metadata/k"}]`, true, `"k":123456789012345678901234567890`},
		{"copy is a copy", `[{"op":"copy","from":"/beats/0/beat_metadata/plan_shot","path":"/beats/0/beat_metadata/p2"},{"op":"replace","path":"/beats/0/beat_metadata/p2/s","value":"x"},{"op":"test","path":"/beats/0/beat_metadata/plan_shot/s","value":"\ud800 lone"}]`, true, ""},
		{"remove root", `[{"op":"remove","path":""}]`, false, ""},
		{"remove array element", `[{"op":"remove","path":"/beats/0/takes/0"}]`, true, `"takes":[]`},
		{"replace root", `[{"op":"replace","path":"","value":{"scene_id":"Z"}}]`, true, `{"scene_id":"Z","beats":[]`},
		{"add root", `[{"op":"add","path":"","value":{"scene_id":"Y"}}]`, true, `{"scene_id":"Y"`},
		{"through a scalar", `[{"op":"add","path":"/scene_id/x","value":1}]`, false, ""},
		{"extra members ignored", `[{"op":"remove","path":"/u","value":5,"from":"/x","comment":"c"}]`, true, ""},
		{"later op sees earlier", `[{"op":"add","path":"/beats/0/takes/-","value":{"take_id":"n"}},{"op":"add","path":"/beats/0/takes/1/status","value":"failed"}]`, true, `{"take_id":"n","status":"failed"`},
		{"all or nothing", `[{"op":"replace","path":"/scene_id","value":"Q"},{"op":"remove","path":"/nope"}]`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := patchScene(t)
			before := compact(t, sc.ToTree())
			out, err := scene.ApplyPatch(sc, []byte(tt.patch))
			if compact(t, sc.ToTree()) != before {
				t.Fatal("ApplyPatch modified its input")
			}
			if !tt.ok {
				wantCode(t, err, settle.InvalidInput)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := compact(t, out.ToTree()); !strings.Contains(got, tt.check) {
				t.Fatalf("result lacks %s:\n%s", tt.check, got)
			}
		})
	}
}
