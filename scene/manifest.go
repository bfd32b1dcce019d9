package scene

import (
	"fmt"
	"math"
	"strconv"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// manifestOptions is the reference atomic_write_json: json.dumps(m,
// indent=2, sort_keys=True).
var manifestOptions = pyjson.Options{Indent: 2, SortKeys: true, EnsureASCII: true}

// DecodeManifest is the seed's load_manifest on the manifest's bytes for
// the requested batch. In the seed's order: invalid UTF-8 or JSON, or not
// an object, is Corrupt; a schema_version that is missing or not 1 (Python
// !=) is SchemaMismatch; a batch_id other than batch is ManifestIdentity. Then,
// stricter than the seed, the shape is checked (Corrupt): active_version
// an int; versions a list of objects, each with an int version and a str
// artifact, and a str structure_fingerprint and reason, a str or null
// created_at when present. Unknown members are not kept.
func DecodeManifest(data []byte, batch string) (*Manifest, error) {
	obj, err := parseObject("versions manifest", data)
	if err != nil {
		return nil, err
	}
	if err := checkSchemaVersion(obj, "versions manifest", ManifestSchemaVersion); err != nil {
		return nil, err
	}
	bv, _ := obj.Get("batch_id")
	if bs, ok := bv.(string); !ok || bs != batch {
		return nil, settle.Errorf(settle.ManifestIdentity,
			"manifest identity mismatch: manifest batch_id %s != requested %s", pyjson.Repr(bv), pyjson.Repr(batch))
	}
	m := &Manifest{SchemaVersion: ManifestSchemaVersion, BatchID: batch, Versions: []ManifestEntry{}}
	av, ok := obj.Get("active_version")
	if m.ActiveVersion, err = manifestInt("active_version", av, ok); err != nil {
		return nil, err
	}
	vv, ok := obj.Get("versions")
	list, isList := vv.([]any)
	if ok && !isList {
		return nil, settle.Errorf(settle.Corrupt, "manifest versions: expected list, got %s", pyjson.TypeName(vv))
	}
	for i, ev := range list {
		path := "manifest versions[" + strconv.Itoa(i) + "]"
		eo, ok := ev.(*pyjson.Object)
		if !ok {
			return nil, settle.Errorf(settle.Corrupt, "%s: expected dict, got %s", path, pyjson.TypeName(ev))
		}
		var e ManifestEntry
		v, ok := eo.Get("version")
		if e.Version, err = manifestInt(path+".version", v, ok); err != nil {
			return nil, err
		}
		r := &reader{obj: eo, path: path}
		e.Artifact = r.requiredString("artifact")
		e.StructureFingerprint = r.stringDefault("structure_fingerprint", "")
		e.CreatedAt = r.optString("created_at")
		e.Reason = r.stringDefault("reason", "")
		if r.err != nil {
			return nil, r.err
		}
		m.Versions = append(m.Versions, e)
	}
	return m, nil
}

// manifestInt reads an int member (not a bool, not a float) that fits int.
func manifestInt(path string, v any, present bool) (int, error) {
	n, ok := v.(pyjson.Int)
	if !ok {
		return 0, shapeError(path, "int", v, present)
	}
	i, err := strconv.ParseInt(string(n), 10, 0)
	if err != nil || i > math.MaxInt || i < math.MinInt {
		return 0, settle.Errorf(settle.Corrupt, "%s: int %s out of range", path, n)
	}
	return int(i), nil
}

// EncodeManifest is the reference atomic_write_json's serialization of the
// manifest: json.dumps(m, indent=2, sort_keys=True), byte-identical to the
// reference for the same manifest.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if m == nil {
		return nil, settle.Errorf(settle.InvalidInput, "encode manifest: nil manifest")
	}
	o := pyjson.NewObject()
	o.Set("schema_version", pyjson.Int(strconv.Itoa(m.SchemaVersion)))
	o.Set("batch_id", m.BatchID)
	o.Set("active_version", pyjson.Int(strconv.Itoa(m.ActiveVersion)))
	versions := make([]any, 0, len(m.Versions))
	for _, e := range m.Versions {
		eo := pyjson.NewObject()
		eo.Set("version", pyjson.Int(strconv.Itoa(e.Version)))
		eo.Set("artifact", e.Artifact)
		eo.Set("structure_fingerprint", e.StructureFingerprint)
		eo.Set("created_at", optStr(e.CreatedAt))
		eo.Set("reason", e.Reason)
		versions = append(versions, eo)
	}
	o.Set("versions", versions)
	b, err := pyjson.Encode(o, manifestOptions)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode manifest")
	}
	return b, nil
}

// Entry returns the first entry registered for version v (the seed's
// _manifest_entry_for_version); NotFound when none is.
func (m *Manifest) Entry(v int) (*ManifestEntry, error) {
	for i := range m.Versions {
		if m.Versions[i].Version == v {
			return &m.Versions[i], nil
		}
	}
	return nil, settle.Errorf(settle.NotFound,
		"version %d not registered in manifest for batch %s", v, pyjson.Repr(m.BatchID))
}

// MaxVersion returns the highest registered version, 0 for none (the
// reference's max([...] or [0])).
func (m *Manifest) MaxVersion() int {
	if len(m.Versions) == 0 {
		return 0
	}
	hi := m.Versions[0].Version
	for _, e := range m.Versions[1:] {
		hi = max(hi, e.Version)
	}
	return hi
}

// PyISOFormat is Python's datetime.isoformat() of t in UTC, as
// datetime.now(timezone.utc).isoformat() writes it:
// "2006-01-02T15:04:05.999999+00:00", the fraction (microseconds,
// truncated) left out when it is zero.
func PyISOFormat(t time.Time) string {
	u := t.UTC()
	s := u.Format("2006-01-02T15:04:05")
	if us := u.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}
