package writeback

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// ExtractOptions are the caller's inputs to Extract besides the verdict
// file's bytes (the seed's extract_binding_from_source keyword arguments).
type ExtractOptions struct {
	// BatchID is the batch the verdict is written back for.
	BatchID string
	// TrackID, when not empty, overrides the file's track (the seed's
	// track_id argument; "" means None).
	TrackID string
	// ExecutorKey, when not empty, overrides the file's executor key (the
	// seed's executor_key argument; "" means None).
	ExecutorKey string
	// Root is the workspace root exactly as configured (not resolved: the
	// seed compares the resolved source path with the unresolved root).
	Root string
	// SourcePath is the verdict file's path, absolute and with symlinks
	// resolved by the caller (the seed's Path(p).resolve()).
	SourcePath string
	// SourcePathAsGiven is the path as the caller named it; it becomes
	// source_result_path when SourcePath is not under Root. "" means
	// SourcePath.
	SourcePathAsGiven string
	// Config supplies the configured collector keys for the configured-key
	// fallback.
	Config Config
}

// Extract parses a verdict file and extracts its write-back binding, as
// the seed's extract_binding_from_source does: every fallback between the
// top-level fields, four_tuple_record and batch_coordinator_integration,
// task id normalization, key stripping, the configured-key fallback,
// derived dispatch and collector-cron ids with their *_source provenance,
// and the self-session flags.
//
// Where the seed would raise (invalid UTF-8 or JSON, a top level that is
// not an object, a truthy four_tuple_record or batch_coordinator_integration
// that is not an object, a key that starts with "("), Extract returns an
// InvalidInput error, and so does a verdict over settle.MaxVerdictBytes or
// MaxJSONDepth or a binding over CheckBindingLimits. It does no I/O.
func Extract(data []byte, opt ExtractOptions) (Binding, error) {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return Binding{}, settle.Errorf(settle.InvalidInput, "verdict file: unexpected UTF-8 byte order mark")
	}
	doc, err := settle.ParseInput(data, "MaxVerdictBytes", settle.MaxVerdictBytes)
	if err != nil {
		return Binding{}, settle.Wrap(settle.InvalidInput, err, "verdict file")
	}
	top, ok := doc.(*pyjson.Object)
	if !ok {
		return Binding{}, settle.Errorf(settle.InvalidInput, "verdict file: top level is %s, not an object", typeName(doc))
	}
	get := func(o *pyjson.Object, k string) any {
		v, _ := o.Get(k)
		return v
	}
	four, err := subObject(top, "four_tuple_record")
	if err != nil {
		return Binding{}, err
	}
	bci, err := subObject(top, "batch_coordinator_integration")
	if err != nil {
		return Binding{}, err
	}

	taskID := normalizeTaskID(firstStr(get(top, "task_id"), get(top, "task")))
	track := firstStr(optStr(opt.TrackID), get(top, "track"), get(top, "track_id"))
	if track == "" {
		track = UnknownTrack
	}
	verdict := firstStr(get(top, "authoritative_verdict"), get(top, "verdict"))

	collectorKey, err := stripKey(firstStr(
		get(four, "collector_key"),
		get(top, "collector_owner_key"),
		get(top, "collector_key"),
	))
	if err != nil {
		return Binding{}, settle.Wrap(settle.InvalidInput, err, "verdict file: collector key")
	}
	if collectorKey == "" {
		// The seed's configured-key fallback: only for an explicit
		// collector_role "ANU" whose executor_self_collector is
		// `in (False, None)` (missing, null, false or a numeric zero).
		esc, _ := top.Get("executor_self_collector")
		if firstStr(get(top, "collector_role")) == "ANU" && (esc == nil || pyjson.Equal(esc, false)) {
			collectorKey = firstSortedKey(opt.Config.CollectorKeys)
		}
	}

	role := firstStr(get(four, "collector_role"), get(top, "collector_role"))
	if role == "" {
		role = "ANU"
	}

	execKey, err := stripKey(firstStr(
		optStr(opt.ExecutorKey),
		get(four, "executor_key"),
		get(top, "executor_key"),
	))
	if err != nil {
		return Binding{}, settle.Wrap(settle.InvalidInput, err, "verdict file: executor key")
	}

	chatID := firstStr(get(four, "chat_id"), get(top, "chat_id"), get(bci, "chat_id"))

	disp := firstStr(
		get(four, "dispatch_cron_id"),
		get(four, "dispatch_id"),
		get(top, "dispatch_cron_id"),
		get(top, "dispatch_id"),
	)
	dispSrc := "source_recorded"
	if disp == "" {
		disp = DerivedDispatchPrefix + taskID
		dispSrc = "derived_from_task_id"
	}

	ncc := firstStr(get(four, "normal_collector_cron_id"), get(top, "normal_collector_cron_id"))
	nccSrc := "source_recorded"
	if ncc == "" {
		ncc = "ANU-normal-callback:" + collectorKey
		nccSrc = "derived_from_collector_key"
	}

	var fb *string
	if s := firstStr(get(four, "fallback_callback_cron_id"), get(top, "fallback_callback_cron_id")); s != "" {
		fb = &s
	}

	completedAt := firstStr(get(top, "ts_kst"), get(top, "completed_at"), get(four, "ts_kst"))

	selfSession := pyjson.Truthy(get(top, "executor_self_collector")) ||
		pyjson.Truthy(get(top, "session_is_executor_self")) ||
		pyjson.Truthy(get(top, "executor_self_chain_authoritative"))

	asGiven := opt.SourcePathAsGiven
	if asGiven == "" {
		asGiven = opt.SourcePath
	}

	b := Binding{
		TaskID:                      taskID,
		TrackID:                     track,
		DispatchID:                  disp,
		DispatchIDSource:            dispSrc,
		NormalCollectorCronID:       ncc,
		NormalCollectorCronIDSource: nccSrc,
		CollectorKey:                collectorKey,
		CollectorRole:               role,
		AuthoritativeVerdict:        verdict,
		TerminalStatus:              StatusCompleted,
		CompletedAt:                 completedAt,
		SourceResultPath:            RelPath(opt.Root, opt.SourcePath, asGiven),
		BatchID:                     opt.BatchID,
		ExecutorKey:                 execKey,
		ChatID:                      chatID,
		FallbackCallbackCronID:      fb,
		SessionIsExecutorSelf:       selfSession,
	}
	if err := checkUTF8(&b); err != nil {
		return Binding{}, err
	}
	if err := CheckBindingLimits(&b); err != nil {
		return Binding{}, settle.Wrap(settle.InvalidInput, err, "verdict file")
	}
	return b, nil
}

