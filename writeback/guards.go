package writeback

import (
	"strings"

	"github.com/settlehq/settle/pyjson"
)

// VerdictRecord is one verdict considered by the authoritative verdict
// selector (the +49 selector's VerdictRecord).
type VerdictRecord struct {
	Kind                  string
	Verdict               string
	TaskID                string
	ExecutorKey           string
	CollectorKey          string
	CollectorRole         string
	SessionIsExecutorSelf bool
	// ClaimedOrigin is never trusted: origin is recomputed.
	ClaimedOrigin string
	Detail        string
}

// Selection is the selector's result.
type Selection struct {
	Classification      string
	IndependentANUCount int
	SelfChainCount      int
	Reasons             []string
}

// IsIndependent reports whether rec is an independent collector verdict
// for taskID: the task matches, the role is ANU, the collector key is
// non-empty, configured and not the executor's, and the session is not the
// executor's own.
func IsIndependent(rec VerdictRecord, taskID string, keys []string) bool {
	return rec.TaskID == taskID &&
		rec.CollectorRole == "ANU" &&
		rec.CollectorKey != "" &&
		contains(keys, rec.CollectorKey) &&
		rec.CollectorKey != rec.ExecutorKey &&
		!rec.SessionIsExecutorSelf
}

// SelectAuthoritative is the authoritative verdict selector: every record
// that is not independent is self-chain and quarantined; the result is
// AUTHORITATIVE_PASS when there is an independent record and all
// independent verdicts are PASS, AUTHORITATIVE_FAIL when one is not, and
// NO_AUTHORITATIVE_VERDICT when there is no independent record.
func SelectAuthoritative(records []VerdictRecord, taskID string, keys []string) Selection {
	var sel Selection
	allPass := true
	for _, r := range records {
		if IsIndependent(r, taskID, keys) {
			sel.IndependentANUCount++
			if r.Verdict != "PASS" {
				allPass = false
			}
			continue
		}
		sel.SelfChainCount++
		sel.Reasons = append(sel.Reasons, "record by collector "+pyjson.Repr(r.CollectorKey)+
			" (role "+pyjson.Repr(r.CollectorRole)+") is self-chain / not an independent ANU collector: quarantined")
	}
	switch {
	case sel.IndependentANUCount == 0:
		sel.Classification = NoAuthoritativeVerdict
	case allPass:
		sel.Classification = AuthoritativePass
	default:
		sel.Classification = AuthoritativeFail
	}
	return sel
}

// GuardResult is a guard's verdict.
type GuardResult struct {
	OK      bool
	Reasons []string
}

func guardResult(reasons []string) GuardResult {
	return GuardResult{OK: len(reasons) == 0, Reasons: reasons}
}

// GuardSelfCollector is the self-collector guard: it fails when the
// session is the executor's own, the collector key is empty, a non-empty
// executor key equals the collector key, or the role is not ANU.
func GuardSelfCollector(executorKey, collectorKey, collectorRole string, isExecutorSelfSession bool) GuardResult {
	var reasons []string
	if isExecutorSelfSession {
		reasons = append(reasons, "collector session is the executor's own session")
	}
	if collectorKey == "" {
		reasons = append(reasons, "collector_key is empty")
	}
	if executorKey != "" && executorKey == collectorKey {
		reasons = append(reasons, "collector_key equals executor_key (self-collection)")
	}
	if collectorRole != "ANU" {
		reasons = append(reasons, "collector_role "+pyjson.Repr(collectorRole)+" is not ANU")
	}
	return guardResult(reasons)
}

// BindingCandidate is what the write-back binding guard checks against a
// task's registry history.
type BindingCandidate struct {
	TaskID                string
	DispatchID            string
	ChatID                string
	NormalCollectorCronID string
	Role                  string
	FallbackCronID        *string
	OwnerKey              string
	ExecutorKey           string
	SessionIsExecutorSelf bool
}

// GuardBinding is the write-back binding guard over the registry history
// of the candidate's task: it fails when the owner key is not configured,
// equals the executor key or the session is the executor's own; when a
// history record binds another dispatch_id (unless the candidate's is
// derived); when one binds another chat_id; or when a COMPLETED one binds
// another normal_collector_cron_id.
func GuardBinding(history []RegistryRecord, c BindingCandidate, keys []string) GuardResult {
	var reasons []string
	if !contains(keys, c.OwnerKey) {
		reasons = append(reasons, "owner key "+pyjson.Repr(c.OwnerKey)+" is not a configured ANU key")
	}
	if c.ExecutorKey != "" && c.OwnerKey == c.ExecutorKey {
		reasons = append(reasons, "owner key equals executor key")
	}
	if c.SessionIsExecutorSelf {
		reasons = append(reasons, "candidate session is the executor's own")
	}
	derived := strings.HasPrefix(c.DispatchID, DerivedDispatchPrefix)
	for i := range history {
		h := &history[i]
		if h.TaskID != c.TaskID {
			continue
		}
		if h.DispatchID != c.DispatchID && !derived {
			reasons = append(reasons, "history binds dispatch_id "+pyjson.Repr(h.DispatchID)+", candidate "+pyjson.Repr(c.DispatchID))
		}
		if h.ChatID != c.ChatID {
			reasons = append(reasons, "history binds chat_id "+pyjson.Repr(h.ChatID)+", candidate "+pyjson.Repr(c.ChatID))
		}
		if h.Status == StatusCompleted && h.NormalCollectorCronID != c.NormalCollectorCronID {
			reasons = append(reasons, "a COMPLETED record binds another normal_collector_cron_id")
		}
	}
	return guardResult(reasons)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
