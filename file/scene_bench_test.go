package file_test

import (
	"fmt"
	"math/rand"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

var scBenchSizes = []int{10, 100, 1000}

// scCPUTime is the process's user+system CPU time.
func scCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scReportCPU reports CPU time per operation ("cpu-ms/op"), which a loaded
// machine distorts less than wall time. Call it with the CPU time taken
// after ResetTimer.
func scReportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(scCPUTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// scBenchStatusWrites times write (iteration i) on a saved scene of n
// beats, for each of scBenchSizes; prep changes the scene before it is
// saved. With setBytes the saved body's size is reported.
func scBenchStatusWrites(b *testing.B, prep func(sc *scene.Scene), setBytes bool, write func(s *file.Scenes, i int) error) {
	for _, n := range scBenchSizes {
		b.Run(fmt.Sprintf("beats=%d", n), func(b *testing.B) {
			root := b.TempDir()
			s := scOpen(b, root)
			sc := scGen(b, rand.New(rand.NewSource(int64(n))), "BENCH", n)
			prep(sc)
			storetest.OK(b, s.SaveGuarded(scCtx, storetest.Ref("BENCH"), sc))
			if setBytes {
				body, _ := scene.EncodeBody(sc)
				b.SetBytes(int64(len(body)))
			}
			b.ResetTimer()
			cpu := scCPUTime()
			defer func() { scReportCPU(b, cpu) }()
			for i := 0; i < b.N; i++ {
				if err := write(s, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStatusSave times the seed's save_active_scene_status port: a
// closure status write (one take status flipped) under the batch lock,
// with the fresh load, structure guard and durable write of the body.
// testdata/seed_bench_scene.py times the seed on the same shape of scene.
func BenchmarkStatusSave(b *testing.B) {
	statuses := []string{scene.TakeRunning, scene.TakeSucceeded}
	scBenchStatusWrites(b, func(sc *scene.Scene) {
		sc.Beats[0].Takes = append(sc.Beats[0].Takes, &scene.Take{TakeID: "bench", Status: scene.TakeRunning})
	}, true, func(s *file.Scenes, i int) error {
		st := statuses[i%2]
		_, err := s.UpdateStatus(scCtx, storetest.Ref("BENCH"), 1, func(sc *scene.Scene) error {
			t := sc.Beats[0].Takes[len(sc.Beats[0].Takes)-1]
			t.Status = st
			return nil
		}, nil)
		return err
	})
}

// BenchmarkStatusPatch is BenchmarkStatusSave through PatchStatus (an RFC
// 6902 patch instead of a closure).
func BenchmarkStatusPatch(b *testing.B) {
	patches := [][]byte{
		[]byte(`[{"op": "replace", "path": "/beats/0/approved", "value": true}]`),
		[]byte(`[{"op": "replace", "path": "/beats/0/approved", "value": false}]`),
	}
	scBenchStatusWrites(b, func(*scene.Scene) {}, false, func(s *file.Scenes, i int) error {
		_, err := s.PatchStatus(scCtx, storetest.Ref("BENCH"), 1, patches[i%2])
		return err
	})
}

// BenchmarkCandidateWrite times write_scene_candidate: each iteration
// stores a new structure (body, then manifest) and activates it. A new
// batch is started every 50 versions so the manifest stays realistic.
func BenchmarkCandidateWrite(b *testing.B) {
	for _, n := range scBenchSizes {
		b.Run(fmt.Sprintf("beats=%d", n), func(b *testing.B) {
			root := b.TempDir()
			s := scOpen(b, root)
			rng := rand.New(rand.NewSource(int64(n)))
			tree := scGenTree(rng, "X", n)
			body, _ := scene.EncodeBodyTree(tree)
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			cpu := scCPUTime()
			defer func() { scReportCPU(b, cpu) }()
			sc := storetest.Hydrate(b, tree) // WriteCandidate keeps no reference to it
			for i := 0; i < b.N; i++ {
				batch := fmt.Sprintf("BENCH_%d", i/50)
				sc.SceneID = batch
				sc.Beats[0].BeatMetadata.Set("prompt_directive", fmt.Sprintf("take %d", i))
				if _, err := s.WriteCandidate(scCtx, storetest.Ref(batch), sc, "bench", true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSceneScan times one scan of a server's scene follower over a
// workspace of n batches (one flat body each) in which nothing changed
// since the previous scan (the cost of every poll): "quiet" when the
// scenes directory has not changed for a while (its modification time is
// trusted, nothing in it is read), "recent" when it changed within the
// last second (every file's stamp is compared); and "one-saved" when one
// body was saved in between (it is read, hashed and reported; the
// cpu-ms/op includes the save itself).
func BenchmarkSceneScan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		root := b.TempDir()
		s := scOpen(b, root)
		rng := rand.New(rand.NewSource(int64(n)))
		for i := range n {
			batch := fmt.Sprintf("B%04d", i)
			storetest.OK(b, s.SaveGuarded(scCtx, storetest.Ref(batch), scGen(b, rng, batch, 10)))
		}
		dir, err := s.Dir(storetest.Project)
		storetest.OK(b, err)
		scan := s.Scanner()
		if got, err := scan.Scan(scCtx); err != nil || len(got) != n {
			b.Fatalf("first scan: %d bodies, %v", len(got), err)
		}
		setDirTime := func(t time.Time) {
			b.StopTimer()
			storetest.OK(b, os.Chtimes(dir, t, t))
			b.StartTimer()
		}
		for _, tc := range []struct {
			name  string
			dirAt func() time.Time
		}{
			{"quiet", func() time.Time { return time.Now().Add(-time.Minute) }},
			{"recent", time.Now},
		} {
			b.Run(fmt.Sprintf("batches=%d/unchanged-%s", n, tc.name), func(b *testing.B) {
				setDirTime(tc.dirAt())
				scan.Scan(scCtx)
				cpu := scCPUTime()
				defer func() { scReportCPU(b, cpu) }()
				for i := 0; i < b.N; i++ {
					if tc.name == "recent" {
						setDirTime(time.Now())
					}
					if got, err := scan.Scan(scCtx); err != nil || len(got) != 0 {
						b.Fatalf("%d bodies, %v", len(got), err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("batches=%d/one-saved", n), func(b *testing.B) {
			cpu := scCPUTime()
			defer func() { scReportCPU(b, cpu) }()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				v := "true"
				if i%2 == 1 {
					v = "false"
				}
				if _, err := s.PatchStatus(scCtx, storetest.Ref("B0000"), 1, []byte(`[{"op": "replace", "path": "/beats/0/approved", "value": `+v+`}]`)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if got, err := scan.Scan(scCtx); err != nil || len(got) != 1 {
					b.Fatalf("%d bodies, %v", len(got), err)
				}
			}
		})
	}
}
