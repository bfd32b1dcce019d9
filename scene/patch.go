package scene

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// PatchCopyLimit bounds how many bytes of JSON (roughly: compact
// encoding) the "copy" operations of one patch may add to a document, so
// that a short patch cannot blow a scene up exponentially.
const PatchCopyLimit = 16 << 20

// patchOp is one decoded operation. Paths and values are read with pyjson
// from the operation's raw JSON, so escapes and number literals are kept.
type patchOp struct {
	kind     string
	path     []string
	from     []string
	value    any
	hasValue bool
}

// decodePatch decodes an RFC 6902 patch: github.com/evanphx/json-patch
// checks that it is standard JSON, an array of operation objects each with
// a known op, a string path, a value for add and replace and a string from
// for move and copy; settle adds that test needs a value and that the
// pointers are RFC 6901 pointers, and that the patch is within
// settle.MaxPatchBytes, MaxJSONDepth and MaxPatchOps. InvalidInput with the
// reason otherwise.
func decodePatch(patch []byte) ([]patchOp, error) {
	if len(patch) > settle.MaxPatchBytes {
		return nil, settle.LimitError("MaxPatchBytes", settle.MaxPatchBytes, "json patch of %d bytes", len(patch))
	}
	// The library decodes with encoding/json, which allows 10000 levels:
	// the depth is checked first. Other syntax errors are left to the
	// library, whose messages the refusals carry.
	doc, perr := settle.ParseInput(patch, "MaxPatchBytes", settle.MaxPatchBytes)
	if settle.ErrorCode(perr) == settle.InvalidInput {
		return nil, settle.Wrap(settle.InvalidInput, perr, "json patch")
	}
	trimmed := bytes.TrimLeft(patch, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: not a JSON array of operations")
	}
	// The library answers every syntax error with "invalid state
	// detected": settle's own parser says what and where.
	if perr != nil {
		return nil, settle.Wrap(settle.InvalidInput, perr, "json patch: not valid JSON")
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: not a JSON array of operations")
	}
	for i, v := range list {
		o, ok := v.(*pyjson.Object)
		if !ok {
			return nil, settle.Errorf(settle.InvalidInput, "json patch: operation %d is %s, not an object", i, pyjson.TypeName(v))
		}
		op, _ := o.Get("op")
		if _, ok := op.(string); !ok {
			return nil, settle.Errorf(settle.InvalidInput, "json patch: operation %d has no \"op\" string", i)
		}
	}
	if ops, ok := decodeParsedPatch(patch, list); ok {
		return ops, nil
	}
	p, err := jsonpatch.DecodePatch(patch)
	if errors.Is(err, jsonpatch.ErrInvalid) {
		// pyjson took it; only Python's extensions remain (NaN, Infinity).
		return nil, settle.Errorf(settle.InvalidInput, "json patch: not standard JSON (NaN or Infinity)")
	}
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "json patch")
	}
	if len(p) > settle.MaxPatchOps {
		return nil, settle.LimitError("MaxPatchOps", settle.MaxPatchOps, "json patch of %d operations", len(p))
	}
	ops := make([]patchOp, len(p))
	for i, raw := range p {
		op := &ops[i]
		op.kind = raw.Kind()
		var err error
		if op.path, err = rawPointer(raw, "path"); err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "json patch: operation %d", i)
		}
		switch op.kind {
		case "move", "copy":
			if op.from, err = rawPointer(raw, "from"); err != nil {
				return nil, settle.Wrap(settle.InvalidInput, err, "json patch: operation %d", i)
			}
		case "add", "replace", "test":
			rv, ok := raw["value"]
			if !ok {
				return nil, settle.Errorf(settle.InvalidInput, "json patch: operation %d (%s) has no value", i, op.kind)
			}
			op.hasValue = true
			if rv != nil { // the library decodes null as a nil message
				if op.value, err = pyjson.Parse(*rv); err != nil {
					return nil, settle.Wrap(settle.InvalidInput, err, "json patch: operation %d value", i)
				}
			}
		}
	}
	return ops, nil
}

