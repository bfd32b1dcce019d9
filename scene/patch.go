package scene

import (
	"bytes"
	"fmt"
	"math"

	jsonpatch "github.com/evanphx/json-patch/v5"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/pyjson"
)

// PatchCopyLimit bounds how many bytes "copy" operations may add to a
// document in one patch, so a short patch cannot blow a scene up
// exponentially.
const PatchCopyLimit = 16 << 20

// patchOptions: RFC 6902 strictly (no negative array indices, no implicit
// parents, a remove of a missing path fails), no HTML escaping.
func patchOptions() *jsonpatch.ApplyOptions {
	o := jsonpatch.NewApplyOptions()
	o.SupportNegativeIndices = false
	o.EnsurePathExistsOnAdd = false
	o.AllowMissingPathOnRemove = false
	o.AccumulatedCopySizeLimit = PatchCopyLimit
	o.EscapeHTML = false
	return o
}

// decodePatch decodes an RFC 6902 patch: a JSON array of operations, each
// with a known op, a string path, a value for add, replace and test and a
// string from for move and copy (EINVALID otherwise).
func decodePatch(patch []byte) (jsonpatch.Patch, error) {
	trimmed := bytes.TrimLeft(patch, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, settle.Errorf(settle.EINVALID, "json patch: not a JSON array of operations")
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "json patch")
	}
	for i, op := range p {
		if op.Kind() == "test" {
			if _, ok := op["value"]; !ok {
				return nil, settle.Errorf(settle.EINVALID, "json patch: operation %d: test without a value", i)
			}
		}
	}
	return p, nil
}

// ValidatePatch checks that patch is a well-formed RFC 6902 patch without
// applying it (EINVALID).
func ValidatePatch(patch []byte) error {
	_, err := decodePatch(patch)
	return err
}

// hasNonFinite reports whether a decoded value holds NaN or an infinity.
func hasNonFinite(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsNaN(x) || math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if hasNonFinite(e) {
				return true
			}
		}
	case *pyjson.Object:
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			if hasNonFinite(e) {
				return true
			}
		}
	}
	return false
}

// ApplyPatch applies an RFC 6902 JSON Patch to the scene's JSON (ToTree,
// without schema_version) and decodes the result as a scene; sc is not
// changed. A malformed patch, a failing operation (a test that fails, a
// missing path) or a result that is not a valid scene (FromTree's rules,
// or a top-level schema_version, which is not a scene field) is EINVALID
// with the reason.
//
// Values the patch does not touch keep their exact JSON text (number
// literals of any size or precision, escaped lone surrogates); values
// written by the patch are taken as the patch spells them. JSON Patch works
// on standard JSON, so a scene holding NaN or an infinity cannot be patched
// (EINVALID).
func ApplyPatch(sc *Scene, patch []byte) (*Scene, error) {
	if sc == nil {
		return nil, settle.Errorf(settle.EINVALID, "json patch: nil scene")
	}
	p, err := decodePatch(patch)
	if err != nil {
		return nil, err
	}
	tree := sc.ToTree()
	if hasNonFinite(tree) {
		return nil, settle.Errorf(settle.EINVALID,
			"json patch: the scene holds NaN or Infinity, which standard JSON (and so JSON Patch) cannot carry")
	}
	doc, err := tree.MarshalJSON()
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "json patch: encode scene")
	}
	out, err := applySafely(p, doc)
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "json patch")
	}
	v, err := pyjson.Parse(out)
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "json patch: result")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.EINVALID, "json patch: result is %s, not a scene object", typeName(v))
	}
	if obj.Has("schema_version") {
		return nil, settle.Errorf(settle.EINVALID, "json patch: schema_version is not a scene field")
	}
	res, err := FromTree(obj)
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "json patch: result is not a valid scene")
	}
	return res, nil
}

// applySafely runs the library, turning a panic on a hostile patch into an
// error.
func applySafely(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("patch could not be applied: %v", r)
		}
	}()
	return p.ApplyWithOptions(doc, patchOptions())
}
