package scene_test

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// TestHardeningL_CheckRegisteredBody: the one decision show, status writes
// and fsck share.
func TestHardeningL_CheckRegisteredBody(t *testing.T) {
	m := &scene.Manifest{BatchID: "B1", ActiveVersion: 2, Versions: []scene.ManifestEntry{
		{Version: 1, Artifact: "a1"}, {Version: 2, Artifact: "a2", StructureFingerprint: "fp2"},
	}}
	for _, c := range []struct {
		v       int
		id, fp  string
		want    settle.Code
		message string
	}{
		{2, "B1", "fp2", "", ""},
		{1, "B1", "anything", "", ""}, // no fingerprint recorded
		{2, "B9", "fp2", settle.ManifestIdentity, `loaded scene_id "B9"`},
		{2, "B1", "other", settle.Corrupt, "the body was edited"},
		{3, "B1", "fp2", settle.NotFound, "not registered"},
	} {
		err := scene.CheckRegisteredBody("B1", m, c.v, c.id, c.fp)
		if settle.ErrorCode(err) != c.want || (err != nil && !strings.Contains(err.Error(), c.message)) {
			t.Errorf("v%d %s %s: %v, want %s %q", c.v, c.id, c.fp, err, c.want, c.message)
		}
	}
}

// TestHardeningB_EncodeBodyLimits: the encoder of every body refuses one
// past the nesting, beat or take limits, naming the limit, and writes one
// at the nesting limit.
func TestHardeningB_EncodeBodyLimits(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	atLimit, err := scene.DecodeInput([]byte(`{"scene_id": "B", "beats": [], "scene_metadata": {"x": ` + nest(settle.MaxJSONDepth-2) + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scene.EncodeBody(atLimit); err != nil {
		t.Fatalf("body at MaxJSONDepth: %v", err)
	}
	tree, err := pyjson.Parse([]byte(`{"scene_id": "B", "beats": [], "scene_metadata": {"x": ` + nest(settle.MaxJSONDepth-1) + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	deeper, err := scene.FromTree(tree.(*pyjson.Object))
	if err != nil {
		t.Fatal(err)
	}
	_, err = scene.EncodeBody(deeper)
	if settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxJSONDepth") {
		t.Fatalf("body past MaxJSONDepth: %v", err)
	}
	many := atLimit.Clone()
	for i := 0; i <= settle.MaxBeats; i++ {
		many.Beats = append(many.Beats, &scene.Beat{BeatID: "S"})
	}
	if _, err := scene.EncodeBody(many); settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxBeats") {
		t.Fatalf("body past MaxBeats: %v", err)
	}
	takes := atLimit.Clone()
	b := &scene.Beat{BeatID: "S"}
	for i := 0; i <= settle.MaxTakesPerBeat; i++ {
		b.Takes = append(b.Takes, &scene.Take{TakeID: "t"})
	}
	takes.Beats = append(takes.Beats, b)
	if _, err := scene.EncodeBody(takes); settle.ErrorCode(err) != settle.InvalidInput || !strings.Contains(err.Error(), "MaxTakesPerBeat") {
		t.Fatalf("body past MaxTakesPerBeat: %v", err)
	}
}
