package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

const writebackAbout = `Evaluates each verdict FILE written by an independent collector and, unless
--dry-run, writes the decision back to the ledger: a durable success is
appended with its registry COMPLETED mirror (one locked write, one fsync); an
identical replay is an idempotent skip that writes nothing; a refusal is
recorded once as writeback_conflict.v1 and never read as a success.
One decision is printed per file. Exit 0 when every decision is PASS, 1 when
any is FAIL or a file is refused. The verdict file's fields, a complete
example and the meaning of each refusal: docs/ledger.md.`

func runWriteback(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("writeback", "writeback --batch B [--track T] [--executor-key K] [--expect JSON] [--dry-run] FILE...", writebackAbout, &g)
	batch := fs.String("batch", "", "batch id (required)")
	track := fs.String("track", "", "track id (default: from the verdict file)")
	execKey := fs.String("executor-key", "", "the executor's key (default: from the verdict file)")
	expect := fs.String("expect", "", `expected binding as a JSON object, or @FILE (e.g. {"task_id":"t1","track_id":"T1"})`)
	dryRun := fs.Bool("dry-run", false, "evaluate without writing anything")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *batch == "" {
		return usageErr("writeback: --batch is required")
	}
	if fs.NArg() == 0 {
		return usageErr("writeback: at least one verdict FILE is required")
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	expected, err := parseExpect(*expect)
	if err != nil {
		return m.refuse(cfg, err)
	}
	store, dv, closeAll, err := openDeriving(ctx, cfg, *dryRun)
	if err != nil {
		return m.refuse(cfg, err)
	}
	defer closeAll()

	failed := false
	for _, path := range fs.Args() {
		b, err := extractFile(cfg, path, *batch, *track, *execKey)
		if err != nil {
			m.printErr(fmt.Errorf("%s: %w", path, err), cfg.JSON)
			failed = true
			continue
		}
		out, err := store.Writeback(ctx, writeback.WritebackRequest{Binding: b, Expected: expected, DryRun: *dryRun})
		if err != nil {
			m.printErr(fmt.Errorf("%s: %w", path, err), cfg.JSON)
			failed = true
			continue
		}
		d := out.Decision
		var so *writeback.SettleOutcome
		var derr error
		if !*dryRun {
			// The write-back's event and its declared batch's
			// settlement, as the server derives them.
			so, derr = dv.afterWriteback(ctx, out)
		}
		if cfg.JSON {
			if err := m.printJSON(d); err != nil {
				return err
			}
		} else {
			printDecision(m, path, &d, *dryRun, out.ConflictRecorded)
			if so != nil {
				fmt.Fprintf(m.Stdout, "  batch %s: %s\n", d.BatchID, so.Result.Decision)
			}
		}
		if derr != nil {
			m.printErr(settle.Wrap(settle.Unavailable, derr, "%s: the write-back was applied (%s) but its event or batch settlement failed; run it again: an identical write-back is an idempotent skip that completes them", path, d.Classification), cfg.JSON)
			failed = true
		}
		if !d.OK() {
			failed = true
		}
	}
	if failed {
		return errFail()
	}
	return nil
}

func printDecision(m *Main, path string, d *writeback.Decision, dry, conflict bool) {
	mode := ""
	if dry {
		mode = " (dry run)"
	}
	fmt.Fprintf(m.Stdout, "%s: %s %s task=%s track=%s batch=%s appended=%v%s\n",
		path, d.Verdict, d.Classification, d.TaskID, d.TrackID, d.BatchID, d.Appended, mode)
	if conflict {
		fmt.Fprintf(m.Stdout, "  refusal recorded as %s\n", writeback.ConflictSchema)
	}
	for _, r := range d.Reasons {
		fmt.Fprintf(m.Stdout, "  - %s\n", r)
	}
}

// extractFile reads a verdict file and extracts its binding.
func extractFile(cfg *Config, path, batch, track, execKey string) (writeback.Binding, error) {
	data, err := settle.ReadInputFile(path, "MaxVerdictBytes", settle.MaxVerdictBytes)
	if err != nil {
		return writeback.Binding{}, fmt.Errorf("read verdict file: %w", err)
	}
	resolved, err := filepath.Abs(path)
	if err == nil {
		if r, err := filepath.EvalSymlinks(resolved); err == nil {
			resolved = r
		}
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		root = cfg.Root
	}
	return writeback.Extract(data, writeback.ExtractOptions{
		BatchID:           batch,
		TrackID:           track,
		ExecutorKey:       execKey,
		Root:              root,
		SourcePath:        resolved,
		SourcePathAsGiven: path,
		Config:            cfg.WritebackConfig(),
	})
}

// parseExpect parses --expect: a JSON object or @FILE.
func parseExpect(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "@") {
		data, err := settle.ReadInputFile(s[1:], "MaxRecordBytes", settle.MaxRecordBytes)
		if err != nil {
			return nil, fmt.Errorf("read --expect file: %w", err)
		}
		s = string(data)
	}
	v, err := settle.ParseInput([]byte(s), "MaxRecordBytes", settle.MaxRecordBytes)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "--expect must be a JSON object")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "--expect must be a JSON object")
	}
	m := make(map[string]any, obj.Len())
	for _, k := range obj.Keys() {
		m[k], _ = obj.Get(k)
	}
	return m, nil
}
