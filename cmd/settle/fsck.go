package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
)

const fsckAbout = `Checks a file-store workspace without changing it: the ledger (torn tail,
lines that are not records, duplicate writeback ids, index agreement) and
every scene directory under <root>/projects/*/orchestration/scenes (each
body and manifest decodes with schema_version 1, each manifest's active
pointer names a registered version whose body exists and carries the batch's
scene_id, each version is registered once, each registered body's
structure matches its recorded fingerprint), and leftover temporary files
(in the scene directories and beside the ledger).
Every ledger record is checked against its schema: field types, mandatory
fields, and a writeback_id (conflict_id) that matches the record's content. Exit 0 when clean, 1 otherwise.
Leftover temporary files (from a writer killed mid-write, or an index
rewrite whose process died before renaming it in) are never read;
--remove-tmp deletes those whose writer process is gone.`

// SceneProblem is one finding of the scene check.
type SceneProblem struct {
	Path    string `json:"path"`
	Code    string `json:"code"`
	Problem string `json:"problem"`
}

// FsckReport is what settle fsck prints with --json.
type FsckReport struct {
	Ledger        *file.CheckReport `json:"ledger"`
	ScenesChecked int               `json:"scenes_checked"`
	ManifestsRead int               `json:"manifests_checked"`
	SceneProblems []SceneProblem    `json:"scene_problems"`
	LeftoverTmp   []string          `json:"leftover_tmp_files"`
	RemovedTmp    []string          `json:"removed_tmp_files,omitempty"`
	OK            bool              `json:"ok"`
}

func runFsck(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("fsck", "fsck", fsckAbout, &g)
	removeTmp := fs.Bool("remove-tmp", false, "delete leftover temporary files whose writer process is gone")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("fsck: no arguments expected")
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	if !strings.HasPrefix(cfg.Store, "file:") {
		return m.refuse(cfg, settle.Errorf(settle.InvalidInput, "fsck checks a file store; --store is %s", cfg.Store))
	}
	rep := FsckReport{SceneProblems: []SceneProblem{}, LeftoverTmp: []string{}}
	if _, err := os.Stat(cfg.LedgerPath()); err == nil {
		l, err := file.OpenLedgerContext(ctx, file.LedgerOptions{Root: cfg.Root, LedgerPath: cfg.LedgerPath(), Config: cfg.WritebackConfig(), ReadOnly: true, LockTimeout: cfg.LockWait()})
		if err != nil {
			return m.refuse(cfg, err)
		}
		lr, err := l.Check(ctx)
		l.Close()
		if err != nil {
			return m.refuse(cfg, err)
		}
		rep.Ledger = &lr
	}
	tmps, err := ledgerTmpFiles(cfg.LedgerPath())
	if err != nil {
		return m.refuse(cfg, settle.Wrap(settle.Internal, err, "list the ledger's directory"))
	}
	rep.LeftoverTmp = append(rep.LeftoverTmp, tmps...)
	if err := checkScenes(cfg.Root, &rep); err != nil {
		return m.refuse(cfg, err)
	}
	if *removeTmp {
		kept := []string{}
		for _, p := range rep.RemovedTmp {
			fmt.Fprintf(m.Stdout, "  removed leftover temporary file: %s\n", p)
		}
		for _, p := range rep.LeftoverTmp {
			if !durable.TmpWriterGone(p) {
				kept = append(kept, p)
				continue
			}
			if err := os.Remove(p); err != nil {
				return m.refuse(cfg, settle.Wrap(settle.Internal, err, "remove %s", p))
			}
			if err := durable.SyncDir(filepath.Dir(p)); err != nil {
				return m.refuse(cfg, settle.Wrap(settle.Internal, err, "fsync dir"))
			}
			rep.RemovedTmp = append(rep.RemovedTmp, p)
		}
		rep.LeftoverTmp = kept
	}
	rep.OK = (rep.Ledger == nil || rep.Ledger.OK()) && len(rep.SceneProblems) == 0
	if cfg.JSON {
		if err := m.printJSON(rep); err != nil {
			return err
		}
	} else {
		if rep.Ledger == nil {
			fmt.Fprintf(m.Stdout, "ledger %s: absent\n", cfg.LedgerPath())
		} else {
			lr := rep.Ledger
			fmt.Fprintf(m.Stdout, "ledger %s: %d lines, %d durable, %d registry, %d refusals, %d skipped, index agrees: %v\n",
				lr.Path, lr.Lines, lr.Records["durable"], lr.Records["registry"], lr.Records["conflict"], lr.Skipped, lr.IndexAgrees)
			if lr.TornTail != nil {
				fmt.Fprintf(m.Stdout, "  torn tail: %d bytes at offset %d (repaired before the next append)\n", lr.TornTail.Bytes, lr.TornTail.Offset)
			}
			for _, s := range lr.SkippedLines {
				fmt.Fprintf(m.Stdout, "  line %d skipped: %s\n", s.Line, s.Reason)
			}
			for _, x := range lr.InvalidRecords {
				fmt.Fprintf(m.Stdout, "  line %d: invalid %s record: %s\n", x.Line, x.Kind, strings.Join(x.Problems, "; "))
			}
			for _, d := range lr.DuplicateWritebackIDs {
				fmt.Fprintf(m.Stdout, "  writeback id %s held by records %v\n", d.WritebackID, d.Seqs)
			}
			for _, p := range lr.IndexProblems {
				fmt.Fprintf(m.Stdout, "  index: %s\n", p)
			}
		}
		fmt.Fprintf(m.Stdout, "scenes: %d bodies, %d manifests checked, %d problems\n", rep.ScenesChecked, rep.ManifestsRead, len(rep.SceneProblems))
		for _, p := range rep.SceneProblems {
			fmt.Fprintf(m.Stdout, "  %s: %s: %s\n", p.Path, p.Code, p.Problem)
		}
		for _, p := range rep.RemovedTmp {
			fmt.Fprintf(m.Stdout, "  removed leftover temporary file: %s\n", p)
		}
		for _, p := range rep.LeftoverTmp {
			fmt.Fprintf(m.Stdout, "  leftover temporary file (never read): %s\n", p)
		}
		if rep.OK {
			fmt.Fprintln(m.Stdout, "ok")
		}
	}
	if !rep.OK {
		return errFail()
	}
	return nil
}

