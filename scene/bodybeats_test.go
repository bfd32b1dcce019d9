package scene_test

import (
	"bytes"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// A status write copies the bytes of every beat written as before from the
// body it wrote last: the body must be EncodeBody's, byte for byte, for
// any scene and any change, and the unchanged beats must be copied.
func TestEncodeBodyReusingMatchesEncodeBody(t *testing.T) {
	g := newGen(uint64(testenv.Seed(t)))
	checked, copied := 0, 0
	for i := 0; i < 400; i++ {
		sc, err := scene.DecodeBody([]byte(g.scene(i%2 == 0, false)))
		if err != nil {
			continue
		}
		mut := sc.Clone()
		changed := map[int]bool{}
		for k := g.intn(3); k > 0 && len(mut.Beats) > 0; k-- {
			j := g.intn(len(mut.Beats))
			b := mut.Beats[j]
			switch g.intn(6) {
			case 0:
				b.Approved = !b.Approved
			case 1:
				if len(b.Takes) == 0 {
					continue
				}
				b.Takes[g.intn(len(b.Takes))].Status += "x"
			case 2:
				b.Takes = append(b.Takes, &scene.Take{TakeID: "new", Status: scene.TakeRunning})
			case 3:
				if b.BeatMetadata == nil {
					b.BeatMetadata = pyjson.NewObject()
				}
				b.BeatMetadata.Set("prompt_directive", g.lit(g.text(8)))
			case 4:
				if b.PrimaryTakeID == nil {
					id := "t0"
					b.PrimaryTakeID = &id
				} else {
					b.PrimaryTakeID = nil
				}
			case 5:
				if len(b.Takes) == 0 {
					continue
				}
				msg := "provider timeout"
				b.Takes[0].Error = &msg
			}
			changed[j] = true
		}
		if g.chance(0.2) {
			mut.Locked = !mut.Locked
		}
		want, werr := scene.EncodeBody(mut)
		got, n, err := scene.EncodeBodyReusing(sc, mut)
		if werr != nil {
			if err == nil || err.Error() != werr.Error() {
				t.Fatalf("case %d: EncodeBody: %v; reusing: %v", i, werr, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: reusing wrote\n%s\nwant\n%s", i, got, want)
		}
		if n < len(mut.Beats)-len(changed) {
			t.Fatalf("case %d: %d beats copied of %d unchanged", i, n, len(mut.Beats)-len(changed))
		}
		checked++
		copied += n
	}
	if checked < 200 || copied == 0 {
		t.Fatalf("only %d scenes checked, %d beats copied", checked, copied)
	}
}

// A changed beat is checked against the limits as EncodeBody checks the
// whole body: the same refusal, with the same message.
func TestEncodeBodyReusingLimits(t *testing.T) {
	base := &scene.Scene{SceneID: "B", Beats: []*scene.Beat{{BeatID: "a"}, {BeatID: "b"}}}
	deep := any("x")
	for range settle.MaxJSONDepth {
		deep = []any{deep}
	}
	for name, change := range map[string]func(sc *scene.Scene){
		"takes": func(sc *scene.Scene) {
			for range settle.MaxTakesPerBeat + 1 {
				sc.Beats[1].Takes = append(sc.Beats[1].Takes, &scene.Take{TakeID: "t", Status: scene.TakePending})
			}
		},
		"depth": func(sc *scene.Scene) {
			sc.Beats[1].BeatMetadata = pyjson.NewObject()
			sc.Beats[1].BeatMetadata.Set("deep", deep)
		},
		"scene-depth": func(sc *scene.Scene) {
			sc.SceneMetadata = pyjson.NewObject()
			sc.SceneMetadata.Set("deep", deep)
		},
	} {
		mut := base.Clone()
		change(mut)
		_, werr := scene.EncodeBody(mut)
		_, _, err := scene.EncodeBodyReusing(base, mut)
		if werr == nil || err == nil || err.Error() != werr.Error() || settle.ErrorCode(err) != settle.InvalidInput {
			t.Errorf("%s: EncodeBody: %v; reusing: %v", name, werr, err)
		}
	}
}
