package scene_test

import (
	"reflect"
	"testing"

	"github.com/settlehq/settle/scene"
)

func TestRefsOfNames(t *testing.T) {
	names := []string{
		"ep_001_B2.json", "ep_001_B1.json", "ep_001_B1.versions.json", "ep_001_B1.v001.json",
		"ep_001_B1.versions.lock", "ep_001_B1.json.tmp-1-abc", "ep_0002_V.versions.json",
		"ep_01_short.json", "ep_001_.json", "notes.json", "ep_001_B3.v002.json",
	}
	got := scene.RefsOfNames("p", names)
	want := []scene.Ref{
		{Project: "p", Episode: "ep_0002", Batch: "V"},
		{Project: "p", Episode: "ep_001", Batch: "B1"},
		{Project: "p", Episode: "ep_001", Batch: "B2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RefsOfNames:\n got %v\nwant %v", got, want)
	}
}