// ledgerTmpFiles lists the tmp files beside the ledger: those of its
// index (a base merged in the background by a process that died before
// renaming it in), of its torn-tail sidecars and of the ledger itself.
func ledgerTmpFiles(ledger string) ([]string, error) {
	base := filepath.Base(ledger)
	tmps, err := durable.TmpFiles(filepath.Dir(ledger), func(name string) bool { return strings.HasPrefix(name, base) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return tmps, err
}

// checkScenes walks every project's scene directory.
func checkScenes(root string, rep *FsckReport) error {
	dirs, err := filepath.Glob(filepath.Join(root, "projects", "*", "orchestration", "scenes"))
	if err != nil {
		return err
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return settle.Wrap(settle.Internal, err, "read %s", dir)
		}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(dir, name)
			add := func(err error) {
				rep.SceneProblems = append(rep.SceneProblems, SceneProblem{Path: p, Code: string(settle.ErrorCode(err)), Problem: settle.ErrorMessage(err)})
			}
			switch {
			case strings.Contains(name, durable.TmpMarker) || strings.HasSuffix(name, ".tmp"):
				rep.LeftoverTmp = append(rep.LeftoverTmp, p)
			case strings.HasSuffix(name, ".versions.json"):
				rep.ManifestsRead++
				batch := manifestBatch(name)
				if err := checkManifest(dir, p, batch); err != nil {
					add(err)
				}
			case strings.HasSuffix(name, ".json"):
				rep.ScenesChecked++
				data, err := durable.ReadFile(p)
				if err != nil {
					add(settle.Wrap(settle.Internal, err, "read"))
					continue
				}
				if _, err := scene.DecodeBody(data); err != nil {
					add(err)
				}
			}
		}
	}
	return nil
}

// manifestBatch returns the batch id of "ep_NNN_<batch>.versions.json".
func manifestBatch(name string) string {
	s := strings.TrimSuffix(name, ".versions.json")
	if i := strings.Index(s, "_"); i >= 0 {
		if j := strings.Index(s[i+1:], "_"); j >= 0 {
			return s[i+1+j+1:]
		}
	}
	return s
}

// checkManifest checks a manifest against its bodies: every version
// registered once, the active one registered, each artifact a safe name
// whose body exists, decodes and passes scene.CheckRegisteredBody (the
// check show and patch apply).
func checkManifest(dir, path, batch string) error {
	data, err := durable.ReadFile(path)
	if err != nil {
		return settle.Wrap(settle.Internal, err, "read")
	}
	man, err := scene.DecodeManifest(data, batch)
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, e := range man.Versions {
		if seen[e.Version] {
			return settle.Errorf(settle.Corrupt, "version %d is registered twice", e.Version)
		}
		seen[e.Version] = true
	}
	if _, err := man.Entry(man.ActiveVersion); err != nil {
		return settle.Errorf(settle.NotFound, "active version %d is not registered", man.ActiveVersion)
	}
	for _, e := range man.Versions {
		if err := scene.CheckArtifact(e.Artifact); err != nil {
			return err
		}
		body, err := durable.ReadFile(filepath.Join(dir, e.Artifact))
		if err != nil {
			return settle.Wrap(settle.NotFound, err, "version %d body %s", e.Version, e.Artifact)
		}
		sc, err := scene.DecodeBody(body)
		if err != nil {
			return fmt.Errorf("version %d body %s: %w", e.Version, e.Artifact, err)
		}
		if err := scene.CheckRegisteredBody(batch, man, e.Version, sc.SceneID, scene.Fingerprint(sc)); err != nil {
			return fmt.Errorf("version %d body %s: %w", e.Version, e.Artifact, err)
		}
	}
	return nil
}
