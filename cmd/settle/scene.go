package main

import (
	"context"
	"fmt"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/pyjson"
	"github.com/settlehq/settle/scene"
)

const sceneAbout = `The versioned scene store: scenes (Scene > Beat > Take) under
<root>/projects/<project>/orchestration/scenes/, immutable version bodies
behind a manifest's active-version pointer, a structure fingerprint that
refuses structural change on a status write, and optimistic concurrency.

Subcommands:
  init           create a scene for each plan sequence without one; re-stamp
                 max_takes on existing ones (--dry-run writes nothing)
  show           print the active (or --version N) scene, its version and fingerprint
  versions       list a batch's versions
  list           list an episode's flat scene files
  patch          apply an RFC 6902 JSON Patch to the active body as a status
                 write (refused with STRUCTURE_IMMUTABLE if it touches structure,
                 VERSION_CONFLICT if the active version is not --expected-version)
  save-runner    overlay a runner's scene (takes, primary take) on the active body,
                 if it is still the body the scene was based on: --expected-revision
                 is the revision settle scene show printed (omit it only for a batch
                 with no body yet; VERSION_CONFLICT when the body moved)

A status write (patch, save-runner) to a batch with no scene yet creates it,
as the seed's cold start does (over HTTP only an operator's does).
  candidate      store a candidate version (an equal structure returns the
                 existing version); --activate makes it active
  activate       move the active pointer to --version
  recover-stale  mark takes running longer than --older-than as stale`

var sceneSubs = []string{"init", "show", "versions", "list", "patch", "save-runner", "candidate", "activate", "recover-stale"}

