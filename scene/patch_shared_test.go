package scene_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
)

// The patch of a status write, which builds the trees of only the beats
// its operations point into, must give what ApplyPatch gives on a copy of
// the whole scene: the same scene, or the same refusal, and leave the
// scene it was given as it was.
func TestApplyPatchSharedMatchesApplyPatch(t *testing.T) {
	g := newGen(uint64(testenv.Seed(t)))
	templates := []string{
		`[{"op": "replace", "path": "/beats/%d/approved", "value": true}]`,
		`[{"op": "replace", "path": "/beats/%d/takes/0/status", "value": "succeeded"}]`,
		`[{"op": "add", "path": "/beats/%d/takes/-", "value": {"take_id": "n", "status": "pending"}}]`,
		`[{"op": "test", "path": "/beats/%d/beat_id", "value": "SH_000"}, {"op": "replace", "path": "/beats/%[1]d/approved", "value": false}]`,
		`[{"op": "copy", "from": "/beats/%d/takes/0", "path": "/beats/0/takes/-"}]`,
		`[{"op": "move", "from": "/beats/%d/takes/0", "path": "/beats/0/takes/0"}]`,
		`[{"op": "remove", "path": "/beats/%d/board"}]`,
		`[{"op": "remove", "path": "/beats/%d"}]`,
		`[{"op": "replace", "path": "/beats/0%d/approved", "value": true}]`,
		`[{"op": "copy", "from": "/beats/%d", "path": "/beats/-"}]`,
		`[{"op": "replace", "path": "/scene_metadata", "value": {"n": %d}}]`,
	}
	same, refused := 0, 0
	for i := 0; i < 600; i++ {
		sc, err := scene.DecodeBody([]byte(g.scene(i%2 == 0, false)))
		if err != nil {
			continue
		}
		before, err := scene.EncodeBody(sc)
		if err != nil {
			continue
		}
		patch := []byte(fmt.Sprintf(templates[g.intn(len(templates))], g.intn(len(sc.Beats)+2)))
		want, werr := scene.ApplyPatch(sc, patch)
		got, err := scene.ApplyPatchShared(sc, patch)
		if werr != nil {
			if err == nil || err.Error() != werr.Error() {
				t.Fatalf("case %d %s: ApplyPatch: %v; shared: %v", i, patch, werr, err)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("case %d %s: %v", i, patch, err)
		}
		wb, werr := scene.EncodeBody(want)
		gb, err := scene.EncodeBody(got)
		if werr != nil || err != nil || !bytes.Equal(wb, gb) {
			t.Fatalf("case %d %s: shared wrote (%v)\n%s\nwant (%v)\n%s", i, patch, err, gb, werr, wb)
		}
		if after, _ := scene.EncodeBody(sc); !bytes.Equal(after, before) {
			t.Fatalf("case %d %s: the scene patched changed", i, patch)
		}
		same++
	}
	if same < 100 || refused < 50 {
		t.Fatalf("%d patches applied, %d refused: want both", same, refused)
	}
}
