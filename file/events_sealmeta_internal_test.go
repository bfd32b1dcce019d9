package file

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/settlehq/settle/internal/testenv"
)

// TestSealMetaSameIndex: a segment sealed from what this process knows of
// its own events (key hashes, times) has the .idx that parsing its lines
// gives, with events of another process on the same log in between, keyed
// and unkeyed, appended, posted and flushed.
func TestSealMetaSameIndex(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	ctx := context.Background()
	root := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *Events {
		e, err := OpenEvents(EventsOptions{Root: root, SegmentEvents: 7, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()
	used := 0
	for i := range 120 {
		e := a
		if rng.Intn(4) == 0 {
			e = b
		}
		key := fmt.Sprintf("k-%d", rng.Intn(90))
		data := map[string]any{"i": i, "s": strings.Repeat("é\"<", rng.Intn(3))}
		var err error
		switch rng.Intn(4) {
		case 0:
			_, err = e.Append(ctx, "t.plain", data)
		case 1:
			err = e.PostOnce(ctx, key, "t.posted", data)
			if err == nil {
				err = e.Flush(ctx)
			}
		default:
			_, _, err = e.AppendOnce(ctx, key, "t.once", data)
		}
		if err != nil {
			t.Fatal(err)
		}
		used++
	}
	dir := a.segDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs := 0
	for _, de := range ents {
		stem, ok := strings.CutSuffix(de.Name(), ".jsonl")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		idx, err := os.ReadFile(filepath.Join(dir, stem+".idx"))
		if err != nil {
			t.Fatal(err)
		}
		last, err := strconv.ParseInt(stem, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		lines := int64(strings.Count(string(data), "\n"))
		if want := buildIdx(last-lines+1, data); string(idx) != string(want) {
			t.Errorf("segment %s: .idx differs from the one its lines give", de.Name())
		}
		segs++
	}
	if segs < 5 {
		t.Fatalf("%d segments sealed of %d events, want at least 5", segs, used)
	}
}