// decodeParsedPatch is the rest of decodePatch on the parsed operations
// of a patch that the library would take as it is: every operation with
// its members well-formed, and no NaN or Infinity anywhere. ok is false
// for any other patch, which the library then decodes (its refusals are
// the messages a client sees).
func decodeParsedPatch(patch []byte, list []any) ([]patchOp, bool) {
	if len(list) > settle.MaxPatchOps || bytes.Contains(patch, []byte("NaN")) || bytes.Contains(patch, []byte("Infinity")) {
		return nil, false
	}
	pointer := func(o *pyjson.Object, key string) ([]string, bool) {
		s, ok := o.GetString(key)
		if !ok {
			return nil, false
		}
		p, err := splitPointer(s)
		return p, err == nil
	}
	ops := make([]patchOp, len(list))
	for i, v := range list {
		o := v.(*pyjson.Object)
		op := &ops[i]
		op.kind, _ = o.GetString("op")
		var ok bool
		if op.path, ok = pointer(o, "path"); !ok {
			return nil, false
		}
		switch op.kind {
		case "move", "copy":
			if op.from, ok = pointer(o, "from"); !ok {
				return nil, false
			}
		case "add", "replace", "test":
			if op.value, op.hasValue = o.Get("value"); !op.hasValue {
				return nil, false
			}
		case "remove":
		default:
			return nil, false
		}
	}
	return ops, true
}

// rawPointer reads and splits the JSON Pointer member key of an operation.
func rawPointer(op jsonpatch.Operation, key string) ([]string, error) {
	raw, ok := op[key]
	if !ok || raw == nil {
		return nil, fmt.Errorf("missing %s", key)
	}
	v, err := pyjson.Parse(*raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s is not a string", key)
	}
	return splitPointer(s)
}

// splitPointer splits an RFC 6901 JSON Pointer into its unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return []string{}, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("pointer %q does not start with '/'", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		if !strings.Contains(part, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(part); j++ {
			if part[j] != '~' {
				b.WriteByte(part[j])
				continue
			}
			if j+1 >= len(part) || (part[j+1] != '0' && part[j+1] != '1') {
				return nil, fmt.Errorf("bad escape in pointer %q", p)
			}
			if part[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		parts[i] = b.String()
	}
	return parts, nil
}

// ValidatePatch checks that patch is a well-formed RFC 6902 patch without
// applying it (InvalidInput).
func ValidatePatch(patch []byte) error {
	_, err := decodePatch(patch)
	return err
}

// ApplyPatch applies an RFC 6902 JSON Patch to the scene's JSON (ToTree,
// without schema_version) and decodes the result as a scene; sc is not
// changed. A malformed patch, a failing operation (a test that fails, a
// missing path, an array index out of range or not in RFC 6901 form) or a
// result that is not a valid scene (FromTree's rules, or a top-level
// schema_version, which is not a scene field) is InvalidInput with the reason,
// and so is a result over the limits of a scene body (checkBodyLimits).
//
// The patch itself is decoded and checked by github.com/evanphx/json-patch
// (it must be standard JSON). Its operations are applied by settle on the
// decoded tree, strictly as RFC 6902 says, because the library's own
// application departs from the RFC where status writes notice: its test
// compares number spellings (3 is not 3.0 to it) and it reads "01" or "-0"
// as array indices. Applying on the tree also keeps every value the patch
// does not touch exactly as it was (number literals of any size or
// precision, lone surrogates, NaN and Infinity), and the values the patch
// writes exactly as it spells them. test compares as RFC 6902 §4.6: types
// must match (true is not 1), numbers by value, objects as unordered sets.
func ApplyPatch(sc *Scene, patch []byte) (*Scene, error) {
	if sc == nil {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: nil scene")
	}
	ops, err := decodePatch(patch)
	if err != nil {
		return nil, err
	}
	res, err := applyOps(sc.ToTree(), ops, true, nil)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// applyPatchOps is ApplyPatch of decoded operations, sharing with sc every
// value the patch does not change (the operations copy the containers
// along the paths they write): sc must not be changed while the result
// is in use, nor the result while sc is.
func applyPatchOps(sc *Scene, ops []patchOp) (*Scene, error) {
	if sc == nil {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: nil scene")
	}
	// A beat whose object no operation copied (to change it) is the
	// scene's beat as it was: the result takes it without decoding it.
	// When every operation points inside beats it names by index, the
	// others are never looked into: each is an empty object standing for
	// it, not its tree.
	touched, inside := beatsInside(ops, len(sc.Beats))
	beats := make([]any, len(sc.Beats))
	reuse := make(map[*pyjson.Object]*Beat, len(sc.Beats))
	for i, b := range sc.Beats {
		var bo *pyjson.Object
		if inside && !touched[i] {
			bo = pyjson.NewObject()
		} else {
			bo = b.toTree(shareValue)
		}
		beats[i] = bo
		reuse[bo] = b
	}
	tree := sc.toTreeBeats(shareValue, beats)
	// The body limits are checked when the result is encoded.
	return applyOps(tree, ops, false, reuse)
}

// beatsInside returns the beats of a scene of n beats whose contents ops
// read or write, with ok=true when each operation's pointers (path, and
// from for move and copy) all lie inside a beat named by its index
// (/beats/N/...): then no operation looks into, adds, moves or removes
// any other beat.
func beatsInside(ops []patchOp, n int) (map[int]bool, bool) {
	touched := map[int]bool{}
	for _, op := range ops {
		ptrs := [][]string{op.path}
		if op.kind == "move" || op.kind == "copy" {
			ptrs = append(ptrs, op.from)
		}
		for _, p := range ptrs {
			if len(p) < 3 || p[0] != "beats" {
				return nil, false
			}
			i, ok := beatIndex(p[1], n)
			if !ok {
				return nil, false
			}
			touched[i] = true
		}
	}
	return touched, true
}

// beatIndex is an RFC 6901 array index below n: "0" or digits without a
// leading zero.
func beatIndex(tok string, n int) (int, bool) {
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	i := 0
	for _, c := range []byte(tok) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, i < n
}

// applyOps applies ops to doc, the tree of a scene, and decodes the
// result (fromTreeReusing); limits checks the result against the body
// limits first.
func applyOps(doc any, ops []patchOp, limits bool, reuse map[*pyjson.Object]*Beat) (*Scene, error) {
	var err error
	copied := 0
	for i, op := range ops {
		if doc, err = applyOp(doc, op, &copied); err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "json patch: operation %d (%s)", i, op.kind)
		}
	}
	obj, ok := doc.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: result is %s, not a scene object", pyjson.TypeName(doc))
	}
	if obj.Has("schema_version") {
		return nil, settle.Errorf(settle.InvalidInput, "json patch: schema_version is not a scene field")
	}
	if limits {
		if err := checkBodyLimits(obj); err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "json patch: result")
		}
	}
	res, err := fromTreeReusing(obj, true, reuse)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "json patch: result is not a valid scene")
	}
	return res, nil
}

