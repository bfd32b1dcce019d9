package file_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
)

// BenchmarkStatusSaveFloor times the disk work alone of a status save, on
// the body BenchmarkStatusSave writes, so that a save's time can be read
// against the floor the durability rule sets on the same disk in the same
// run: "durable" is settle's write of the body (tmp, write, fsync, rename,
// fsync of the directory, through internal/durable), "seed" the seed's
// save_scene (tmp, write, fsync, rename: it fsyncs no directory), and
// "fsync" one fsync of a block rewritten in place (the disk's single
// fsync). No status save can take less than "durable".
func BenchmarkStatusSaveFloor(b *testing.B) {
	for _, n := range scBenchSizes {
		sc := scGen(b, rand.New(rand.NewSource(int64(n))), "BENCH", n)
		sc.Beats[0].Takes = append(sc.Beats[0].Takes, &scene.Take{TakeID: "bench", Status: scene.TakeRunning})
		body, err := scene.EncodeBody(sc)
		storetest.OK(b, err)
		for _, mode := range []string{"durable", "seed", "fsync"} {
			if mode == "fsync" && n != scBenchSizes[0] {
				continue // the same for every size
			}
			b.Run(fmt.Sprintf("beats=%d/%s", n, mode), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "ep_001_BENCH.json")
				storetest.OK(b, os.WriteFile(path, body, 0o644))
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				cpu := scCPUTime()
				defer func() { scReportCPU(b, cpu) }()
				for i := 0; i < b.N; i++ {
					switch mode {
					case "durable":
						storetest.OK(b, durable.WriteFile(path, body, 0o644))
					case "seed":
						storetest.OK(b, seedSaveScene(path, body))
					case "fsync":
						storetest.OK(b, rewriteSync(path, body[:min(len(body), 4096)]))
					}
				}
			})
		}
	}
}

// seedSaveScene is the seed's _write_scene_dict: path.tmp, write, fsync,
// os.replace.
func seedSaveScene(path string, body []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rewriteSync rewrites the start of path in place and fsyncs it.
func rewriteSync(path string, block []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(block, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
