package writeback

import (
	"strings"

	"github.com/settlehq/settle/pyjson"
)

// VerdictGaps names what a binding lacks for a durable-success write-back,
// in the verdict file's own field names: a missing verdict, task, collector
// key or completion time, a collector key that is not configured, a role
// that is not ANU, a self-collection. It returns nil when nothing is
// missing or unusable.
//
// The seed answers such a verdict with a generic refusal (a verdict {} is
// SELF_CHAIN_NO_WRITEBACK because its empty verdict is not terminal);
// Evaluate keeps that decision and adds these reasons so the caller learns
// which field to fix.
func VerdictGaps(b Binding, cfg Config) []string {
	var gaps []string
	add := func(s string) { gaps = append(gaps, s) }
	if b.AuthoritativeVerdict == "" {
		add("the verdict has no authoritative_verdict (nor verdict) field: want one of " + reprTuple(TerminalVerdicts))
	}
	if b.TaskID == "" {
		add("the verdict names no task: task_id (or task) is missing or empty")
	}
	switch {
	case b.CollectorKey == "" && len(cfg.CollectorKeys) == 0:
		add("the verdict names no collector key (four_tuple_record.collector_key, collector_owner_key or collector_key), and no collector keys are configured (collector_keys): every write-back is refused")
	case b.CollectorKey == "":
		add("the verdict names no collector key: set four_tuple_record.collector_key, collector_owner_key or collector_key to the independent collector's key")
	case len(cfg.CollectorKeys) == 0:
		add("no collector keys are configured (collector_keys): every write-back is refused, whatever the verdict's collector_key")
	case !contains(cfg.CollectorKeys, b.CollectorKey):
		add("collector_key " + pyjson.Repr(b.CollectorKey) + " is not one of the configured collector keys (collector_keys)")
	}
	if b.CollectorRole != "ANU" {
		add("collector_role " + pyjson.Repr(b.CollectorRole) + " is not \"ANU\" (four_tuple_record.collector_role or collector_role)")
	}
	if b.CollectorKey != "" && b.ExecutorKey == b.CollectorKey {
		add("collector_key equals executor_key " + pyjson.Repr(b.ExecutorKey) + ": the executor cannot vouch for its own task")
	}
	if b.SessionIsExecutorSelf {
		add("the verdict says its collector session is the executor's own (executor_self_collector, session_is_executor_self or executor_self_chain_authoritative is set)")
	}
	if b.CompletedAt == "" {
		add("the verdict has no completion time: ts_kst, completed_at or four_tuple_record.ts_kst is missing or empty")
	}
	if b.BatchID == "" {
		add("no batch id was given with the verdict")
	}
	if b.SourceResultPath == "" {
		add("the verdict has no source path")
	}
	return gaps
}

// withGaps appends the binding's gaps to a refusal's reasons, once each.
func withGaps(reasons []string, b Binding, cfg Config) []string {
	for _, g := range VerdictGaps(b, cfg) {
		dup := false
		for _, r := range reasons {
			dup = dup || strings.Contains(r, g)
		}
		if !dup {
			reasons = append(reasons, g)
		}
	}
	return reasons
}