func runScene(ctx context.Context, m *Main, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	known := false
	for _, s := range sceneSubs {
		known = known || s == sub
	}
	if !known {
		if sub == "--help" || sub == "-h" {
			fmt.Fprintf(m.Stdout, "Usage: settle scene <subcommand> --project P --episode E [--batch B] ...\n\n%s\n", sceneAbout)
			return errHelp
		}
		return usageErr("scene: want a subcommand: init, show, versions, list, patch, save-runner, candidate, activate or recover-stale")
	}
	var g globalFlags
	fs := m.newFlagSet("scene "+sub, "scene "+sub+" --project P --episode E ...", sceneAbout, &g)
	project := fs.String("project", "", "project (required)")
	episode := fs.String("episode", "", `episode: a number ("1") or ep_NNN (required)`)
	batch := fs.String("batch", "", "batch (scene) id")
	version := fs.Int("version", 0, "version (show: a registered version instead of the active one; activate: required)")
	expected := fs.Int("expected-version", 0, "the active version the change was prepared against (patch, save-runner)")
	expectedRev := fs.String("expected-revision", "", "the revision of the body the runner's scene was based on (save-runner; omit for a batch with no body)")
	patchFile := fs.String("patch", "", "RFC 6902 JSON Patch file, - for standard input (patch)")
	sceneFile := fs.String("scene", "", "scene JSON file, - for standard input (save-runner, candidate)")
	planFile := fs.String("plan", "", "plan JSON file with a \"sequences\" object (init)")
	maxTakes := fs.Int("max-takes", scene.DefaultMaxTakes, "max_takes stamped on every beat (init)")
	dryRun := fs.Bool("dry-run", false, "build the scenes without writing anything (init)")
	reason := fs.String("reason", "", "why this candidate exists (candidate)")
	activate := fs.Bool("activate", false, "make the candidate the active version (candidate)")
	olderThan := fs.Duration("older-than", scene.DefaultStaleAge, "age after which a running take is stale (recover-stale)")
	if err := m.parse(fs, args[1:]); err != nil {
		return err
	}
	if *project == "" || *episode == "" {
		return usageErr("scene %s: --project and --episode are required", sub)
	}
	needBatch := sub != "init" && sub != "list"
	if needBatch && *batch == "" {
		return usageErr("scene %s: --batch is required", sub)
	}
	switch sub {
	case "patch", "save-runner":
		if *expected <= 0 {
			return usageErr("scene %s: --expected-version is required (the version you loaded: settle scene show)", sub)
		}
	case "activate":
		if *version <= 0 {
			return usageErr("scene activate: --version is required")
		}
	}
	if sub == "patch" && *patchFile == "" {
		return usageErr("scene patch: --patch FILE is required")
	}
	if (sub == "save-runner" || sub == "candidate") && *sceneFile == "" {
		return usageErr("scene %s: --scene FILE is required", sub)
	}
	if sub == "init" && *planFile == "" {
		return usageErr("scene init: --plan FILE is required")
	}
	if fs.NArg() != 0 {
		return usageErr("scene %s: unexpected arguments %v", sub, fs.Args())
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	store, err := openScenes(cfg)
	if err != nil {
		return m.refuse(cfg, err)
	}
	defer store.Close()
	dv := newSceneDeriver(cfg, store)
	defer dv.Close()
	ref := scene.Ref{Project: *project, Episode: *episode, Batch: *batch}

	switch sub {
	case "show":
		var l scene.Loaded
		if *version > 0 {
			l, err = store.LoadVersion(ctx, ref, *version)
		} else {
			l, err = store.Load(ctx, ref)
		}
		if err != nil {
			return m.refuse(cfg, err)
		}
		return m.printLoaded(cfg, l, "")
	case "versions":
		vs, err := store.Versions(ctx, ref)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "versions": vs})
		}
		for _, v := range vs {
			mark := " "
			if v.Active {
				mark = "*"
			}
			created := "-"
			if v.CreatedAt != nil {
				created = *v.CreatedAt
			}
			fmt.Fprintf(m.Stdout, "%s v%03d %-40s %s %s %q\n", mark, v.Version, v.Artifact, v.StructureFingerprint[:min(12, len(v.StructureFingerprint))], created, v.Reason)
		}
		return nil
	case "list":
		names, err := store.List(ctx, *project, *episode)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if names == nil {
			names = []string{}
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"scenes": names})
		}
		for _, n := range names {
			fmt.Fprintln(m.Stdout, n)
		}
		return nil
	case "patch":
		data, err := m.readInput(*patchFile, "MaxPatchBytes", settle.MaxPatchBytes)
		if err != nil {
			return m.refuse(cfg, err)
		}
		l, err := store.PatchStatus(ctx, ref, *expected, data)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if err := dv.statusSaved(ctx, ref, l, "patch", 0); err != nil {
			return m.refuse(cfg, err)
		}
		return m.printLoaded(cfg, l, "status saved")
	case "save-runner":
		sc, err := m.readScene(*sceneFile)
		if err != nil {
			return m.refuse(cfg, err)
		}
		l, err := store.SaveRunner(ctx, ref, *expected, *expectedRev, sc)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if err := dv.statusSaved(ctx, ref, l, "runner", 0); err != nil {
			return m.refuse(cfg, err)
		}
		return m.printLoaded(cfg, l, "runner status saved")
	case "candidate":
		sc, err := m.readScene(*sceneFile)
		if err != nil {
			return m.refuse(cfg, err)
		}
		v, err := store.WriteCandidate(ctx, ref, sc, *reason, *activate)
		if err != nil {
			return m.refuse(cfg, err)
		}
		fp := scene.Fingerprint(sc)
		d := derive.SceneEvent(ref, v, cliPrincipal)
		d.Fingerprint, d.Activated, d.Reason = fp, *activate, *reason
		if err := dv.scene(ctx, event.SceneVersionCreated, d); err != nil {
			return m.refuse(cfg, err)
		}
		if *activate {
			if err := dv.scene(ctx, event.SceneActivated, derive.SceneEvent(ref, v, cliPrincipal)); err != nil {
				return m.refuse(cfg, err)
			}
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "version": v, "fingerprint": fp, "activated": *activate})
		}
		fmt.Fprintf(m.Stdout, "batch %s: candidate is version %d (fingerprint %s)%s\n", ref.Batch, v, fp[:12], map[bool]string{true: ", active", false: ""}[*activate])
		return nil
	case "activate":
		if err := store.Activate(ctx, ref, *version); err != nil {
			return m.refuse(cfg, err)
		}
		if err := dv.scene(ctx, event.SceneActivated, derive.SceneEvent(ref, *version, cliPrincipal)); err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "active_version": *version})
		}
		fmt.Fprintf(m.Stdout, "batch %s: version %d is active\n", ref.Batch, *version)
		return nil
	case "recover-stale":
		n, err := store.RecoverStale(ctx, ref, *olderThan, time.Now())
		if err != nil {
			return m.refuse(cfg, err)
		}
		if n > 0 {
			l, err := store.Load(ctx, ref)
			if err == nil {
				err = dv.statusSaved(ctx, ref, l, "recover_stale", n)
			}
			if err != nil {
				return m.refuse(cfg, err)
			}
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "stale": n})
		}
		fmt.Fprintf(m.Stdout, "batch %s: %d running take(s) older than %s marked stale\n", ref.Batch, n, *olderThan)
		return nil
	case "init":
		data, err := m.readInput(*planFile, "MaxPlanBytes", settle.MaxPlanBytes)
		if err != nil {
			return m.refuse(cfg, err)
		}
		plan, err := scene.DecodePlan(data)
		if err != nil {
			return m.refuse(cfg, err)
		}
		res, err := store.InitFromPlan(ctx, *project, *episode, plan, *maxTakes, *dryRun)
		if err != nil {
			return m.refuse(cfg, err)
		}
		for _, r := range res {
			if *dryRun || !r.Created {
				continue
			}
			d := derive.SceneEvent(scene.Ref{Project: *project, Episode: *episode, Batch: r.Batch}, 1, cliPrincipal)
			d.Fingerprint, d.Reason = scene.Fingerprint(r.Scene), "init from plan"
			if err := dv.scene(ctx, event.SceneVersionCreated, d); err != nil {
				return m.refuse(cfg, err)
			}
		}
		if cfg.JSON {
			out := []map[string]any{}
			for _, r := range res {
				out = append(out, map[string]any{"batch": r.Batch, "created": r.Created, "beats": len(r.Scene.Beats), "fingerprint": scene.Fingerprint(r.Scene)})
			}
			return m.printJSON(map[string]any{"dry_run": *dryRun, "scenes": out})
		}
		for _, r := range res {
			what := "re-stamped"
			if r.Created {
				what = "created"
			}
			if *dryRun {
				what += " (dry run: nothing written)"
			}
			fmt.Fprintf(m.Stdout, "%s: %d beats, max_takes=%d, %s\n", r.Batch, len(r.Scene.Beats), *maxTakes, what)
		}
		return nil
	}
	return nil
}

