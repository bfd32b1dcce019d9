package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/writeback"
)

// benchCounters are a store's commit counters, read before and after the
// measured load so that set-up and reference runs do not count.
type benchCounters struct {
	ledgerCommits, ledgerGroups, ledgerGrouped, ledgerMax int64
	eventCommits, eventGroups, eventGrouped               int64
	sceneGroups, sceneGrouped, sceneMax                   int64
}

// setCounters writes the counters' growth from before to after into r.
func (r *benchResult) setCounters(before, after benchCounters) {
	avg := func(grouped, groups int64) float64 {
		if groups <= 0 {
			return 0
		}
		return float64(grouped) / float64(groups)
	}
	r.LedgerFsyncs = after.ledgerCommits - before.ledgerCommits
	r.LedgerAvgGroup = avg(after.ledgerGrouped-before.ledgerGrouped, after.ledgerGroups-before.ledgerGroups)
	r.LedgerMaxGroup = after.ledgerMax
	r.EventFsyncs = after.eventCommits - before.eventCommits
	r.EventAvgGroup = avg(after.eventGrouped-before.eventGrouped, after.eventGroups-before.eventGroups)
	r.SceneCommits = after.sceneGroups - before.sceneGroups
	r.SceneAvgGroup = avg(after.sceneGrouped-before.sceneGrouped, after.sceneGroups-before.sceneGroups)
	r.SceneMaxGroup = after.sceneMax
}

// openBenchPostgres opens the embedded bench's PostgreSQL store in a
// fresh schema of the database at url, dropped when closed unless keep.
func openBenchPostgres(ctx context.Context, url string, keep bool, wcfg writeback.Config, log *slog.Logger, stderr io.Writer) (*serveStores, func() benchCounters, string, error) {
	schema := "settle_bench_" + randomHex(6)
	pg, err := postgres.Open(ctx, postgres.Options{URL: url, Schema: schema, Config: wcfg, Logger: log})
	if err != nil {
		return nil, nil, "", err
	}
	drop := closerFunc(func() error {
		if keep {
			fmt.Fprintf(stderr, "kept schema %s\n", schema)
			return pg.Close()
		}
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pg.Pool().Exec(dctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		cerr := pg.Close()
		if err != nil {
			return err
		}
		return cerr
	})
	st := &serveStores{ledger: pg, scenes: pg, events: pg, closers: []io.Closer{drop},
		health: func() error {
			hctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return pg.Ping(hctx)
		}}
	counters := func() benchCounters {
		l, e, s := pg.GroupStats(), pg.EventGroupStats(), pg.SceneGroupStats()
		return benchCounters{
			ledgerCommits: l.Groups, ledgerGroups: l.Groups, ledgerGrouped: l.Grouped, ledgerMax: l.MaxGroup,
			eventCommits: e.Groups, eventGroups: e.Groups, eventGrouped: e.Grouped,
			sceneGroups: s.Groups, sceneGrouped: s.Grouped, sceneMax: s.MaxGroup,
		}
	}
	return st, counters, "embedded PostgreSQL store in schema " + schema, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// benchReferences runs the same-run references a run asked for after its
// load: the same workload with one client (--single-client) and the ping
// ceiling with the run's clients (--ceiling), each for as long as the
// load ran, and sets the ratios of res to them.
func benchReferences(ctx context.Context, m *Main, bc benchConfig, tg *benchTarget, res *benchResult) error {
	ref := bc
	ref.requests = 0
	ref.duration = time.Duration(res.Seconds * float64(time.Second))
	if bc.singleClient {
		one := ref
		one.clients = 1
		var r benchResult
		fmt.Fprintf(m.Stderr, "single-client reference: workload=%s for %s\n", bc.workload, one.duration.Round(time.Millisecond))
		if err := runLoad(ctx, m, one, tg, &r); err != nil {
			return err
		}
		if r.Errors > 0 {
			return fmt.Errorf("bench: single-client reference: %d errors, first: %s", r.Errors, r.FirstError)
		}
		res.SingleClientOpsPerSec = r.OpsPerSec
		if r.OpsPerSec > 0 {
			res.OpsPerSingleClient = res.OpsPerSec / r.OpsPerSec
		}
	}
	if bc.ceiling {
		ping := ref
		ping.workload = "ping"
		var r benchResult
		fmt.Fprintf(m.Stderr, "ping ceiling: %d clients for %s\n", ping.clients, ping.duration.Round(time.Millisecond))
		if err := runLoad(ctx, m, ping, tg, &r); err != nil {
			return err
		}
		if r.Errors > 0 {
			return fmt.Errorf("bench: ping ceiling: %d errors, first: %s", r.Errors, r.FirstError)
		}
		res.PingOpsPerSec = r.OpsPerSec
		if r.OpsPerSec > 0 {
			res.OpsPerPingCeiling = res.OpsPerSec / r.OpsPerSec
		}
	}
	return nil
}

// printBenchRatios prints the same-run ratios of a result.
func printBenchRatios(w io.Writer, r *benchResult) {
	if r.FsyncPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the fsync rate: %.2fx\n", r.OpsPerFsync)
	}
	if r.PingOpsPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the same-run ping ceiling (%.1f pings/s, %d clients): %.3f\n", r.PingOpsPerSec, r.Clients, r.OpsPerPingCeiling)
	}
	if r.SingleClientOpsPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the same-run single client (%.1f/s): %.2fx\n", r.SingleClientOpsPerSec, r.OpsPerSingleClient)
	}
	if r.SceneCommits > 0 {
		fmt.Fprintf(w, "  scene group commit: %d transactions (avg group %.1f, max %d)\n", r.SceneCommits, r.SceneAvgGroup, r.SceneMaxGroup)
	}
}
