package main

import (
	"context"
	"fmt"
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

const batchAbout = `Subcommands:
  status   evaluate a batch's settlement on its durable write-back records
  declare  store a batch's expected tracks
  summary  print a batch's consolidated summary

Run "settle batch <subcommand> --help" for a subcommand's flags.`

// batchSubs are the batch subcommands: synopsis and description.
var batchSubs = map[string][2]string{
	"status": {"batch status --batch B [--track TRACK=TASK...] [--this-track T]",
		`Evaluates a batch's settlement on its durable write-back records (never on
a clock). Tracks come from --track TRACK=TASK flags or, without them, from
the batch's declaration. The first time the batch reaches
ALL_SETTLED_CONSOLIDATE its consolidated summary is written once.
RECORD_AND_DEFER is not a failure (exit 0).`},
	"declare": {"batch declare --batch B --track TRACK=TASK [--track TRACK=TASK...]",
		`Stores a batch's expected tracks, each with the task that fills it.`},
	"summary": {"batch summary --batch B",
		`Prints a batch's consolidated summary (written once, when the batch first
settled).`},
}

// trackList is a repeatable --track TRACK=TASK flag.
type trackList []writeback.TrackTask

func (t *trackList) String() string {
	var s []string
	for _, x := range *t {
		s = append(s, x.TrackID+"="+x.TaskID)
	}
	return strings.Join(s, ",")
}

func (t *trackList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		track, task, ok := strings.Cut(part, "=")
		if !ok || track == "" || task == "" {
			return fmt.Errorf("want TRACK=TASK, got %q", part)
		}
		*t = append(*t, writeback.TrackTask{TrackID: track, TaskID: task})
	}
	return nil
}

func runBatch(ctx context.Context, m *Main, args []string) error {
	if len(args) == 0 || batchSubs[args[0]][0] == "" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			fmt.Fprintf(m.Stdout, "Usage: settle batch <subcommand> --batch B [flags]\n\n%s\n", batchAbout)
			return errHelp
		}
		return usageErr("batch: want a subcommand: status, declare or summary")
	}
	sub := args[0]
	var g globalFlags
	fs := m.newFlagSet("batch "+sub, batchSubs[sub][0], batchSubs[sub][1], &g)
	sf := subFlags{fs, sub}
	batch := fs.String("batch", "", "batch id (required)")
	var tracks trackList
	sf.Var([]string{"status", "declare"}, &tracks, "track", "an expected track and its task, TRACK=TASK (repeatable)")
	this := sf.String([]string{"status"}, "this-track", "", "the track of the collector asking")
	if err := m.parse(fs, args[1:]); err != nil {
		return err
	}
	if *batch == "" {
		return usageErr("batch %s: --batch is required", sub)
	}
	if fs.NArg() != 0 {
		return usageErr("batch %s: unexpected arguments %v", sub, fs.Args())
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	store, dv, closeAll, err := openDeriving(ctx, cfg, sub == "summary")
	if err != nil {
		return m.refuse(cfg, err)
	}
	defer closeAll()

	switch sub {
	case "declare":
		if len(tracks) == 0 {
			return usageErr("batch declare: at least one --track TRACK=TASK is required")
		}
		b := writeback.Batch{BatchID: *batch, Tracks: tracks}
		if err := store.DeclareBatch(ctx, b); err != nil {
			return m.refuse(cfg, err)
		}
		// A declaration can complete a batch whose tracks are all
		// written back already.
		d, err := dv.get()
		if err == nil {
			_, err = d.SettleDeclared(ctx, b.BatchID, "")
		}
		if err != nil {
			return m.refuse(cfg, settle.Wrap(settle.Unavailable, err, "batch %s was declared but its settlement failed; run batch status to complete it", b.BatchID))
		}
		if cfg.JSON {
			return m.printJSON(b)
		}
		fmt.Fprintf(m.Stdout, "batch %s declared with %d tracks: %s\n", b.BatchID, len(tracks), tracks.String())
		return nil
	case "summary":
		s, err := store.Summary(ctx, *batch)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(s)
		}
		fmt.Fprintf(m.Stdout, "batch %s consolidated at %s: %s, %d track records\n", s.BatchID, s.WrittenAt, s.Result.Decision, len(s.Records))
		return nil
	}
	if len(tracks) == 0 {
		b, err := store.GetBatch(ctx, *batch)
		if err != nil {
			if settle.ErrorCode(err) == settle.NotFound {
				return m.refuse(cfg, settle.Errorf(settle.InvalidInput, "batch %s: no --track given and no declaration (settle batch declare)", *batch))
			}
			return m.refuse(cfg, err)
		}
		tracks = b.Tracks
	}
	out, err := store.Settle(ctx, *batch, tracks, *this)
	if err != nil {
		return m.refuse(cfg, err)
	}
	if out.FirstConsolidation {
		// This evaluation wrote the summary: it announces the
		// settlement (batch.settled, once), as a server would. A summary
		// written earlier was announced by its writer.
		d, err := dv.get()
		if err == nil {
			_, err = d.SettleAndAnnounce(ctx, *batch, tracks, *this)
		}
		if err != nil {
			return m.refuse(cfg, settle.Wrap(settle.Unavailable, err, "batch %s consolidated (summary written) but its batch.settled event failed; a server's startup reconciliation or ledger follower appends it", *batch))
		}
	}
	r := out.Result
	if cfg.JSON {
		if err := m.printJSON(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(m.Stdout, "batch %s: %s (%d/%d tracks settled, all authoritative pass: %v)\n",
			r.BatchID, r.Decision, len(r.TracksSettled), len(r.TracksExpected), r.AllAuthoritativePass)
		for _, ts := range r.TrackStates {
			v := "-"
			if ts.AuthoritativeVerdict != nil {
				v = *ts.AuthoritativeVerdict
			}
			fmt.Fprintf(m.Stdout, "  %-12s task=%-20s %-10s verdict=%s\n", ts.TrackID, ts.TaskID, ts.TerminalStatus, v)
		}
		if r.ConsolidatedSummaryCandidatePath != nil {
			what := "already written"
			if out.FirstConsolidation {
				what = "written now"
			}
			fmt.Fprintf(m.Stdout, "  consolidated summary (%s): %s\n", what, *r.ConsolidatedSummaryCandidatePath)
		}
	}
	return nil
}
