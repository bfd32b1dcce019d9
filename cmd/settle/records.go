package main

import (
	"context"
	"fmt"

	"github.com/settlehq/settle/writeback"
)

const recordsAbout = `Lists ledger records in append order: durable successes, registry records
and recorded refusals (writeback_conflict.v1). Pages with --after SEQ.`

func runRecords(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("records", "records [--kind durable|registry|conflict] [--batch B] [--task T] [--after SEQ] [--limit N]", recordsAbout, &g)
	kind := fs.String("kind", "", "only records of this kind: durable, registry or conflict")
	batch := fs.String("batch", "", "only records of this batch")
	task := fs.String("task", "", "only records of this task")
	after := fs.Int64("after", -1, "only records after this sequence number")
	limit := fs.Int("limit", 100, "at most this many records")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	switch writeback.RecordKind(*kind) {
	case "", writeback.KindDurable, writeback.KindRegistry, writeback.KindConflict:
	default:
		return usageErr("records: --kind must be durable, registry or conflict")
	}
	if err := writeback.CheckLimit(*limit); err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	store, err := openReadLedger(ctx, cfg)
	if err != nil {
		return m.refuse(cfg, err)
	}
	defer store.Close()
	page, err := store.Records(ctx, writeback.RecordQuery{Kind: writeback.RecordKind(*kind), BatchID: *batch, TaskID: *task, After: *after, Limit: *limit})
	if err != nil {
		return m.refuse(cfg, err)
	}
	if cfg.JSON {
		if page.Records == nil {
			page.Records = []writeback.LedgerRecord{}
		}
		return m.printJSON(page)
	}
	for _, r := range page.Records {
		switch {
		case r.Durable != nil:
			d := r.Durable
			fmt.Fprintf(m.Stdout, "%6d durable  %s task=%s track=%s batch=%s verdict=%s collector=%s\n", r.Seq, d.WritebackClassification, d.TaskID, d.TrackID, d.BatchID, d.AuthoritativeVerdict, d.CollectorKey)
		case r.Registry != nil:
			x := r.Registry
			fmt.Fprintf(m.Stdout, "%6d registry %s task=%s dispatch=%s chat=%s\n", r.Seq, x.Status, x.TaskID, x.DispatchID, x.ChatID)
		case r.Conflict != nil:
			c := r.Conflict
			fmt.Fprintf(m.Stdout, "%6d refused  %s task=%s track=%s batch=%s\n", r.Seq, c.Classification, c.TaskID, c.TrackID, c.BatchID)
		}
	}
	if page.Next >= 0 {
		fmt.Fprintf(m.Stdout, "(more: --after %d)\n", page.Next)
	}
	return nil
}
