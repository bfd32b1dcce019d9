package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
)

// TestPostgresServeFollowsScenes: two settle serve processes on one
// PostgreSQL database. A status save and an activation are committed by
// a writer that dies before their events (the store called without the
// event step); the servers' scene followers announce each once, keyed as
// the writer would have keyed it. The CLI's scene patch and activate key
// theirs by the rows' stamps too.
func TestPostgresServeFollowsScenes(t *testing.T) {
	store, config := pgServeConfig(t, map[string]any{"server": operatorOnly()})
	bin := settleBinary(t)
	s1 := startServe(t, bin, config)
	startServe(t, bin, config)
	c := s1.client(t, "tok-operator")
	ctx := context.Background()
	ref := scene.Ref{Project: "P", Episode: "1", Batch: "B1"}
	for _, prompt := range []string{"a", "b"} {
		sc, err := scene.DecodeInput([]byte(`{"scene_id": "B1", "beats": [{"beat_id": "S1", "beat_metadata": {"plan_shot": {"shot_id": "S1", "prompt": "` + prompt + `"}}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteCandidate(ctx, ref, sc, "r", false); err != nil {
			t.Fatal(err)
		}
	}

	// The dying writer: the store alone, no event.
	pg, err := postgres.Open(ctx, postgres.Options{URL: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	l, err := pg.PatchStatus(ctx, ref, 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pg.ActivateStamped(ctx, ref, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	save := derive.SceneEvent(ref, 1, "")
	save.Revision, save.Stamp = l.Revision, l.Stamp
	act := derive.SceneEvent(ref, 2, "")
	act.Stamp = st
	want := map[string]string{derive.StatusSavedKey(save): event.SceneStatusSaved, derive.ActivatedKey(act): event.SceneActivated}

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	seen := map[string]int{}
	err = c.FollowEvents(fctx, 0, nil, func(ev event.Event) error {
		if ev.Type == event.SceneStatusSaved || ev.Type == event.SceneActivated {
			seen[ev.Key]++
			if want[ev.Key] != ev.Type {
				t.Errorf("unexpected %s event key %q", ev.Type, ev.Key)
			}
		}
		if len(seen) == len(want) {
			cancel()
		}
		return nil
	})
	if len(seen) != len(want) {
		t.Fatalf("the servers announced %v, want once each of %v (%v)", seen, want, err)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s announced %d times", k, n)
		}
	}

	// The CLI's scene commands on PostgreSQL key their events by the
	// rows' stamps, as the followers do.
	patch := filepath.Join(t.TempDir(), "patch.json")
	if err := os.WriteFile(patch, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SETTLE_CONFIG": config}
	out, errOut, code := run(t, env, "scene", "patch", "--json", "--project", "P", "--episode", "1", "--batch", "B1", "--expected-version", "2", "--patch", patch)
	if code != 0 {
		t.Fatalf("settle scene patch: %s %s", out, errOut)
	}
	var cli struct{ Revision string }
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, env, "scene", "activate", "--project", "P", "--episode", "1", "--batch", "B1", "--version", "1"); code != 0 {
		t.Fatalf("settle scene activate: %s %s", out, errOut)
	}
	stamp := func(name string) string {
		var st string
		if err := pg.Pool().QueryRow(ctx, "SELECT stamp FROM scene_files WHERE project = 'P' AND name = $1", name).Scan(&st); err != nil || st == "" {
			t.Fatalf("stamp of %s: %q %v", name, st, err)
		}
		return st
	}
	save = derive.SceneEvent(ref, 2, "")
	save.Revision, save.Stamp = cli.Revision, stamp("ep_001_B1.v002.json")
	act = derive.SceneEvent(ref, 1, "")
	act.Stamp = stamp("ep_001_B1.versions.json")
	evs, err := pg.Since(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range evs {
		got[ev.Key]++
	}
	for _, k := range []string{derive.StatusSavedKey(save), derive.ActivatedKey(act)} {
		if got[k] != 1 {
			t.Fatalf("the CLI's event %s: %d in the log (%v)", k, got[k], got)
		}
	}
}