var errTestFailed = errors.New("test failed")

func applyOp(doc any, op patchOp, copied *int) (any, error) {
	switch op.kind {
	case "add":
		return pointerAdd(doc, op.path, pyjson.DeepCopy(op.value))
	case "remove":
		doc, _, err := pointerRemove(doc, op.path)
		return doc, err
	case "replace":
		return pointerReplace(doc, op.path, pyjson.DeepCopy(op.value))
	case "move":
		if !tokensEqual(op.from, op.path) && isPrefix(op.from, op.path) {
			return nil, fmt.Errorf("cannot move a value into one of its children")
		}
		if _, err := pointerGet(doc, op.from); err != nil {
			return nil, err
		}
		if tokensEqual(op.from, op.path) {
			return doc, nil
		}
		doc, v, err := pointerRemove(doc, op.from)
		if err != nil {
			return nil, err
		}
		return pointerAdd(doc, op.path, v)
	case "copy":
		v, err := pointerGet(doc, op.from)
		if err != nil {
			return nil, err
		}
		if *copied += jsonSize(v); *copied > PatchCopyLimit {
			return nil, fmt.Errorf("copy operations would add more than %d bytes", PatchCopyLimit)
		}
		return pointerAdd(doc, op.path, pyjson.DeepCopy(v))
	case "test":
		v, err := pointerGet(doc, op.path)
		if err != nil {
			return nil, err
		}
		if !rfcEqual(v, op.value) {
			return nil, errTestFailed
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.kind)
}

func tokensEqual(a, b []string) bool {
	return len(a) == len(b) && isPrefix(a, b)
}

// isPrefix reports whether p is a prefix of path.
func isPrefix(p, path []string) bool {
	if len(p) > len(path) {
		return false
	}
	for i := range p {
		if p[i] != path[i] {
			return false
		}
	}
	return true
}

// arrayIndex reads an RFC 6901 array index of an array of length n: "0"
// or digits without a leading zero, below n (at most n, or "-" for n, when
// end is allowed).
func arrayIndex(tok string, n int, end bool) (int, error) {
	if end && tok == "-" {
		return n, nil
	}
	if tok == "" || len(tok) > 18 || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("bad array index %q", tok)
	}
	i := 0
	for _, c := range []byte(tok) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad array index %q", tok)
		}
		i = i*10 + int(c-'0')
	}
	limit := n - 1
	if end {
		limit = n
	}
	if i > limit {
		return 0, fmt.Errorf("array index %d out of range", i)
	}
	return i, nil
}