// checkUTF8 refuses a binding with a string that is not valid UTF-8: a
// lone surrogate from a \uD800-style escape, or invalid bytes in an
// option. The seed cannot hash or write such a binding either (its
// writeback_id and its ledger append raise UnicodeEncodeError); refusing it
// here keeps every record settle writes valid UTF-8.
func checkUTF8(b *Binding) error {
	for _, f := range [...]struct{ name, v string }{
		{"task_id", b.TaskID}, {"track_id", b.TrackID}, {"dispatch_id", b.DispatchID},
		{"normal_collector_cron_id", b.NormalCollectorCronID}, {"collector_key", b.CollectorKey},
		{"collector_role", b.CollectorRole}, {"authoritative_verdict", b.AuthoritativeVerdict},
		{"completed_at", b.CompletedAt}, {"source_result_path", b.SourceResultPath},
		{"batch_id", b.BatchID}, {"executor_key", b.ExecutorKey}, {"chat_id", b.ChatID},
	} {
		if !utf8.ValidString(f.v) {
			return settle.Errorf(settle.InvalidInput, "verdict file: %s %s is not valid UTF-8 (a lone surrogate or an invalid byte)", f.name, pyjson.Repr(f.v))
		}
	}
	if fb := b.FallbackCallbackCronID; fb != nil && !utf8.ValidString(*fb) {
		return settle.Errorf(settle.InvalidInput, "verdict file: fallback_callback_cron_id %s is not valid UTF-8 (a lone surrogate or an invalid byte)", pyjson.Repr(*fb))
	}
	return nil
}

// subObject returns `data.get(key) or {}` and refuses a truthy value that
// is not an object (the seed would crash calling .get on it).
func subObject(top *pyjson.Object, key string) (*pyjson.Object, error) {
	v, _ := top.Get(key)
	if !pyjson.Truthy(v) {
		return nil, nil
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "verdict file: %s is %s, not an object", key, typeName(v))
	}
	return o, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case pyjson.Int, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case *pyjson.Object:
		return "an object"
	}
	return "an unsupported value"
}

// optStr maps an optional string argument to the seed's Optional[str].
func optStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// firstStr is the seed's _first_str: the first value that is a string with
// something other than whitespace in it, stripped; "" when there is none.
func firstStr(vals ...any) string {
	for _, v := range vals {
		if s, ok := v.(string); ok {
			if t := pyjson.Strip(s); t != "" {
				return t
			}
		}
	}
	return ""
}

