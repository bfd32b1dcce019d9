package scene

import (
	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// schemaOne is the schema_version every body and manifest carries.
var schemaOne = pyjson.Int("1")

// bodyOptions is json.dumps(..., indent=2): ensure_ascii, no sort.
var bodyOptions = pyjson.Options{Indent: 2, EnsureASCII: true}

// parseObject is path.read_text(encoding="utf-8") + json.loads for a file
// that must hold a JSON object: invalid UTF-8, a BOM, invalid JSON or
// another value than an object is Corrupt.
func parseObject(what string, data []byte) (*pyjson.Object, error) {
	v, err := pyjson.Parse(data)
	if err != nil {
		return nil, settle.Wrap(settle.Corrupt, err, "%s is not valid JSON", what)
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.Corrupt, "%s is not a JSON object (got %s)", what, pyjson.TypeName(v))
	}
	return obj, nil
}

// checkSchemaVersion refuses (SchemaMismatch) a document whose
// schema_version is missing or not equal to 1 under Python's != (so 1.0
// and true pass, "1" does not); want is the version the message names.
func checkSchemaVersion(obj *pyjson.Object, what string, want int) error {
	sv, ok := obj.Get("schema_version")
	if !ok || !pyjson.Equal(sv, schemaOne) {
		got := "None"
		if ok {
			got = pyjson.Repr(sv)
		}
		return settle.Errorf(settle.SchemaMismatch,
			"%s schema_version mismatch: expected %d, got %s", what, want, got)
	}
	return nil
}

// DecodeBodyTree is the seed's _read_scene_dict on a body's bytes: the raw
// object with schema_version removed. Invalid UTF-8 or JSON, or a document
// that is not an object, is Corrupt; a schema_version that is missing or
// not equal to 1 under Python's != (so 1.0 and true pass, "1" does not) is
// SchemaMismatch.
func DecodeBodyTree(data []byte) (*pyjson.Object, error) {
	obj, err := parseObject("scene body", data)
	if err != nil {
		return nil, err
	}
	if err := checkSchemaVersion(obj, "scene body", SceneSchemaVersion); err != nil {
		return nil, err
	}
	obj.Delete("schema_version")
	return obj, nil
}

// DecodeBody is load_scene on a body's bytes: DecodeBodyTree and FromTree
// (a wrong type in a known field is Corrupt, see FromTree).
func DecodeBody(data []byte) (*Scene, error) {
	obj, err := DecodeBodyTree(data)
	if err != nil {
		return nil, err
	}
	return fromTree(obj, true)
}

// EncodeBody is save_scene's serialization: json.dumps({"schema_version":
// 1, **scene.to_dict()}, indent=2), byte-identical to the seed's for a
// scene without unknown members (the seed drops those; settle writes them
// after the known fields). InvalidInput when the scene holds a value that is
// not JSON.
func EncodeBody(sc *Scene) ([]byte, error) {
	if sc == nil {
		return nil, settle.Errorf(settle.InvalidInput, "encode scene body: nil scene")
	}
	return encodeBody(sc, 0)
}

// encodeBody is EncodeBody into a buffer of about sizeHint bytes (the
// size of the body it replaces, 0: unknown).
func encodeBody(sc *Scene, sizeHint int) ([]byte, error) {
	if sc == nil {
		return nil, settle.Errorf(settle.InvalidInput, "encode scene body: nil scene")
	}
	// The tree is only encoded: it may share the scene's values.
	return encodeBodyTree(sc.sharedTree(), sizeHint)
}

// EncodeBodyTree is the seed's _serialize_scene_dict for a raw scene object:
// json.dumps({"schema_version": 1, **d}, indent=2). schema_version is
// always 1 and first: a schema_version member of obj is not written (the
// seed's `**d` would let it replace the 1, writing a body it cannot read
// back). A body over settle.MaxJSONDepth, MaxBeats, MaxTakesPerBeat or
// MaxSceneBytes is InvalidInput naming the limit: the seed writes any depth,
// and a body deeper than json.load's recursion limit is one no Python tool
// can read back.
func EncodeBodyTree(obj *pyjson.Object) ([]byte, error) {
	return encodeBodyTree(obj, 0)
}

func encodeBodyTree(obj *pyjson.Object, sizeHint int) ([]byte, error) {
	if obj == nil {
		return nil, settle.Errorf(settle.InvalidInput, "encode scene body: nil object")
	}
	if err := checkBodyLimits(obj); err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode scene body")
	}
	var buf []byte
	if sizeHint > 0 {
		buf = make([]byte, 0, sizeHint+sizeHint/16+512)
	}
	return appendBodyTree(buf, obj)
}

// appendBodyTree appends the body of obj, whose limits are checked, to
// buf.
func appendBodyTree(buf []byte, obj *pyjson.Object) ([]byte, error) {
	w := pyjson.NewObjectSize(obj.Len() + 1)
	w.Set("schema_version", schemaOne)
	for _, k := range obj.Keys() {
		if k == "schema_version" {
			continue
		}
		v, _ := obj.Get(k)
		w.Set(k, v)
	}
	b, err := pyjson.AppendEncode(buf, w, bodyOptions)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode scene body")
	}
	if len(b) > settle.MaxSceneBytes {
		return nil, settle.Wrap(settle.InvalidInput, settle.LimitError("MaxSceneBytes", settle.MaxSceneBytes, "scene body of %d bytes", len(b)), "encode scene body")
	}
	return b, nil
}

// DecodeInput decodes a scene a caller supplies (a CLI file, a request
// body): a JSON object with or without the body wrapper's
// "schema_version" (which must then be 1), within settle.MaxSceneBytes
// and settle.MaxJSONDepth. Unlike DecodeBody, which reads
// stored files (Corrupt), a malformed input is InvalidInput.
func DecodeInput(data []byte) (*Scene, error) {
	v, err := settle.ParseInput(data, "MaxSceneBytes", settle.MaxSceneBytes)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "scene is not JSON")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "scene must be a JSON object")
	}
	if sv, ok := obj.Get("schema_version"); ok && !pyjson.Equal(sv, pyjson.Int("1")) {
		return nil, settle.Errorf(settle.SchemaMismatch, "scene schema_version %s, want 1", pyjson.Repr(sv))
	}
	sc, err := FromTree(obj)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "scene")
	}
	return sc, nil
}
