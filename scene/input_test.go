package scene_test

import (
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

func TestDecodeInput(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		code settle.Code
	}{
		"scene":                 {`{"scene_id": "B1", "beats": []}`, ""},
		"with schema_version 1": {`{"schema_version": 1, "scene_id": "B1"}`, ""},
		"other schema_version":  {`{"schema_version": 2, "scene_id": "B1"}`, settle.SchemaMismatch},
		"not JSON":              {`{"scene_id": `, settle.InvalidInput},
		"array":                 {`[1]`, settle.InvalidInput},
		"no scene_id (a plan)":  {`{"sequences": {}}`, settle.InvalidInput},
		"beats not a list":      {`{"scene_id": "B1", "beats": 3}`, settle.InvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			sc, err := scene.DecodeInput([]byte(c.in))
			if got := settle.ErrorCode(err); got != c.code {
				t.Fatalf("code %q (%v), want %q", got, err, c.code)
			}
			if c.code == "" && sc.SceneID != "B1" {
				t.Fatalf("scene_id %q", sc.SceneID)
			}
		})
	}
}