// normalizeTaskID is the seed's _normalize_task_id:
// "task-2553+50 (TRACK 1 — ...)" -> "task-2553+50".
func normalizeTaskID(raw string) string {
	tid := pyjson.Strip(raw)
	for _, sep := range []string{" ", "\t", "("} {
		if i := strings.Index(tid, sep); i >= 0 {
			tid = pyjson.Strip(tid[:i])
		}
	}
	return tid
}

// stripKey is the seed's _strip_key: "7943afbe12c12f7d (self-chain, ...)"
// -> "7943afbe12c12f7d". Where the seed raises IndexError (nothing but
// whitespace before the first "("), it returns an error.
func stripKey(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	head := raw
	if i := strings.IndexByte(raw, '('); i >= 0 {
		head = raw[:i]
	}
	f := pyjson.Fields(firstStr(head))
	if len(f) == 0 {
		return "", settle.Errorf(settle.InvalidInput, "key %s has nothing before its '('", pyjson.Repr(raw))
	}
	return f[0], nil
}

// firstSortedKey is next(iter(sorted(keys)), "").
func firstSortedKey(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	s := append([]string(nil), keys...)
	sort.Strings(s) // UTF-8 byte order is code point order
	return s[0]
}

// purePath is a parsed Python PurePosixPath: its root ("", "/" or "//")
// and its parts without "" and "." (".." is kept, as pathlib does).
type purePath struct {
	root  string
	parts []string
}

func parsePurePath(p string) purePath {
	var pp purePath
	if strings.HasPrefix(p, "/") {
		rest := strings.TrimLeft(p, "/")
		if len(p)-len(rest) == 2 {
			pp.root = "//"
		} else {
			pp.root = "/"
		}
		p = rest
	}
	for _, x := range strings.Split(p, "/") {
		if x != "" && x != "." {
			pp.parts = append(pp.parts, x)
		}
	}
	return pp
}

func (pp purePath) String() string {
	if pp.root == "" && len(pp.parts) == 0 {
		return "."
	}
	return pp.root + strings.Join(pp.parts, "/")
}

// PythonPath returns str(PurePosixPath(p)): repeated and trailing slashes
// and "." components removed (but not ".."), "" as ".", and a leading "//"
// kept as POSIX allows.
func PythonPath(p string) string {
	if p != "" && p != "." && strings.IndexByte(p, '/') < 0 {
		return p // one component: nothing to remove
	}
	return parsePurePath(p).String()
}

// RelPath is the seed's _relpath for a source path: resolved (absolute,
// symlinks resolved) relative to root computed lexically as Python's
// PurePath.relative_to, or, when it is not under root (or root is
// relative), str(Path(asGiven)).
func RelPath(root, resolved, asGiven string) string {
	if strings.HasPrefix(root, "/") && !strings.HasPrefix(resolved, "/") {
		// A relative path is never under an absolute root (the server's
		// "api:verdict-sha256:…" source of every verdict it is sent).
		return PythonPath(asGiven)
	}
	r := parsePurePath(root)
	p := parsePurePath(resolved)
	if rel, ok := relativeTo(p, r); ok {
		return rel.String()
	}
	return PythonPath(asGiven)
}

// relativeTo is PurePath.relative_to for POSIX paths.
func relativeTo(p, root purePath) (purePath, bool) {
	if root.root == "" && len(root.parts) == 0 {
		// relative_to(".") succeeds only for a relative path.
		if p.root != "" {
			return purePath{}, false
		}
		return purePath{parts: p.parts}, true
	}
	if p.root != root.root || len(p.parts) < len(root.parts) {
		return purePath{}, false
	}
	for i, x := range root.parts {
		if p.parts[i] != x {
			return purePath{}, false
		}
	}
	return purePath{parts: p.parts[len(root.parts):]}, true
}

// LedgerPathAllowed is the seed's §9 allowlist check for a write target
// (_assert_ledger_allowlisted), with the configured root in place of the
// seed's hard-coded one: the ledger must be <root>/DefaultLedgerRelPath or
// a file named like it. resolved and asGiven are as for RelPath. It
// returns an PathRefused error otherwise.
func LedgerPathAllowed(root, resolved, asGiven string) error {
	rel := RelPath(root, resolved, asGiven)
	name := DefaultLedgerRelPath[strings.LastIndexByte(DefaultLedgerRelPath, '/')+1:]
	pp := parsePurePath(asGiven)
	base := ""
	if len(pp.parts) > 0 {
		base = pp.parts[len(pp.parts)-1]
	}
	if rel != DefaultLedgerRelPath && base != name {
		return settle.Errorf(settle.PathRefused,
			"write-back target %s is not the allowlisted append-only ledger %s (nor a %s-named isolated ledger)",
			pyjson.Repr(rel), pyjson.Repr(DefaultLedgerRelPath), pyjson.Repr(name))
	}
	return nil
}