func (m *Main) printLoaded(cfg *Config, l scene.Loaded, what string) error {
	if l.Scene == nil {
		if cfg.JSON {
			return m.printJSON(map[string]any{"version": l.Version, "fingerprint": l.Fingerprint, "revision": l.Revision})
		}
		fmt.Fprintf(m.Stdout, "%s: version %d fingerprint %s revision %s\n", what, l.Version, l.Fingerprint, l.Revision)
		return nil
	}
	if cfg.JSON {
		return m.printJSON(map[string]any{"version": l.Version, "fingerprint": l.Fingerprint, "revision": l.Revision, "scene": l.Scene.ToTree()})
	}
	if what != "" {
		fmt.Fprintf(m.Stdout, "%s: ", what)
	}
	fmt.Fprintf(m.Stdout, "batch %s version %d fingerprint %s revision %s\n", l.Scene.SceneID, l.Version, l.Fingerprint, l.Revision)
	if what != "" {
		return nil
	}
	body, err := pyjson.Encode(l.Scene.ToTree(), pyjson.Options{Indent: 2})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(m.Stdout, "%s\n", body)
	return err
}

// readInput reads an input file, or standard input for "-", of at most
// limit bytes (settle.ReadInputFile: regular files only).
func (m *Main) readInput(path, limitName string, limit int) ([]byte, error) {
	if path == "-" {
		return settle.ReadInput(m.Stdin, "standard input", limitName, limit)
	}
	return settle.ReadInputFile(path, limitName, limit)
}

// readScene reads a scene JSON file, with or without "schema_version".
func (m *Main) readScene(path string) (*scene.Scene, error) {
	data, err := m.readInput(path, "MaxSceneBytes", settle.MaxSceneBytes)
	if err != nil {
		return nil, err
	}
	return scene.DecodeInput(data)
}
