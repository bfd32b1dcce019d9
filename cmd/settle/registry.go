package main

import (
	"context"
	"fmt"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

const registryAbout = `The callback 4-tuple registry shares the ledger file. Dispatchers register
tasks with it; a durable success adds a COMPLETED mirror record.

Subcommands:
  append    validate and append a registry record
  history   the task's registry records in ledger order
  classify  the task's registry state

Run "settle registry <subcommand> --help" for a subcommand's flags.`

// registrySubs are the registry subcommands: synopsis and description.
var registrySubs = map[string][2]string{
	"append": {"registry append --json-record FILE",
		`Validates a callback_4tuple_ledger_record.v1 record and appends it to the
ledger (FILE "-" reads standard input). An invalid record is refused with
its reasons and never written.`},
	"history": {"registry history TASK",
		`Prints the task's registry records in ledger order.`},
	"classify": {"registry classify TASK",
		`Prints the task's registry state: NORMAL_CALLBACK_COMPLETED, FAILED,
REGISTERED or UNKNOWN.`},
}

func runRegistry(ctx context.Context, m *Main, args []string) error {
	if len(args) == 0 || registrySubs[args[0]][0] == "" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			fmt.Fprintf(m.Stdout, "Usage: settle registry <subcommand> [flags] [TASK]\n\n%s\n", registryAbout)
			return errHelp
		}
		return usageErr("registry: want a subcommand: append, history or classify")
	}
	sub := args[0]
	var g globalFlags
	fs := m.newFlagSet("registry "+sub, registrySubs[sub][0], registrySubs[sub][1], &g)
	recFile := subFlags{fs, sub}.String([]string{"append"}, "json-record", "", "the record as a JSON file, - for standard input")
	if err := m.parse(fs, args[1:]); err != nil {
		return err
	}
	var task string
	if sub == "append" {
		if *recFile == "" || fs.NArg() != 0 {
			return usageErr("registry append: want --json-record FILE and no arguments")
		}
	} else {
		if fs.NArg() != 1 {
			return usageErr("registry %s: want one TASK argument", sub)
		}
		task = fs.Arg(0)
	}
	cfg, err := m.resolve(fs, &g)
	if err != nil {
		return m.refuse(&Config{JSON: g.json}, err)
	}
	var rec writeback.RegistryRecord
	if sub == "append" {
		if rec, err = m.readRegistryRecord(*recFile); err != nil {
			return m.refuse(cfg, err)
		}
	}
	open := openReadLedger
	if sub == "append" {
		open = openLedger
	}
	store, err := open(ctx, cfg)
	if err != nil {
		return m.refuse(cfg, err)
	}
	defer store.Close()

	switch sub {
	case "append":
		if err := store.AppendRegistry(ctx, rec); err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"appended": true, "record": rec})
		}
		fmt.Fprintf(m.Stdout, "appended %s %s for task %s\n", rec.Schema, rec.Status, rec.TaskID)
	case "history":
		h, err := store.RegistryHistory(ctx, task)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if h == nil {
			h = []writeback.RegistryRecord{}
		}
		if cfg.JSON {
			return m.printJSON(map[string]any{"task_id": task, "history": h})
		}
		if len(h) == 0 {
			fmt.Fprintf(m.Stdout, "task %s: no registry records\n", task)
		}
		for _, r := range h {
			fb := "-"
			if r.FallbackCallbackCronID != nil {
				fb = *r.FallbackCallbackCronID
			}
			fmt.Fprintf(m.Stdout, "%s %-10s dispatch=%s chat=%s collector_cron=%s fallback=%s role=%s executor=%q\n",
				r.TsKST, r.Status, r.DispatchID, r.ChatID, r.NormalCollectorCronID, fb, r.Role, r.Executor)
		}
	case "classify":
		c, err := store.Classify(ctx, task)
		if err != nil {
			return m.refuse(cfg, err)
		}
		if cfg.JSON {
			return m.printJSON(map[string]string{"task_id": task, "classification": c})
		}
		fmt.Fprintln(m.Stdout, c)
	}
	return nil
}

// readRegistryRecord reads a registry record strictly: a JSON object whose
// fields have the record's types.
func (m *Main) readRegistryRecord(path string) (writeback.RegistryRecord, error) {
	data, err := m.readInput(path, "MaxRecordBytes", settle.MaxRecordBytes)
	if err != nil {
		return writeback.RegistryRecord{}, err
	}
	return decodeRegistryRecord(data)
}

// decodeRegistryRecord decodes a registry record; a field of the wrong type
// is an error (the store then validates the values).
func decodeRegistryRecord(data []byte) (writeback.RegistryRecord, error) {
	var r writeback.RegistryRecord
	v, err := settle.ParseInput(data, "MaxRecordBytes", settle.MaxRecordBytes)
	if err != nil {
		return r, settle.Wrap(settle.InvalidInput, err, "record is not JSON")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return r, settle.Errorf(settle.InvalidInput, "record is not a JSON object")
	}
	str := func(k string, dst *string) error {
		x, ok := obj.Get(k)
		if !ok || x == nil {
			return nil
		}
		s, ok := x.(string)
		if !ok {
			return settle.Errorf(settle.InvalidInput, "record field %s must be a string", k)
		}
		*dst = s
		return nil
	}
	for k, dst := range map[string]*string{
		"schema": &r.Schema, "task_id": &r.TaskID, "dispatch_id": &r.DispatchID,
		"dispatch_cron_id": &r.DispatchCronID, "executor": &r.Executor, "chat_id": &r.ChatID,
		"normal_collector_cron_id": &r.NormalCollectorCronID, "role": &r.Role,
		"status": &r.Status, "ts_kst": &r.TsKST,
	} {
		if err := str(k, dst); err != nil {
			return r, err
		}
	}
	if x, ok := obj.Get("fallback_callback_cron_id"); ok && x != nil {
		s, ok := x.(string)
		if !ok {
			return r, settle.Errorf(settle.InvalidInput, "record field fallback_callback_cron_id must be a string or null")
		}
		r.FallbackCallbackCronID = &s
	}
	if x, ok := obj.Get("no_fallback"); ok {
		b, ok := x.(bool)
		if !ok {
			return r, settle.Errorf(settle.InvalidInput, "record field no_fallback must be a boolean")
		}
		r.NoFallback = b
	}
	for _, k := range obj.Keys() {
		switch k {
		case "schema", "task_id", "dispatch_id", "dispatch_cron_id", "executor", "chat_id",
			"normal_collector_cron_id", "fallback_callback_cron_id", "role", "status", "no_fallback", "ts_kst":
		default:
			return r, settle.Errorf(settle.InvalidInput, "record has an unknown field %q", k)
		}
	}
	return r, nil
}
