package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/writeback"
)

// GetBatch caches declarations by file identity: every change of the file
// (a new declaration, another tool rewriting it in place, a removal) is
// seen by the next lookup, and callers cannot change the cached value.
func TestGetBatchSeesEveryChangeOfTheDeclaration(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	l := lgOpen(t, root)
	path := filepath.Join(root, filepath.FromSlash(file.BatchesRelDir), "B1.json")
	get := func(want ...string) {
		t.Helper()
		b, err := l.GetBatch(ctx, "B1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tt := range b.Tracks {
			got = append(got, tt.TrackID+"="+tt.TaskID)
		}
		if len(got) != len(want) {
			t.Fatalf("tracks %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("tracks %v, want %v", got, want)
			}
		}
		b.Tracks[0].TaskID = "changed by the caller"
	}
	if _, err := l.GetBatch(ctx, "B1"); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("undeclared: %v", err)
	}
	if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "a"}}}); err != nil {
		t.Fatal(err)
	}
	get("T1=a")
	get("T1=a") // from the cache, unchanged by the caller's edit
	if err := l.DeclareBatch(ctx, writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "b"}, {TrackID: "T2", TaskID: "c"}}}); err != nil {
		t.Fatal(err)
	}
	get("T1=b", "T2=c")
	// Another tool rewrites the file in place with a same-size document.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytesReplace(data, `"b"`, `"x"`), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	get("T1=x", "T2=c")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetBatch(ctx, "B1"); settle.ErrorCode(err) != settle.NotFound {
		t.Fatalf("after removal: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"batch_id": "B2", "tracks": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetBatch(ctx, "B1"); settle.ErrorCode(err) != settle.Corrupt {
		t.Fatalf("a file naming another batch: %v", err)
	}
}

func bytesReplace(b []byte, old, new string) []byte {
	s := string(b)
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return []byte(s[:i] + new + s[i+len(old):])
		}
	}
	panic("not found: " + old)
}