// pointerGet returns the value at tokens.
func pointerGet(doc any, tokens []string) (any, error) {
	cur := doc
	for _, tok := range tokens {
		switch n := cur.(type) {
		case *pyjson.Object:
			v, ok := n.Get(tok)
			if !ok {
				return nil, fmt.Errorf("member %q missing", tok)
			}
			cur = v
		case []any:
			i, err := arrayIndex(tok, len(n), false)
			if err != nil {
				return nil, err
			}
			cur = n[i]
		default:
			return nil, fmt.Errorf("path goes through a %s at %q", pyjson.TypeName(cur), tok)
		}
	}
	return cur, nil
}

// withParent runs fn on the container that holds the last token and
// stores the (possibly new) container back into the document; it returns
// the new document. Every container along the path is copied (shallowly)
// before it is changed, the parent given to fn too: an operation never
// changes a container in place, so a tree may share its values with the
// scene it was made from.
func withParent(doc any, tokens []string, fn func(parent any, last string) (any, error)) (any, error) {
	switch n := doc.(type) {
	case *pyjson.Object:
		doc = n.ShallowClone()
	case []any:
		doc = append([]any(nil), n...)
	}
	if len(tokens) == 1 {
		return fn(doc, tokens[0])
	}
	tok := tokens[0]
	switch n := doc.(type) {
	case *pyjson.Object:
		child, ok := n.Get(tok)
		if !ok {
			return nil, fmt.Errorf("path member %q missing", tok)
		}
		nc, err := withParent(child, tokens[1:], fn)
		if err != nil {
			return nil, err
		}
		n.Set(tok, nc)
		return n, nil
	case []any:
		i, err := arrayIndex(tok, len(n), false)
		if err != nil {
			return nil, err
		}
		nc, err := withParent(n[i], tokens[1:], fn)
		if err != nil {
			return nil, err
		}
		n[i] = nc
		return n, nil
	}
	return nil, fmt.Errorf("path goes through a %s at %q", pyjson.TypeName(doc), tok)
}

func pointerAdd(doc any, tokens []string, v any) (any, error) {
	if len(tokens) == 0 {
		return v, nil
	}
	return withParent(doc, tokens, func(parent any, last string) (any, error) {
		switch n := parent.(type) {
		case *pyjson.Object:
			n.Set(last, v)
			return n, nil
		case []any:
			i, err := arrayIndex(last, len(n), true)
			if err != nil {
				return nil, err
			}
			out := make([]any, 0, len(n)+1)
			out = append(out, n[:i]...)
			out = append(out, v)
			return append(out, n[i:]...), nil
		}
		return nil, fmt.Errorf("cannot add into a %s", pyjson.TypeName(parent))
	})
}

func pointerRemove(doc any, tokens []string) (any, any, error) {
	if len(tokens) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the document root")
	}
	var removed any
	doc, err := withParent(doc, tokens, func(parent any, last string) (any, error) {
		switch n := parent.(type) {
		case *pyjson.Object:
			v, ok := n.Get(last)
			if !ok {
				return nil, fmt.Errorf("member %q missing", last)
			}
			removed = v
			n.Delete(last)
			return n, nil
		case []any:
			i, err := arrayIndex(last, len(n), false)
			if err != nil {
				return nil, err
			}
			removed = n[i]
			out := make([]any, 0, len(n)-1)
			out = append(out, n[:i]...)
			return append(out, n[i+1:]...), nil
		}
		return nil, fmt.Errorf("cannot remove from a %s", pyjson.TypeName(parent))
	})
	return doc, removed, err
}

func pointerReplace(doc any, tokens []string, v any) (any, error) {
	if _, err := pointerGet(doc, tokens); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return v, nil
	}
	return withParent(doc, tokens, func(parent any, last string) (any, error) {
		switch n := parent.(type) {
		case *pyjson.Object:
			n.Set(last, v) // the member keeps its position
			return n, nil
		case []any:
			i, err := arrayIndex(last, len(n), false)
			if err != nil {
				return nil, err
			}
			n[i] = v
			return n, nil
		}
		return nil, fmt.Errorf("cannot replace in a %s", pyjson.TypeName(parent))
	})
}

// rfcEqual is RFC 6902 §4.6 equality (see jsonEqual).
func rfcEqual(a, b any) bool { return jsonEqual(a, b, eqRFC) }

// jsonSize is about the length of v's compact JSON.
func jsonSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case pyjson.Int:
		return len(x)
	case []any:
		n := 2
		for _, e := range x {
			n += jsonSize(e) + 1
		}
		return n
	case *pyjson.Object:
		n := 2
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			n += len(k) + 4 + jsonSize(e)
		}
		return n
	}
	return 5
}
