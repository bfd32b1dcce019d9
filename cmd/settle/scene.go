package main

import (
	"context"
	"fmt"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

const sceneAbout = `The versioned scene store: scenes (Scene > Beat > Take) under
<root>/projects/<project>/orchestration/scenes/, immutable version bodies
behind a manifest's active-version pointer, a structure fingerprint that
refuses structural change on a status write, and optimistic concurrency.

Subcommands:
  init           create an episode's scenes from a plan
  show           print the active (or a registered) version of a scene
  versions       list a scene's versions
  list           list an episode's flat scene files
  patch          apply a JSON Patch to the active body as a status write
  save-runner    overlay a runner's scene on the active body
  candidate      store a candidate version
  activate       move the active pointer to a version
  recover-stale  mark long-running takes as stale

A status write (patch, save-runner) to a batch with no scene yet creates it,
as the seed's cold start does (over HTTP only an operator's does).

Run "settle scene <subcommand> --help" for a subcommand's flags.`

var sceneSubs = []string{"init", "show", "versions", "list", "patch", "save-runner", "candidate", "activate", "recover-stale"}

// sceneHelp is each scene subcommand's synopsis and description.
var sceneHelp = map[string][2]string{
	"init": {"scene init --project P --episode E --plan FILE [--max-takes N] [--dry-run]",
		`Creates a scene for each plan sequence that has none and re-stamps
max_takes on the existing ones. --dry-run builds the scenes and writes
nothing.`},
	"show": {"scene show --project P --episode E --batch B [--version N]",
		`Prints the active version of a scene (or --version N), its version number,
structure fingerprint and body revision.`},
	"versions": {"scene versions --project P --episode E --batch B",
		`Lists a scene's registered versions; * marks the active one.`},
	"list": {"scene list --project P --episode E",
		`Lists an episode's flat scene files.`},
	"patch": {"scene patch --project P --episode E --batch B --expected-version N --patch FILE",
		`Applies an RFC 6902 JSON Patch to the active body as a status write. A
patch that touches the shot structure is refused with STRUCTURE_IMMUTABLE;
one prepared against a version that is no longer active with
VERSION_CONFLICT. Nothing is written on a refusal.`},
	"save-runner": {"scene save-runner --project P --episode E --batch B --expected-version N --expected-revision R --scene FILE",
		`Overlays a runner's scene (take statuses, outputs, primary take) on the
active body, as a status write held to the same structure guard, if that
body is still the one the runner's scene was based on: --expected-revision
is the revision settle scene show printed (omit it only for a batch with no
body yet; VERSION_CONFLICT when the body moved).`},
	"candidate": {"scene candidate --project P --episode E --batch B --scene FILE [--reason TEXT] [--activate]",
		`Stores a scene as a new immutable version. A scene whose structure equals
a registered version returns that version. --activate makes it active.`},
	"activate": {"scene activate --project P --episode E --batch B --version N",
		`Moves the manifest's active pointer to a registered version.`},
	"recover-stale": {"scene recover-stale --project P --episode E --batch B [--older-than D]",
		`Marks the takes that have been running longer than --older-than as stale.`},
}

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
		if sub == "--help" || sub == "-h" || sub == "-help" {
			fmt.Fprintf(m.Stdout, "Usage: settle scene <subcommand> --project P --episode E [--batch B] ...\n\n%s\n", sceneAbout)
			return errHelp
		}
		return usageErr("scene: want a subcommand: init, show, versions, list, patch, save-runner, candidate, activate or recover-stale")
	}
	var g globalFlags
	fs := m.newFlagSet("scene "+sub, sceneHelp[sub][0], sceneHelp[sub][1], &g)
	sf := subFlags{fs, sub}
	project := fs.String("project", "", "project (required)")
	episode := fs.String("episode", "", `episode: a number ("1") or ep_NNN (required)`)
	batch := sf.String([]string{"show", "versions", "patch", "save-runner", "candidate", "activate", "recover-stale"}, "batch", "", "batch (scene) id (required)")
	version := sf.Int([]string{"show", "activate"}, "version", 0, map[string]string{"show": "a registered version to show instead of the active one", "activate": "the version to activate (required)"}[sub])
	expected := sf.Int([]string{"patch", "save-runner"}, "expected-version", 0, "the active version the change was prepared against (required)")
	expectedRev := sf.String([]string{"save-runner"}, "expected-revision", "", "the revision of the body the runner's scene was based on, as settle scene show prints it (omit only for a batch with no body)")
	patchFile := sf.String([]string{"patch"}, "patch", "", "RFC 6902 JSON Patch file, - for standard input (required)")
	sceneFile := sf.String([]string{"save-runner", "candidate"}, "scene", "", "scene JSON file, - for standard input (required)")
	planFile := sf.String([]string{"init"}, "plan", "", "plan JSON file with a \"sequences\" object (required)")
	maxTakes := sf.Int([]string{"init"}, "max-takes", scene.DefaultMaxTakes, "max_takes stamped on every beat")
	dryRun := sf.Bool([]string{"init"}, "dry-run", "build the scenes without writing anything")
	reason := sf.String([]string{"candidate"}, "reason", "", "why this candidate exists")
	activate := sf.Bool([]string{"candidate"}, "activate", "make the candidate the active version")
	olderThan := sf.Duration([]string{"recover-stale"}, "older-than", scene.DefaultStaleAge, "age after which a running take is stale")
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
		var v int
		var stamp string
		if sa, ok := store.(scene.StampedActivator); ok {
			v, stamp, err = sa.WriteCandidateStamped(ctx, ref, sc, *reason, *activate)
		} else {
			v, err = store.WriteCandidate(ctx, ref, sc, *reason, *activate)
		}
		if err != nil {
			return m.refuse(cfg, err)
		}
		fp := scene.Fingerprint(sc)
		d := derive.SceneEvent(ref, v, cliPrincipal)
		d.Fingerprint, d.Activated, d.Reason, d.Revision = fp, *activate, *reason, derive.BodyRevision(sc)
		if err := dv.scene(ctx, event.SceneVersionCreated, d); err != nil {
			return m.refuse(cfg, err)
		}
		if *activate {
			if err := dv.activated(ctx, ref, v, stamp); err != nil {
				return m.refuse(cfg, err)
			}
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "version": v, "fingerprint": fp, "activated": *activate})
		}
		fmt.Fprintf(m.Stdout, "batch %s: candidate is version %d (fingerprint %s)%s\n", ref.Batch, v, fp[:12], map[bool]string{true: ", active", false: ""}[*activate])
		return nil
	case "activate":
		stamp := ""
		if sa, ok := store.(scene.StampedActivator); ok {
			stamp, err = sa.ActivateStamped(ctx, ref, *version, 0)
		} else {
			err = store.Activate(ctx, ref, *version)
		}
		if err != nil {
			return m.refuse(cfg, err)
		}
		if err := dv.activated(ctx, ref, *version, stamp); err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"batch_id": ref.Batch, "active_version": *version})
		}
		fmt.Fprintf(m.Stdout, "batch %s: version %d is active\n", ref.Batch, *version)
		return nil
	case "recover-stale":
		n, l, err := scene.RecoverStaleIn(ctx, store, ref, *olderThan, time.Now())
		if err != nil {
			return m.refuse(cfg, err)
		}
		if n > 0 {
			if err := dv.statusSaved(ctx, ref, l, "recover_stale", n); err != nil {
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
			d.Fingerprint, d.Reason, d.Revision = scene.Fingerprint(r.Scene), "init from plan", derive.BodyRevision(r.Scene)
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
