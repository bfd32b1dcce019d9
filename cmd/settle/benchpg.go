package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/settlehq/settle/internal/loadgen"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/writeback"
)

// openBenchPostgres opens the embedded bench's PostgreSQL store in a
// fresh schema of the database at url, dropped when closed unless keep.
func openBenchPostgres(ctx context.Context, url string, keep bool, wcfg writeback.Config, log *slog.Logger, stderr io.Writer) (*serveStores, func() loadgen.Counters, string, error) {
	schema := "settle_bench_" + loadgen.RandomHex(6)
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
	counters := func() loadgen.Counters {
		l, e, s := pg.GroupStats(), pg.EventGroupStats(), pg.SceneGroupStats()
		return loadgen.Counters{
			LedgerCommits: l.Groups, LedgerGroups: l.Groups, LedgerGrouped: l.Grouped, LedgerMax: l.MaxGroup,
			EventCommits: e.Groups, EventGroups: e.Groups, EventGrouped: e.Grouped,
			SceneGroups: s.Groups, SceneGrouped: s.Grouped, SceneMax: s.MaxGroup,
		}
	}
	return st, counters, "embedded PostgreSQL store in schema " + schema, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
