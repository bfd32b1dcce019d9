package main

import (
	"context"
	"fmt"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
)

const eventsAbout = `The event log (what /v1/events streams) keeps growing with every write-back.
"events compact" removes the events the retention no longer keeps: those older
than --max-age and those beyond the newest --max-count. Ids go on from where
they were, a removed keyed event is still never appended again, and a client
that resumes below the removed ids is told so (COMPACTED, HTTP 410) and
re-syncs from the ledger and the batch statuses. A server applies the same
retention by itself (settle serve --events-max-age/--events-max-count).

Example:
  settle events compact --max-age 720h --max-count 1000000`

func runEvents(ctx context.Context, m *Main, args []string) error {
	if len(args) == 0 || args[0] != "compact" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			fmt.Fprintf(m.Stdout, "Usage: settle events compact --max-age D --max-count N\n\n%s\n", eventsAbout)
			return errHelp
		}
		return usageErr("events: want a subcommand: compact")
	}
	var g globalFlags
	fs := m.newFlagSet("events compact", "events compact [--max-age D] [--max-count N]", eventsAbout, &g)
	maxAge := fs.Duration("max-age", 0, "remove events older than this (0: any age)")
	maxCount := fs.Int64("max-count", 0, "keep at most this many newest events (0: any number)")
	if err := m.parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("events compact: unexpected arguments %v", fs.Args())
	}
	if *maxAge <= 0 && *maxCount <= 0 {
		return usageErr("events compact: give --max-age, --max-count or both")
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	var c event.Compactor
	if isPostgres(cfg.Store) {
		pg, err := openPostgres(cfg)
		if err != nil {
			return m.refuse(cfg, err)
		}
		defer pg.Close()
		c = pg
	} else {
		ev, err := file.OpenEvents(file.EventsOptions{Root: cfg.Root, Path: cfg.Events, Logger: cfg.Logger})
		if err != nil {
			return m.refuse(cfg, settle.Wrap(settle.ErrorCode(err), err, "open the event log"))
		}
		defer ev.Close()
		c = ev
	}
	res, err := c.Compact(ctx, event.Retention{MaxAge: *maxAge, MaxEvents: *maxCount})
	if err != nil {
		return m.refuse(cfg, err)
	}
	if cfg.JSON {
		return m.printJSON(res)
	}
	fmt.Fprintf(m.Stdout, "events: %d removed, %d retained; resume points below %d are refused\n", res.Removed, res.Retained, res.Floor)
	return nil
}
