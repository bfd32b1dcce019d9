package file_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// A pipeline writes a scene as version 1, saves a take's status against
// the version it read (a JSON Patch, as PATCH .../status takes it), and
// lists the versions. A status save keeps the version and the structure
// fingerprint: only a candidate write makes a new version.
func ExampleScenes() {
	root, err := os.MkdirTemp("", "settle-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	s, err := file.OpenScenes(file.SceneOptions{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	tree, err := pyjson.Parse([]byte(`{"schema_version": 1, "scene_id": "B1", "scene_metadata": {},
		"beats": [{"beat_id": "S1", "beat_metadata": {}, "takes": [{"take_id": "t1", "status": "pending"}]}]}`))
	if err != nil {
		log.Fatal(err)
	}
	sc, err := scene.FromTree(tree.(*pyjson.Object))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ref := scene.Ref{Project: "demo", Episode: "ep_001", Batch: "B1"}
	v, err := s.WriteCandidate(ctx, ref, sc, "first plan", true)
	if err != nil {
		log.Fatal(err)
	}
	cur, err := s.Load(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	patch := []byte(`[{"op": "replace", "path": "/beats/0/takes/0/status", "value": "succeeded"}]`)
	saved, err := s.PatchStatus(ctx, ref, cur.Version, patch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written version", v, "active version", saved.Version)
	fmt.Println("take status", saved.Scene.Beats[0].Takes[0].Status)
	fmt.Println("same structure:", saved.Fingerprint == cur.Fingerprint)

	versions, err := s.Versions(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	for _, vi := range versions {
		fmt.Println("version", vi.Version, "active", vi.Active)
	}
	// Output:
	// written version 1 active version 1
	// take status succeeded
	// same structure: true
	// version 1 active true
}
