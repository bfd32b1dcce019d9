package scene_test

import (
	"context"
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// A patch that does not parse says why, not the library's bare "invalid
// state detected".
func TestHardeningN_PatchParseErrors(t *testing.T) {
	for name, c := range map[string]struct{ patch, want string }{
		"truncated":        {`[{"op": "replace", "path": "/x"`, "not valid JSON"},
		"trailing comma":   {`[{"op": "remove", "path": "/x"},]`, "not valid JSON"},
		"bare word":        {`[nope]`, "not valid JSON"},
		"not an object":    {`[1]`, "operation 0 is"},
		"no op":            {`[{"path": "/x"}]`, `operation 0 has no "op"`},
		"op not a string":  {`[{"op": 1, "path": "/x"}]`, `operation 0 has no "op"`},
		"NaN value":        {`[{"op": "add", "path": "/x", "value": NaN}]`, "NaN or Infinity"},
		"unknown op":       {`[{"op": "frob", "path": "/x"}]`, "unsupported operation"},
		"object not array": {`{"op": "remove"}`, "not a JSON array"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := scene.ApplyPatch(patchScene(t), []byte(c.patch))
			wantCode(t, err, settle.InvalidInput)
			msg := settle.ErrorMessage(err)
			if strings.Contains(msg, "invalid state detected") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q, want it to say %q", msg, c.want)
			}
		})
	}
}

// noStatusStore fails the test if RecoverStale reaches the store.
type noStatusStore struct {
	scene.StatusStore
	t *testing.T
}

func (s noStatusStore) Load(context.Context, scene.Ref) (scene.Loaded, error) {
	s.t.Fatal("a refused recover-stale loaded the batch")
	return scene.Loaded{}, nil
}

// A negative age would mark every running take stale: refused before the
// batch is read, as the HTTP route does.
func TestHardeningN_RecoverStaleNegativeAge(t *testing.T) {
	ref := scene.Ref{Project: "p", Episode: "1", Batch: "B"}
	_, _, err := scene.RecoverStale(context.Background(), noStatusStore{t: t}, ref, -5*time.Minute, time.Now())
	wantCode(t, err, settle.InvalidInput)
	if !strings.Contains(err.Error(), "older_than") {
		t.Fatalf("error does not name older_than: %v", err)
	}
}

// Every name the rule refuses is INVALID_INPUT naming its field, for
// projects, batch ids and episodes alike; the longest accepted names pass.
func TestHardeningF_NameLimits(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		ref   scene.Ref
		field string
	}{
		{scene.Ref{Project: long, Episode: "1", Batch: "B"}, "project"},
		{scene.Ref{Project: "p", Episode: "1", Batch: long}, "batch_id"},
		{scene.Ref{Project: "p", Episode: strings.Repeat("1", 300), Batch: "B"}, "episode"},
		{scene.Ref{Project: "p", Episode: "ep_" + strings.Repeat("1", settle.MaxEpisodeBytes-2), Batch: "B"}, "episode"},
		{scene.Ref{Project: "p", Episode: "1", Batch: "x.tmp-1"}, "batch_id"},
	} {
		_, err := scene.ResolveBatch(c.ref)
		wantCode(t, err, settle.InvalidInput)
		if !strings.HasPrefix(settle.ErrorMessage(err), c.field) {
			t.Errorf("%+v: error does not name %s: %v", c.ref, c.field, err)
		}
	}
	maxName := strings.Repeat("n", settle.MaxNameBytes)
	b, err := scene.ResolveBatch(scene.Ref{Project: maxName, Episode: "ep_" + strings.Repeat("1", settle.MaxEpisodeBytes-3), Batch: maxName})
	if err != nil {
		t.Fatal(err)
	}
	// The longest file name the store derives, with its temporary suffix
	// (".tmp-<pid up to 7 digits>-<12 hex>"), fits NAME_MAX.
	if n := len(b.Version(999999999)) + len(".tmp-4194304-0123456789ab"); n > 255 {
		t.Fatalf("longest derived name is %d bytes", n)
	}
}
