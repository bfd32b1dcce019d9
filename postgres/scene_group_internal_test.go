package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
)

// TestStatusSavesGrouped: status saves queued while a group waits share
// the next group's transaction; each keeps its own version check (a
// stale one is refused and writes nothing) and the others are stored.
func TestStatusSavesGrouped(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	schema := testenv.PostgresSchema(t, "t_")
	s, err := Open(ctx, Options{URL: dsn, Schema: schema, Logger: slog.New(slog.DiscardHandler), MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 12 // saves; the last is stale
	ref := func(i int) scene.Ref { return scene.Ref{Project: "p", Episode: "1", Batch: fmt.Sprintf("b%02d", i)} }
	for i := range n {
		sc := &scene.Scene{SceneID: ref(i).Batch, Beats: []*scene.Beat{{BeatID: "b1", Takes: []*scene.Take{{TakeID: "t1", Status: scene.TakePending}}}}}
		if _, err := s.WriteCandidate(ctx, ref(i), sc, "test", true); err != nil {
			t.Fatal(err)
		}
	}
	// Writes to scene_files wait while this transaction holds the table:
	// the first groups wait at their write, and the saves after them queue.
	hold, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close(ctx)
	htx, err := hold.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := htx.Exec(ctx, "LOCK TABLE "+schema+".scene_files IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`[{"op":"replace","path":"/beats/0/takes/0/status","value":"running"}]`)
	errs := make([]error, n)
	var answered atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := 1
			if i == n-1 {
				v = 2 // stale: the active version is 1
			}
			_, errs[i] = s.PatchStatus(ctx, ref(i), v, patch)
			if i != n-1 {
				answered.Add(1) // the stale save writes nothing: it may commit alone
			}
		}()
	}
	// Every save is in a group or queued. At most groupDepth groups wait
	// at their write, so of n > 2*groupDepth saves, some group holds two
	// or more: the first group committed after the release takes every
	// save still queued.
	testenv.Until(t, 30*time.Second, func() bool {
		return int(s.SceneGroupStats().Grouped)+s.sq.Queued() == n
	})
	if answered.Load() != 0 {
		t.Fatalf("%d saves answered while their writes wait", answered.Load())
	}
	if err := htx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if i == n-1 {
			if settle.ErrorCode(err) != settle.VersionConflict {
				t.Fatalf("stale save: %v, want VERSION_CONFLICT", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	for i := range n {
		ld, err := s.Load(ctx, ref(i))
		if err != nil {
			t.Fatal(err)
		}
		want := scene.TakeRunning
		if i == n-1 {
			want = scene.TakePending
		}
		if got := ld.Scene.Beats[0].Takes[0].Status; got != want {
			t.Fatalf("batch %d: status %q, want %q", i, got, want)
		}
	}
	if st := s.SceneGroupStats(); st.MaxGroup < 2 || st.Grouped != n {
		t.Fatalf("group stats %+v: want a group of 2 or more and %d saves", st, n)
	}
}
