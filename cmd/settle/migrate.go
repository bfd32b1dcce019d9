package main

import (
	"context"
	"fmt"
	"io"

	"github.com/settlehq/settle/migrate"
)

const migrateAbout = `Copies a store's data to another store: a file workspace to PostgreSQL and
back. URLs: "file:" (the current directory), "file:DIR" or "file:///abs/dir"
(a workspace root), "postgres://user:pass@host:5432/db" (a search_path
parameter selects the schema).

Copied byte for byte: the ledger (durable successes, registry records,
refusals) in append order, batch declarations, consolidated summaries, and
every scene file (flat bodies, versioned bodies, manifests). History is
never rewritten: the target's ledger must be a prefix of the source's and
only the rest is appended, so a re-run copies nothing twice. A target whose
ledger or summaries diverge is refused before anything is written; so is a
differing batch declaration or scene file, unless --overwrite. At the end
every item is verified (counts and sha256 per record). Progress goes to
stderr. Run it while no server writes the target.`

func runMigrate(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("migrate", "migrate --from URL --to URL [--overwrite] [--quiet]", migrateAbout, &g)
	from := fs.String("from", "", "the source store URL")
	to := fs.String("to", "", "the target store URL")
	fromLedger := fs.String("from-ledger", "", "the source's ledger file (a file: source; default <root>/memory/events/callback_4tuple_index.jsonl)")
	toLedger := fs.String("to-ledger", "", "the target's ledger file (a file: target)")
	overwrite := fs.Bool("overwrite", false, "replace batch declarations and scene files that differ on the target (never ledger records or summaries)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("migrate: no arguments expected")
	}
	if *from == "" || *to == "" {
		return usageErr("migrate: --from and --to are required")
	}
	if *from == *to {
		return usageErr("migrate: --from and --to name the same store")
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	src, err := migrate.Open(ctx, *from, migrate.OpenOptions{Logger: cfg.Logger, LedgerPath: *fromLedger})
	if err != nil {
		return m.refuse(cfg, fmt.Errorf("source: %w", err))
	}
	defer src.Close()
	dst, err := migrate.Open(ctx, *to, migrate.OpenOptions{Logger: cfg.Logger, LedgerPath: *toLedger, Create: true})
	if err != nil {
		return m.refuse(cfg, fmt.Errorf("target: %w", err))
	}
	defer dst.Close()
	var progress io.Writer = m.Stderr
	if *quiet {
		progress = nil
	}
	rep, err := migrate.Run(ctx, src, dst, migrate.Options{Overwrite: *overwrite, Progress: progress})
	if err != nil {
		return m.refuse(cfg, err)
	}
	if cfg.JSON {
		return m.printJSON(rep)
	}
	fmt.Fprintf(m.Stdout, "migrated %s -> %s in %s (verified)\n", rep.From, rep.To, rep.Elapsed)
	line := func(what string, c migrate.Counts) {
		fmt.Fprintf(m.Stdout, "  %-12s %8d on the source, %8d copied, %8d already there, %8d replaced, %8d on the target\n",
			what, c.Source, c.Copied, c.Same, c.Replaced, c.Target)
	}
	line("records", rep.Records)
	line("batches", rep.Batches)
	line("summaries", rep.Summaries)
	line("scene files", rep.SceneFiles)
	fmt.Fprintf(m.Stdout, "  ledger sha256 %s\n", rep.SourceLedgerSHA256)
	return nil
}
