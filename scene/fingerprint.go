package scene

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// StructuralBeatMetadataKeys are the seed's _STRUCTURAL_BEAT_METADATA_KEYS:
// the beat_metadata keys that determine a beat's prompt and render, in
// canonical order. inputs_fingerprint is deliberately not one of them.
var StructuralBeatMetadataKeys = []string{
	"plan_shot",
	"shot",
	"batch_shots",
	"batch_summary",
	"grouping",
	"modality",
	"generation_config",
	"element_config",
	"prompt_directive",
	"scene_id",
}

// BuilderVariantShotKeys are the seed's _BUILDER_VARIANT_SHOT_KEYS: shot
// fields that differ between scene builders without changing the shot.
var BuilderVariantShotKeys = map[string]bool{"is_env_only": true, "aspect_ratio": true, "raw": true}

// fingerprintOptions is json.dumps(projection, sort_keys=True,
// separators=(",", ":")) with ensure_ascii.
var fingerprintOptions = pyjson.Options{Indent: -1, SortKeys: true, EnsureASCII: true, ItemSep: ",", KeySep: ":"}

// sortedStructuralKeys are the structural keys in code point order, the
// order sort_keys=True writes them in.
var sortedStructuralKeys = func() []string {
	ks := append([]string(nil), StructuralBeatMetadataKeys...)
	sort.Strings(ks)
	return ks
}()

// structuralSha is the seed's _structural_sha over the scene id and the
// (beat_id, beat_metadata) pairs. metadata is any decoded value: `metadata
// or {}` and `key in metadata` are Python's (a list or str without a
// structural key gives no structural keys; the seed raises for one with,
// and for a number).
//
// The projection {"beats": [{"beat_id", "beat_metadata": {structural}}],
// "scene_id", "beat_ids", "shot_count"} is written directly in the order
// json.dumps(sort_keys=True, separators=(",", ":")) writes it, each value
// through pyjson.
func structuralSha(sceneID any, beatIDs []any, metadata []any) (string, error) {
	type kv struct {
		key string
		val any
	}
	structural := make([][]kv, len(beatIDs))
	for i := range beatIDs {
		md := orEmpty(metadata[i])
		for _, key := range sortedStructuralKeys {
			has, err := pyContains(md, key)
			if err != nil {
				return "", settle.Errorf(settle.Corrupt, "beats[%d].beat_metadata: %s is not a dict", i, pyjson.TypeName(md))
			}
			if !has {
				continue
			}
			v, err := pyGetItem(md, key)
			if err != nil {
				return "", settle.Errorf(settle.Corrupt, "beats[%d].beat_metadata: %s is not a dict", i, pyjson.TypeName(md))
			}
			structural[i] = append(structural[i], kv{key, v})
		}
	}
	// The canonical JSON is hashed in chunks as it is written.
	h := sha256.New()
	b := make([]byte, 0, 64<<10)
	flush := func() {
		if len(b) >= 32<<10 {
			h.Write(b)
			b = b[:0]
		}
	}
	var err error
	enc := func(v any) {
		if err == nil {
			b, err = pyjson.AppendEncode(b, v, fingerprintOptions)
		}
	}
	b = append(b, `{"beat_ids":[`...)
	for i, id := range beatIDs {
		if i > 0 {
			b = append(b, ',')
		}
		enc(id)
		flush()
	}
	b = append(b, `],"beats":[`...)
	for i, id := range beatIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"beat_id":`...)
		enc(id)
		b = append(b, `,"beat_metadata":{`...)
		for j, m := range structural[i] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, m.key...)
			b = append(b, '"', ':')
			enc(m.val)
		}
		b = append(b, '}', '}')
		flush()
	}
	b = append(b, `],"scene_id":`...)
	enc(sceneID)
	b = append(b, `,"shot_count":`...)
	b = strconv.AppendInt(b, int64(len(beatIDs)), 10)
	b = append(b, '}')
	if err != nil {
		return "", settle.Wrap(settle.InvalidInput, err, "structure fingerprint")
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FingerprintStrict is Fingerprint with the error Fingerprint hides: a
// scene holding a value that is not a pyjson value (never one FromTree
// built) is InvalidInput.
func FingerprintStrict(sc *Scene) (string, error) {
	if sc == nil {
		return "", settle.Errorf(settle.InvalidInput, "structure fingerprint: nil scene")
	}
	ids := make([]any, len(sc.Beats))
	mds := make([]any, len(sc.Beats))
	for i, b := range sc.Beats {
		ids[i] = b.BeatID
		if b.BeatMetadata != nil {
			mds[i] = b.BeatMetadata
		}
	}
	return structuralSha(sc.SceneID, ids, mds)
}

// Fingerprint is the seed's structure_fingerprint: the sha256 (hex) of the
// canonical JSON of the scene's structural projection (scene_id, beat
// order and ids, shot count and the structural beat_metadata keys present),
// byte-identical to the seed's for every scene. Takes, boards, approval,
// max_takes, locks, inputs_fingerprint and unknown members do not count.
// It returns "" only for a scene FingerprintStrict refuses.
func Fingerprint(sc *Scene) string {
	fp, err := FingerprintStrict(sc)
	if err != nil {
		return ""
	}
	return fp
}

// FingerprintTreeStrict is the seed's _disk_structure_fingerprint on a raw
// body object (with or without schema_version): scene_id and beat_id may
// be of any type (a missing one is null), beats and beat_metadata follow
// Python's `or` and `in`. Where the seed raises, it returns Corrupt:
// beats truthy but not a list, a beat that is not an object, a
// beat_metadata that is a number, true, or a list or str containing a
// structural key name.
func FingerprintTreeStrict(obj *pyjson.Object) (string, error) {
	if obj == nil {
		return "", settle.Errorf(settle.Corrupt, "structure fingerprint: not a JSON object")
	}
	sceneID, _ := obj.Get("scene_id")
	beats, err := sceneBeats(obj, func(format string, args ...any) error {
		return settle.Errorf(settle.Corrupt, "structure fingerprint: "+format, args...)
	})
	if err != nil {
		return "", err
	}
	ids := make([]any, len(beats))
	mds := make([]any, len(beats))
	for i, b := range beats {
		id, _, err := pyGet(b, "beat_id")
		if err != nil {
			return "", settle.Errorf(settle.Corrupt, "structure fingerprint: beats[%d] is %s, not a dict", i, pyjson.TypeName(b))
		}
		ids[i] = id
		mds[i], _, _ = pyGet(b, "beat_metadata")
	}
	return structuralSha(sceneID, ids, mds)
}

// FingerprintTree is FingerprintTreeStrict returning "" (never a valid
// fingerprint) for a body the seed cannot fingerprint. Equal to the seed's
// _disk_structure_fingerprint for every body the seed accepts.
func FingerprintTree(obj *pyjson.Object) string {
	fp, err := FingerprintTreeStrict(obj)
	if err != nil {
		return ""
	}
	return fp
}
