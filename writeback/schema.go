package writeback

import (
	"fmt"

	"github.com/settlehq/settle/pyjson"
)

// durableFields are the members of a durable_success_writeback.v1 record,
// all strings but fallback_callback_cron_id (a string or null).
var durableFields = []string{
	"schema", "task_id", "track_id", "dispatch_id", "dispatch_id_source",
	"normal_collector_cron_id", "normal_collector_cron_id_source", "collector_key",
	"collector_role", "authoritative_verdict", "terminal_status", "completed_at",
	"source_result_path", "batch_id", "executor_key", "chat_id",
	"fallback_callback_cron_id", "writeback_classification", "writeback_id",
}

// registryFields are the members of a callback_4tuple_ledger_record.v1
// record: strings, but fallback_callback_cron_id (a string or null) and
// no_fallback (a boolean), which may be missing.
var registryFields = []string{
	"schema", "task_id", "dispatch_id", "dispatch_cron_id", "executor", "chat_id",
	"normal_collector_cron_id", "fallback_callback_cron_id", "role", "status",
	"no_fallback", "ts_kst",
}

// conflictStringFields are the string members of a writeback_conflict.v1
// record; it also holds candidate (a durable record) and reasons (a list
// of strings).
var conflictStringFields = []string{
	"schema", "conflict_id", "classification", "task_id", "track_id", "batch_id",
	"writeback_id", "recorded_at",
}

// CheckLine checks one ledger line strictly against its record's schema
// and returns what is wrong (nil for a valid record). DecodeLine is the
// lenient reader the seed's readers match (a missing or mistyped field
// reads as ""); CheckLine is what fsck applies: every member present with
// its type, the mandatory fields not empty, and the ids the record
// carries recomputed from its content (a durable record's writeback_id, a
// conflict's conflict_id and its candidate's writeback_id).
func CheckLine(line []byte) []string {
	v, err := pyjson.Parse(line)
	if err != nil {
		return []string{"not JSON"}
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return []string{"not a JSON object"}
	}
	schema, _ := obj.GetString("schema")
	switch schema {
	case DurableSchema:
		return checkDurable(obj, "")
	case RegistrySchema:
		return checkRegistry(obj)
	case ConflictSchema:
		return checkConflict(obj)
	}
	return []string{fmt.Sprintf("unknown schema %s", pyjson.Repr(schema))}
}

// fieldTypes appends a problem for each member of names that is missing or
// not a string (nullable: or null).
func fieldTypes(out []string, obj *pyjson.Object, prefix string, names []string, nullable, boolean map[string]bool) []string {
	for _, f := range names {
		v, ok := obj.Get(f)
		switch {
		case !ok:
			out = append(out, prefix+f+" missing")
		case boolean[f]:
			if _, ok := v.(bool); !ok {
				out = append(out, fmt.Sprintf("%s%s is %s, not a boolean", prefix, f, typeName(v)))
			}
		case v == nil && nullable[f]:
		default:
			if _, ok := v.(string); !ok {
				out = append(out, fmt.Sprintf("%s%s is %s, not a string", prefix, f, typeName(v)))
			}
		}
	}
	return out
}

// memberAs is obj's member key as a T, or the problem ("missing", or
// what it is instead of kind).
func memberAs[T any](obj *pyjson.Object, key, kind string) (x T, problem string) {
	v, ok := obj.Get(key)
	if !ok {
		return x, key + " missing"
	}
	if x, ok = v.(T); !ok {
		return x, fmt.Sprintf("%s is %s, not %s", key, typeName(v), kind)
	}
	return x, ""
}

var fallbackNullable = map[string]bool{"fallback_callback_cron_id": true}

// checkDurable checks a durable record, or with a prefix a conflict's
// candidate, which may lack mandatory fields (that is why it was refused).
func checkDurable(obj *pyjson.Object, prefix string) []string {
	out := fieldTypes(nil, obj, prefix, durableFields, fallbackNullable, nil)
	if len(out) > 0 {
		return out
	}
	rec := durableFromPairs(objectPairs(obj, nil))
	if rec.Schema != DurableSchema {
		out = append(out, prefix+"schema is not "+DurableSchema)
	}
	if prefix == "" {
		for _, f := range MissingFields(rec) {
			out = append(out, f+" empty")
		}
	}
	if rec.WritebackClassification == "" {
		out = append(out, prefix+"writeback_classification empty")
	}
	if want := writebackID(rec.TaskID, rec.TrackID, rec.DispatchID, rec.CollectorKey, rec.AuthoritativeVerdict, rec.BatchID); rec.WritebackID != want {
		out = append(out, fmt.Sprintf("%swriteback_id %s does not match the record's content (%s)", prefix, pyjson.Repr(rec.WritebackID), want))
	}
	return out
}

func checkRegistry(obj *pyjson.Object) []string {
	// The reference registry validates with rec.get(): a record without
	// fallback_callback_cron_id or no_fallback is one it appends (and
	// ValidateRegistry below still requires one of the two).
	names := make([]string, 0, len(registryFields))
	for _, f := range registryFields {
		if (f == "fallback_callback_cron_id" || f == "no_fallback") && !obj.Has(f) {
			continue
		}
		names = append(names, f)
	}
	out := fieldTypes(nil, obj, "", names, fallbackNullable, map[string]bool{"no_fallback": true})
	if len(out) > 0 {
		return out
	}
	return ValidateRegistry(*registryFromPairs(objectPairs(obj, nil)))
}

func checkConflict(obj *pyjson.Object) []string {
	out := fieldTypes(nil, obj, "", conflictStringFields, nil, nil)
	cand, problem := memberAs[*pyjson.Object](obj, "candidate", "an object")
	if problem != "" {
		out = append(out, problem)
	} else {
		out = append(out, checkDurable(cand, "candidate.")...)
	}
	if list, problem := memberAs[[]any](obj, "reasons", "a list"); problem != "" {
		out = append(out, problem)
	} else {
		for i, r := range list {
			if _, ok := r.(string); !ok {
				out = append(out, fmt.Sprintf("reasons[%d] is %s, not a string", i, typeName(r)))
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	wid, _ := obj.GetString("writeback_id")
	cls, _ := obj.GetString("classification")
	cid, _ := obj.GetString("conflict_id")
	if want := ConflictID(wid, cls); cid != want {
		out = append(out, fmt.Sprintf("conflict_id %s does not match writeback_id and classification (%s)", pyjson.Repr(cid), want))
	}
	if cw, _ := cand.GetString("writeback_id"); cw != wid {
		out = append(out, fmt.Sprintf("candidate.writeback_id %s is not the record's writeback_id %s", pyjson.Repr(cw), pyjson.Repr(wid)))
	}
	return out
}
