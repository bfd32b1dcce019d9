package file_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// A collector writes back an independent verdict, then reads the ledger.
func ExampleLedger() {
	root, err := os.MkdirTemp("", "settle-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	cfg := writeback.Config{CollectorKeys: []string{"anu0000000000001"}, DefaultChatID: "6937032012"}
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: cfg})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	out, err := l.Writeback(ctx, writeback.WritebackRequest{Binding: writeback.Binding{
		TaskID:                      "task-1",
		TrackID:                     "T1",
		BatchID:                     "batch-1",
		DispatchID:                  "dispatch-1",
		DispatchIDSource:            "source_recorded",
		NormalCollectorCronID:       "ncc-1",
		NormalCollectorCronIDSource: "source_recorded",
		CollectorKey:                "anu0000000000001",
		CollectorRole:               "ANU",
		ExecutorKey:                 "exec000000000001",
		AuthoritativeVerdict:        writeback.AuthoritativePass,
		TerminalStatus:              writeback.StatusCompleted,
		CompletedAt:                 "2025-11-22T09:00:00+09:00",
		SourceResultPath:            "memory/results/task-1.json",
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Decision.Verdict, out.Decision.Classification, out.Decision.Appended)

	page, err := l.Records(ctx, writeback.RecordQuery{TaskID: "task-1", After: -1})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Seq, r.Kind)
	}
	// Output:
	// PASS DURABLE_SUCCESS_WRITTEN true
	// 0 durable
	// 1 registry
}

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
