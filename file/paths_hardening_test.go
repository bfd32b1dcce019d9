package file_test

import (
	"context"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// phTree lists every path below dir (directories with a trailing '/',
// symbolic links with " -> target"), so a test can tell that nothing was
// created, written or removed.
func phTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + to
		case d.IsDir():
			out[rel+"/"] = ""
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func phSameTree(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if w, ok := before[k]; !ok {
			t.Errorf("%s: %s was created", what, k)
		} else if w != v {
			t.Errorf("%s: %s changed", what, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s: %s was removed", what, k)
		}
	}
}

// phWorkspace is base/root (the workspace) beside base/out (outside it).
func phWorkspace(t *testing.T) (root, out string) {
	t.Helper()
	base := t.TempDir()
	root, out = filepath.Join(base, "root"), filepath.Join(base, "out")
	for _, d := range []string{root, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, out
}

func phSymlink(t *testing.T, to, at string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(to, at); err != nil {
		t.Fatal(err)
	}
}

var phPlan = `{"sequences": {"A": {"shots": [{"shot_id": "S1"}]}}}`

// A symlinked project or scenes directory is refused: nothing is written
// through it.
func TestHardeningA_SymlinkedSceneDirectories(t *testing.T) {
	ctx := context.Background()
	for name, link := range map[string]string{
		"project":    "projects/evil",
		"scenes":     "projects/evil/orchestration/scenes",
		"projects":   "projects",
		"orchestras": "projects/evil/orchestration",
	} {
		t.Run(name, func(t *testing.T) {
			root, out := phWorkspace(t)
			phSymlink(t, out, filepath.Join(root, filepath.FromSlash(link)))
			before := phTree(t, filepath.Dir(root))
			s := scOpen(t, root)
			ref := scene.Ref{Project: "evil", Episode: "1", Batch: "A"}
			_, err := s.InitFromPlan(ctx, "evil", "1", scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
			storetest.WantCode(t, err, settle.PathRefused)
			_, err = s.WriteCandidate(ctx, ref, scGen(t, phRng(), "A", 2), "", true)
			storetest.WantCode(t, err, settle.PathRefused)
			_, err = s.Load(ctx, ref)
			storetest.WantCode(t, err, settle.PathRefused)
			_, err = s.List(ctx, "evil", "1")
			storetest.WantCode(t, err, settle.PathRefused)
			phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
		})
	}
}

// A scene file (flat body, version body, manifest, lock) that is a
// symbolic link is never read, written or locked through.
func TestHardeningA_SymlinkedSceneFiles(t *testing.T) {
	ctx := context.Background()
	root, out := phWorkspace(t)
	s := scOpen(t, root)
	ref := storetest.Ref("A")
	sc := scGen(t, phRng(), "A", 3)
	_, err := s.SaveRunner(ctx, ref, 1, "", sc)
	storetest.OK(t, err)
	sc.Beats = sc.Beats[:2]
	v, err := s.WriteCandidate(ctx, ref, sc, "rederive", true)
	storetest.OK(t, err)
	if v != 2 {
		t.Fatalf("candidate = v%d, want v2", v)
	}
	// Version 2's body now points outside the root.
	scWriteRaw(t, out, "body.json", scReadRaw(t, root, storetest.Token+"_A.v002.json"))
	v2 := scPath(root, storetest.Token+"_A.v002.json")
	if err := os.Remove(v2); err != nil {
		t.Fatal(err)
	}
	phSymlink(t, filepath.Join(scDir(out), "body.json"), v2)
	before := phTree(t, filepath.Dir(root))
	_, err = s.Load(ctx, ref)
	storetest.WantCode(t, err, settle.PathRefused)
	_, err = s.LoadVersion(ctx, ref, 2)
	storetest.WantCode(t, err, settle.PathRefused)
	phSameTree(t, "after reads", before, phTree(t, filepath.Dir(root)))

	// A flat body that is a link is neither listed nor loaded; a linked
	// lock is not opened.
	root2, out2 := phWorkspace(t)
	s2 := scOpen(t, root2)
	phSymlink(t, filepath.Join(out2, "passwd"), scPath(root2, storetest.Token+"_B.json"))
	phSymlink(t, filepath.Join(out2, "passwd"), scPath(root2, storetest.Token+"_C.versions.lock"))
	// The store may create B's own lock file; nothing outside changes.
	before = phTree(t, out2)
	names, err := s2.List(ctx, storetest.Project, storetest.Episode)
	storetest.OK(t, err)
	if len(names) != 0 {
		t.Fatalf("List = %v, want no linked body", names)
	}
	_, err = s2.Load(ctx, storetest.Ref("B"))
	storetest.WantCode(t, err, settle.PathRefused)
	_, err = s2.SaveRunner(ctx, storetest.Ref("B"), 1, "", scGen(t, phRng(), "B", 2))
	storetest.WantCode(t, err, settle.PathRefused)
	_, err = s2.SaveRunner(ctx, storetest.Ref("C"), 1, "", scGen(t, phRng(), "C", 2))
	storetest.WantCode(t, err, settle.PathRefused)
	phSameTree(t, "outside", before, phTree(t, out2))
	if fi, err := os.Lstat(scPath(root2, storetest.Token+"_B.json")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the linked flat body was replaced: %v", err)
	}
}

// The workspace root itself may be a symbolic link (an operator's choice).
func TestHardeningA_RootMayBeSymlink(t *testing.T) {
	ctx := context.Background()
	real, _ := phWorkspace(t)
	root := filepath.Join(t.TempDir(), "link")
	phSymlink(t, real, root)
	s := scOpen(t, root)
	res, err := s.InitFromPlan(ctx, storetest.Project, storetest.Episode, scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
	storetest.OK(t, err)
	if len(res) != 1 || !res[0].Created {
		t.Fatalf("init through a linked root: %+v", res)
	}
	if _, err := os.Stat(scPath(real, storetest.Token+"_A.json")); err != nil {
		t.Fatal(err)
	}
	l := lgOpen(t, root)
	lgWriteback(t, l, storetest.Binding("task-1", "T1", "B1"))
	storetest.OK(t, l.DeclareBatch(ctx, writeback.Batch{BatchID: "B1", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}}))
}

// A ledger (default or configured) that is a symbolic link is refused,
// and so are linked ledger, batches and summaries directories below the
// root: the target is never appended to.
func TestHardeningA_SymlinkedLedger(t *testing.T) {
	ctx := context.Background()
	open := func(root, path string) error {
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, LedgerPath: path, Config: storetest.Config(), Logger: lgQuiet()})
		if err == nil {
			_, err = l.Writeback(ctx, lgReq(storetest.Binding("task-1", "T1", "B1")))
			l.Close()
		}
		return err
	}
	t.Run("default ledger file", func(t *testing.T) {
		root, out := phWorkspace(t)
		phSymlink(t, filepath.Join(out, "passwd"), lgLedgerPath(root))
		before := phTree(t, filepath.Dir(root))
		storetest.WantCode(t, open(root, ""), settle.PathRefused)
		phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
	})
	t.Run("events directory", func(t *testing.T) {
		root, out := phWorkspace(t)
		phSymlink(t, out, filepath.Join(root, "memory", "events"))
		before := phTree(t, filepath.Dir(root))
		storetest.WantCode(t, open(root, ""), settle.PathRefused)
		phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
	})
	t.Run("configured ledger outside the root", func(t *testing.T) {
		root, out := phWorkspace(t)
		path := filepath.Join(out, "callback_4tuple_index.jsonl")
		phSymlink(t, filepath.Join(out, "passwd"), path)
		before := phTree(t, filepath.Dir(root))
		storetest.WantCode(t, open(root, path), settle.PathRefused)
		phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
		// A real file there is the operator's choice and is used.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		storetest.OK(t, open(root, path))
		if data, err := os.ReadFile(path); err != nil || !strings.Contains(string(data), "task-1") {
			t.Fatalf("configured ledger: %q %v", data, err)
		}
	})
	t.Run("replaced by a link while open", func(t *testing.T) {
		root, out := phWorkspace(t)
		l := lgOpen(t, root)
		lgWriteback(t, l, storetest.Binding("task-1", "T1", "B1"))
		if err := os.Remove(lgLedgerPath(root)); err != nil {
			t.Fatal(err)
		}
		phSymlink(t, filepath.Join(out, "passwd"), lgLedgerPath(root))
		before := phTree(t, filepath.Dir(root))
		_, err := l.Writeback(ctx, lgReq(storetest.Binding("task-2", "T2", "B1")))
		storetest.WantCode(t, err, settle.PathRefused)
		phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
	})
	t.Run("batches and summaries", func(t *testing.T) {
		root, out := phWorkspace(t)
		l := lgOpen(t, root)
		lgWriteback(t, l, storetest.Binding("task-1", "T1", "B1"))
		phSymlink(t, out, filepath.Join(root, filepath.FromSlash(file.BatchesRelDir)))
		phSymlink(t, out, filepath.Join(root, filepath.FromSlash(writeback.SummariesRelDir)))
		if err := os.WriteFile(filepath.Join(out, "B1.json"), []byte(`{"batch_id": "B1", "tracks": [{"track_id": "T1", "task_id": "task-1"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		before := phTree(t, filepath.Dir(root))
		storetest.WantCode(t, l.DeclareBatch(ctx, writeback.Batch{BatchID: "B2", Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}}), settle.PathRefused)
		_, err := l.GetBatch(ctx, "B1")
		storetest.WantCode(t, err, settle.PathRefused)
		_, err = l.Settle(ctx, "B1", []writeback.TrackTask{{TrackID: "T1", TaskID: "task-1"}}, "")
		storetest.WantCode(t, err, settle.PathRefused)
		_, err = l.Summary(ctx, "B1")
		storetest.WantCode(t, err, settle.PathRefused)
		phSameTree(t, "workspace and outside", before, phTree(t, filepath.Dir(root)))
	})
	t.Run("batch declaration file", func(t *testing.T) {
		root, out := phWorkspace(t)
		l := lgOpen(t, root)
		if err := os.WriteFile(filepath.Join(out, "B1.json"), []byte(`{"batch_id": "B1", "tracks": [{"track_id": "T1", "task_id": "task-1"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		phSymlink(t, filepath.Join(out, "B1.json"), filepath.Join(root, filepath.FromSlash(file.BatchesRelDir), "B1.json"))
		_, err := l.GetBatch(ctx, "B1")
		storetest.WantCode(t, err, settle.PathRefused)
	})
}

// Names too long for a file name are INVALID_INPUT naming the field, and
// a refused scene init creates no directory.
func TestHardeningF_LongNames(t *testing.T) {
	ctx := context.Background()
	root, _ := phWorkspace(t)
	s := scOpen(t, root)
	l := lgOpen(t, root)
	long := strings.Repeat("x", 300)
	before := phTree(t, root)
	for _, c := range []struct {
		field string
		err   error
	}{
		{"project", func() error {
			_, err := s.InitFromPlan(ctx, long, "1", scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
			return err
		}()},
		{"episode", func() error {
			_, err := s.InitFromPlan(ctx, "p", strings.Repeat("1", 300), scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
			return err
		}()},
		{"batch_id", func() error {
			_, err := s.InitFromPlan(ctx, "p", "1", scene.Plan{Root: storetest.Tree(`{"sequences": {"A": {}, "` + long + `": {}}}`)}, 3, false)
			return err
		}()},
		{"batch_id", func() error { _, err := s.Load(ctx, scene.Ref{Project: "p", Episode: "1", Batch: long}); return err }()},
		{"batch_id", func() error { _, err := l.Settle(ctx, long, nil, ""); return err }()},
		{"batch_id", func() error { _, err := l.GetBatch(ctx, long); return err }()},
		{"batch_id", func() error { _, err := l.Writeback(ctx, lgReq(storetest.Binding("t", "T1", long))); return err }()},
	} {
		storetest.WantCode(t, c.err, settle.InvalidInput)
		if !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("error does not name %s: %v", c.field, c.err)
		}
	}
	phSameTree(t, "workspace", before, phTree(t, root))

	// The longest accepted names make files whose names fit.
	maxName := strings.Repeat("n", settle.MaxNameBytes)
	maxEp := "ep_" + strings.Repeat("9", settle.MaxEpisodeBytes-3)
	ref := scene.Ref{Project: maxName, Episode: maxEp, Batch: maxName}
	_, err := s.SaveRunner(ctx, ref, 1, "", scGen(t, phRng(), maxName, 2))
	storetest.OK(t, err)
	_, err = s.WriteCandidate(ctx, ref, scGen(t, phRng(), maxName, 2), "", true)
	storetest.OK(t, err)
	if _, err := s.Load(ctx, ref); err != nil {
		t.Fatal(err)
	}
	storetest.OK(t, l.DeclareBatch(ctx, writeback.Batch{BatchID: maxName, Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "t"}}}))
}

// phRng is a fixed-seed source: the scenes' content does not matter here.
func phRng() *rand.Rand { return rand.New(rand.NewSource(1)) }

// FuzzHardeningNames: for any name used as a batch id, project, plan
// sequence or episode, the stores neither panic nor fail with INTERNAL; a
// refusal is INVALID_INPUT (or INVALID_EPISODE) and leaves the workspace
// exactly as it was; an accepted name creates files only below the root.
func FuzzHardeningNames(f *testing.F) {
	for _, s := range []string{"B1", " B1", "../x", "/abs", ".", "..", "a/b", "a\\b", "a\x00b", "x.tmp-1",
		"é", "\xff", "ep_001", "7", ".hidden", "x.versions", "x.v001", strings.Repeat("n", 128), strings.Repeat("n", 129), strings.Repeat("7", 300)} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		s := scOpen(t, root)
		l := lgOpen(t, root)
		check := func(what string, err error, codes ...settle.Code) {
			t.Helper()
			if err == nil {
				return
			}
			got := settle.ErrorCode(err)
			for _, c := range codes {
				if got == c {
					return
				}
			}
			t.Fatalf("%s(%q): %v, want one of %v", what, name, err, codes)
		}
		step := func(what string, op func() error, codes ...settle.Code) {
			t.Helper()
			before := phTree(t, base)
			err := op()
			check(what, err, codes...)
			if err != nil {
				phSameTree(t, what+" refused", before, phTree(t, base))
			}
		}
		plan := scene.Plan{Root: storetest.Obj("sequences", storetest.Obj(name, storetest.Obj("shots", []any{})))}
		step("declare", func() error {
			return l.DeclareBatch(ctx, writeback.Batch{BatchID: name, Tracks: []writeback.TrackTask{{TrackID: "T1", TaskID: "t"}}})
		}, settle.InvalidInput)
		step("writeback", func() error { _, err := l.Writeback(ctx, lgReq(storetest.Binding("t", "T1", name))); return err }, settle.InvalidInput)
		step("settle", func() error {
			_, err := l.Settle(ctx, name, []writeback.TrackTask{{TrackID: "T1", TaskID: "t"}}, "")
			return err
		}, settle.InvalidInput)
		step("init project", func() error {
			_, err := s.InitFromPlan(ctx, name, "1", scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
			return err
		}, settle.InvalidInput)
		step("init sequence", func() error { _, err := s.InitFromPlan(ctx, "p", "1", plan, 3, false); return err }, settle.InvalidInput)
		step("init episode", func() error {
			_, err := s.InitFromPlan(ctx, "p", name, scene.Plan{Root: storetest.Tree(phPlan)}, 3, false)
			return err
		}, settle.InvalidInput, settle.InvalidEpisode)
		// Whatever was accepted stayed below the root.
		if got := phTree(t, base); len(got) > 0 {
			for p := range got {
				if p != "./" && p != "root/" && !strings.HasPrefix(p, "root"+string(filepath.Separator)) {
					t.Fatalf("%q created %s outside the root", name, p)
				}
			}
		}
	})
}
