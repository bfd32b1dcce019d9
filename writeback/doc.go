// Package writeback is the pure domain of settle's durable-success
// write-back ledger: binding extraction from a collector's verdict file, the
// fail-closed evaluation pipeline, the batch settle evaluator, the callback
// 4-tuple registry's validation and classification, the authoritative
// verdict selector and the guards. It is a port of the seed module
// batch_settle_writeback.py and the modules it imports (see
// docs/ledger.md: the verdict file, the records, the decisions).
//
// Nothing here does I/O: stores (package file, package postgres, the HTTP
// client) implement Store and give the evaluator a View of their index.
//
// # Flow
//
// A caller reads a verdict file and resolves its path, then:
//
//	b, err := Extract(data, ExtractOptions{...})  // InvalidInput where the seed crashes
//	d := Evaluate(WritebackRequest{Binding: b}, cfg, view)
//	if ShouldApply(&d) {
//		mirror, problems := MirrorRecord(d.DurableRecord, cfg)
//		// append EncodeLine(d.DurableRecord) and, if problems is empty,
//		// EncodeLine(&mirror), in one write and one fsync
//		MarkApplied(&d, problems)
//	} else {
//		MarkNotApplied(&d)
//		// a refusal: append EncodeLine(NewConflict(...)) once per ConflictID
//	}
//
// and Settle(batch, tracks, thisTrack, view.LatestFunc(batch)) evaluates a
// batch. MemView is the in-memory index every store can use as its View.
//
// # Ledger lines
//
// One JSON object per line, "\n"-terminated, UTF-8. EncodeLine writes
// Python's json.dumps(rec, ensure_ascii=False, sort_keys=True) byte for
// byte, except that U+0085, U+2028, U+2029 and lone surrogates are written
// as \uXXXX escapes: the seed's readers split lines with str.splitlines()
// and cannot write a lone surrogate, so such a record written raw would be
// split or unreadable; the escaped line reads back as the same string in
// Python. AppendLine writes the same bytes into a caller's buffer (a group
// commit can encode its records straight into the data it writes, without
// an allocation per line). DecodeLine reads a line as the seed's readers
// do (Python strip, then json.loads), skipping lines that are not objects
// of one of the three ledger schemas (the seed crashes on a valid
// non-object line such as [1,2]).
//
// # Differences from the seed
//
// The seed's defects are not copied: where it raises (a verdict that is not
// an object, a truthy four_tuple_record or batch_coordinator_integration
// that is not an object, a key starting with "(", invalid JSON or UTF-8),
// Extract returns InvalidInput; a binding with a string that is not valid UTF-8
// (a lone surrogate escape) is refused by Extract too, since the seed can
// neither hash (writeback_id) nor write it.
//
// A binding given directly (the library, the HTTP API, the Go client), not
// extracted from a verdict file, is held to what Extract guarantees: its
// terminal_status must be COMPLETED. The seed writes any status as a
// durable success with a COMPLETED registry mirror, so a FAILED task
// classifies as NORMAL_CALLBACK_COMPLETED, never settles its track, and
// every later verdict for it is an idempotent skip (writeback_id does not
// cover terminal_status). Evaluate instead refuses such a binding as a
// FAIL WRITEBACK_BINDING_CONFLICT with its candidate, after the self-chain
// checks and before the idempotency check, so the refusal is recorded once
// as a writeback_conflict.v1 record and a later COMPLETED write-back of
// the same task is still written.
//
// A record field that is missing or not a string reads as "". Where the
// seed compares raw values, MemView keeps its answers exact: a durable
// record whose identity field is missing or not a string is not found by
// identity, a registry record without a string task_id is nobody's
// history, and Latest keys a record by Python's str() of its track_id
// ("None" when missing). What remains lenient concerns lines settle never
// writes: an idempotent skip returns the ledger record with every field
// (a missing one as ""), the same-identity check of a record whose
// identity field is not a string compares "" instead of its str(), and the
// binding guard compares a registry record's missing chat_id as "" (equal
// to the candidate's only when neither the verdict nor DefaultChatID names
// a chat id, so DefaultChatID should not be empty).
package writeback
