package scene

import (
	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// Known field names in to_dict order (the reference take.py).
var (
	sceneFields = []string{"scene_id", "beats", "scene_metadata", "locked", "lock_reason"}
	beatFields  = []string{"beat_id", "max_takes", "beat_metadata", "takes", "primary_take_id",
		"phantom_recovery_count", "board", "approved"}
	takeFields = []string{"take_id", "status", "created_at", "started_at", "finished_at",
		"artifact_path", "receipt", "error"}
)

func fieldSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	sceneKnown        = fieldSet(sceneFields)
	sceneWrapperKnown = fieldSet(append([]string{"schema_version"}, sceneFields...))
	beatKnown         = fieldSet(beatFields)
	takeKnown         = fieldSet(takeFields)
)

// shapeError is a wrong JSON type (or a missing required member) in a known
// field: Corrupt.
func shapeError(path, want string, got any, present bool) error {
	if !present {
		return settle.Errorf(settle.Corrupt, "%s: missing (required %s)", path, want)
	}
	return settle.Errorf(settle.Corrupt, "%s: expected %s, got %s", path, want, pyjson.TypeName(got))
}

// reader decodes the members of one JSON object into model fields, with the
// reference from_dict's defaults, and collects the unknown members.
type reader struct {
	obj  *pyjson.Object
	path string
	err  error
	own  bool // the tree is the reader's: take values without copying
}

// take returns v, copied unless the tree is owned.
func (r *reader) take(v any) any {
	if r.own {
		return v
	}
	return pyjson.DeepCopy(v)
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) at(key string) string {
	if r.path == "" {
		return key
	}
	return r.path + "." + key
}

// requiredString is d["key"] that must be a str.
func (r *reader) requiredString(key string) string {
	v, ok := r.obj.Get(key)
	s, isStr := v.(string)
	if !ok || !isStr {
		r.fail(shapeError(r.at(key), "str", v, ok))
	}
	return s
}

// stringDefault is d.get(key, def) that must be a str.
func (r *reader) stringDefault(key, def string) string {
	return getDefault(r, key, def, "str")
}

// optString is d.get(key) that must be a str or None.
func (r *reader) optString(key string) *string {
	v, ok := r.obj.Get(key)
	if !ok || v == nil {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(shapeError(r.at(key), "str or None", v, true))
		return nil
	}
	return &s
}

// boolDefault is d.get(key, def) that must be a bool.
func (r *reader) boolDefault(key string, def bool) bool {
	return getDefault(r, key, def, "bool")
}

// getDefault is d.get(key, def) that must be a T (Python's type name).
func getDefault[T string | bool](r *reader, key string, def T, typeName string) T {
	v, ok := r.obj.Get(key)
	if !ok {
		return def
	}
	x, isT := v.(T)
	if !isT {
		r.fail(shapeError(r.at(key), typeName, v, true))
	}
	return x
}

// numberDefault is d.get(key, def) that must be an int or a float.
func (r *reader) numberDefault(key string, def pyjson.Int) any {
	v, ok := r.obj.Get(key)
	if !ok {
		return def
	}
	switch v.(type) {
	case pyjson.Int, float64:
		return v
	}
	r.fail(shapeError(r.at(key), "int or float", v, true))
	return def
}

// objectOrEmpty is copy.deepcopy(d.get(key) or {}): a falsy value (None,
// false, 0, "", [], {}) gives an empty object, as in the seed; any other
// non-object is a shape error.
func (r *reader) objectOrEmpty(key string) *pyjson.Object {
	v, ok := r.obj.Get(key)
	if !pyjson.Truthy(v) {
		return pyjson.NewObject()
	}
	o, isObj := v.(*pyjson.Object)
	if !isObj {
		r.fail(shapeError(r.at(key), "dict", v, ok))
		return pyjson.NewObject()
	}
	return r.take(o).(*pyjson.Object)
}

// optObject is copy.deepcopy(d.get(key)) that must be a dict or None.
func (r *reader) optObject(key string) any {
	v, ok := r.obj.Get(key)
	if !ok || v == nil {
		return nil
	}
	o, isObj := v.(*pyjson.Object)
	if !isObj {
		r.fail(shapeError(r.at(key), "dict or None", v, true))
		return nil
	}
	return r.take(o)
}

// listOrEmpty is d.get(key) or []: a falsy value gives no elements; any
// other non-list is a shape error.
func (r *reader) listOrEmpty(key string) []any {
	v, ok := r.obj.Get(key)
	if !pyjson.Truthy(v) {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		r.fail(shapeError(r.at(key), "list", v, ok))
		return nil
	}
	return l
}

// elemPath is the path of the list at key's element i.
func (r *reader) elemPath(key string, i int) string {
	return r.at(key) + "[" + itoa(i) + "]"
}

// objectList reads d.get(key) or [], a list of dicts, with read(dict,
// index) until the first failure.
func objectList[T any](r *reader, key string, read func(o *pyjson.Object, i int) (T, error)) []T {
	var out []T
	for i, v := range r.listOrEmpty(key) {
		o, ok := v.(*pyjson.Object)
		if !ok {
			r.fail(shapeError(r.elemPath(key, i), "dict", v, true))
			break
		}
		x, err := read(o, i)
		if err != nil {
			r.fail(err)
			break
		}
		out = append(out, x)
	}
	return out
}

// extra returns the members whose keys are not known, in order, copied.
func (r *reader) extra(known map[string]bool) []Member {
	var out []Member
	for _, k := range r.obj.Keys() {
		if known[k] {
			continue
		}
		v, _ := r.obj.Get(k)
		out = append(out, Member{Key: k, Value: r.take(v)})
	}
	return out
}

// FromTree is the reference Scene.from_dict for a decoded body (a
// top-level schema_version, the body wrapper's, is ignored), keeping
// unknown members (in order) in the Extra fields.
// The tree is copied, never aliased.
//
// Defaults are from_dict's: beats [], scene_metadata {}, locked false,
// max_takes 3, beat_metadata {}, takes [], phantom_recovery_count 0,
// approved false, status "pending", absent optional strings and board and
// receipt None. As in the seed, beats, takes, beat_metadata and
// scene_metadata treat any falsy value (null, false, 0, "", [], {}) as
// empty.
//
// Unlike the seed, which keeps whatever it is given, a wrong JSON type in a
// known field is Corrupt: scene_id, beat_id and take_id must be strings
// (and present: the seed's KeyError), status a string, the optional strings
// a string or null, max_takes and phantom_recovery_count a number, locked
// and approved a bool, board and receipt an object or null, beats and takes
// a list (of objects), beat_metadata and scene_metadata an object. (The
// seed crashes on most of these later; the rest it would write back as
// garbage.)
func FromTree(obj *pyjson.Object) (*Scene, error) { return fromTree(obj, false) }

// fromTree is FromTree; with own the scene takes the tree's values instead
// of copies (for a tree nothing else holds).
func fromTree(obj *pyjson.Object, own bool) (*Scene, error) {
	return fromTreeReusing(obj, own, nil)
}

// fromTreeReusing is fromTree taking the beat of reuse for a beat object
// found in it (a tree made from a scene, in which that beat's object was
// not changed) instead of decoding it again.
func fromTreeReusing(obj *pyjson.Object, own bool, reuse map[*pyjson.Object]*Beat) (*Scene, error) {
	if obj == nil {
		return nil, settle.Errorf(settle.Corrupt, "scene: not a JSON object")
	}
	r := &reader{obj: obj, own: own}
	sc := &Scene{
		SceneID:       r.requiredString("scene_id"),
		SceneMetadata: r.objectOrEmpty("scene_metadata"),
		Locked:        r.boolDefault("locked", false),
		LockReason:    r.optString("lock_reason"),
	}
	sc.Beats = objectList(r, "beats", func(bo *pyjson.Object, i int) (*Beat, error) {
		if b, reused := reuse[bo]; reused {
			return b, nil
		}
		return beatFromTree(bo, r.elemPath("beats", i), own)
	})
	// schema_version belongs to the body wrapper, not to the scene: a tree
	// read with it (a whole body) does not carry it along.
	sc.Extra = r.extra(sceneWrapperKnown)
	if r.err != nil {
		return nil, r.err
	}
	return sc, nil
}

func beatFromTree(obj *pyjson.Object, path string, own bool) (*Beat, error) {
	r := &reader{obj: obj, path: path, own: own}
	b := &Beat{
		BeatID:               r.requiredString("beat_id"),
		MaxTakes:             r.numberDefault("max_takes", pyjson.Int("3")),
		BeatMetadata:         r.objectOrEmpty("beat_metadata"),
		PrimaryTakeID:        r.optString("primary_take_id"),
		PhantomRecoveryCount: r.numberDefault("phantom_recovery_count", pyjson.Int("0")),
		Board:                r.optObject("board"),
		Approved:             r.boolDefault("approved", false),
	}
	b.Takes = objectList(r, "takes", func(to *pyjson.Object, i int) (*Take, error) {
		return takeFromTree(to, r.elemPath("takes", i), own)
	})
	b.Extra = r.extra(beatKnown)
	return b, r.err
}

func takeFromTree(obj *pyjson.Object, path string, own bool) (*Take, error) {
	r := &reader{obj: obj, path: path, own: own}
	t := &Take{
		TakeID:       r.requiredString("take_id"),
		Status:       r.stringDefault("status", TakePending),
		CreatedAt:    r.optString("created_at"),
		StartedAt:    r.optString("started_at"),
		FinishedAt:   r.optString("finished_at"),
		ArtifactPath: r.optString("artifact_path"),
		Receipt:      r.optObject("receipt"),
		Error:        r.optString("error"),
	}
	t.Extra = r.extra(takeKnown)
	return t, r.err
}

func optStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// putExtra appends the unknown members, skipping any named like a known
// field (FromTree never produces one; the known field wins).
func putExtra(o *pyjson.Object, extra []Member, known map[string]bool, cp copier) {
	for _, m := range extra {
		if known[m.Key] || o.Has(m.Key) {
			continue
		}
		o.Set(m.Key, cp(m.Value))
	}
}

// copier copies a value into a tree: pyjson.DeepCopy, or shareValue for
// a tree that is only read (encoded) while the scene is not changed.
type copier func(any) any

func shareValue(v any) any { return v }

// ToTree is the reference Scene.to_dict: every known field in to_dict
// order, then the unknown members in the order they were read. The tree
// shares nothing with the scene. A nil beat_metadata or scene_metadata is
// written as {}, a nil max_takes as 3 and a nil phantom_recovery_count as
// 0 (the from_dict defaults).
func (sc *Scene) ToTree() *pyjson.Object { return sc.toTree(pyjson.DeepCopy) }

// sharedTree is ToTree sharing the scene's values: the tree must only be
// read, and only while the scene is not changed.
func (sc *Scene) sharedTree() *pyjson.Object { return sc.toTree(shareValue) }

func (sc *Scene) toTree(cp copier) *pyjson.Object {
	beats := make([]any, 0, len(sc.Beats))
	for _, b := range sc.Beats {
		beats = append(beats, b.toTree(cp))
	}
	return sc.toTreeBeats(cp, beats)
}

// toTreeBeats is toTree with beats as the tree's beats.
func (sc *Scene) toTreeBeats(cp copier, beats []any) *pyjson.Object {
	o := pyjson.NewObjectSize(5 + len(sc.Extra))
	o.Set("scene_id", sc.SceneID)
	o.Set("beats", beats)
	o.Set("scene_metadata", objectOrNew(sc.SceneMetadata, cp))
	o.Set("locked", sc.Locked)
	o.Set("lock_reason", optStr(sc.LockReason))
	putExtra(o, sc.Extra, sceneKnown, cp)
	return o
}

func objectOrNew(o *pyjson.Object, cp copier) *pyjson.Object {
	if o == nil {
		return pyjson.NewObject()
	}
	return cp(o).(*pyjson.Object)
}

func orDefault(v any, def pyjson.Int, cp copier) any {
	if v == nil {
		return def
	}
	return cp(v)
}

func (b *Beat) toTree(cp copier) *pyjson.Object {
	o := pyjson.NewObjectSize(8 + len(b.Extra))
	o.Set("beat_id", b.BeatID)
	o.Set("max_takes", orDefault(b.MaxTakes, pyjson.Int("3"), cp))
	o.Set("beat_metadata", objectOrNew(b.BeatMetadata, cp))
	takes := make([]any, 0, len(b.Takes))
	for _, t := range b.Takes {
		takes = append(takes, t.toTree(cp))
	}
	o.Set("takes", takes)
	o.Set("primary_take_id", optStr(b.PrimaryTakeID))
	o.Set("phantom_recovery_count", orDefault(b.PhantomRecoveryCount, pyjson.Int("0"), cp))
	o.Set("board", cp(b.Board))
	o.Set("approved", b.Approved)
	putExtra(o, b.Extra, beatKnown, cp)
	return o
}

func (t *Take) toTree(cp copier) *pyjson.Object {
	o := pyjson.NewObjectSize(8 + len(t.Extra))
	o.Set("take_id", t.TakeID)
	o.Set("status", t.Status)
	o.Set("created_at", optStr(t.CreatedAt))
	o.Set("started_at", optStr(t.StartedAt))
	o.Set("finished_at", optStr(t.FinishedAt))
	o.Set("artifact_path", optStr(t.ArtifactPath))
	o.Set("receipt", cp(t.Receipt))
	o.Set("error", optStr(t.Error))
	putExtra(o, t.Extra, takeKnown, cp)
	return o
}

func cloneStr(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

func cloneMembers(ms []Member) []Member {
	if ms == nil {
		return nil
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Key: m.Key, Value: pyjson.DeepCopy(m.Value)}
	}
	return out
}

// Clone returns a deep copy of the scene.
func (sc *Scene) Clone() *Scene {
	if sc == nil {
		return nil
	}
	c := sc.cloneTop()
	for i, b := range sc.Beats {
		c.Beats[i] = b.Clone()
	}
	return c
}

// cloneTop is Clone but for the beats: the copy's Beats has sc's length
// (nil if sc's is nil) and no beat yet.
func (sc *Scene) cloneTop() *Scene {
	c := &Scene{
		SceneID:       sc.SceneID,
		SceneMetadata: sc.SceneMetadata.Clone(),
		Locked:        sc.Locked,
		LockReason:    cloneStr(sc.LockReason),
		Extra:         cloneMembers(sc.Extra),
	}
	if sc.Beats != nil {
		c.Beats = make([]*Beat, len(sc.Beats))
	}
	return c
}

// Clone returns a deep copy of the beat.
func (b *Beat) Clone() *Beat {
	if b == nil {
		return nil
	}
	c := &Beat{
		BeatID:               b.BeatID,
		MaxTakes:             pyjson.DeepCopy(b.MaxTakes),
		BeatMetadata:         b.BeatMetadata.Clone(),
		PrimaryTakeID:        cloneStr(b.PrimaryTakeID),
		PhantomRecoveryCount: pyjson.DeepCopy(b.PhantomRecoveryCount),
		Board:                pyjson.DeepCopy(b.Board),
		Approved:             b.Approved,
		Extra:                cloneMembers(b.Extra),
	}
	if b.Takes != nil {
		c.Takes = make([]*Take, len(b.Takes))
		for i, t := range b.Takes {
			c.Takes[i] = t.Clone()
		}
	}
	return c
}

// Clone returns a deep copy of the take.
func (t *Take) Clone() *Take {
	if t == nil {
		return nil
	}
	return &Take{
		TakeID:       t.TakeID,
		Status:       t.Status,
		CreatedAt:    cloneStr(t.CreatedAt),
		StartedAt:    cloneStr(t.StartedAt),
		FinishedAt:   cloneStr(t.FinishedAt),
		ArtifactPath: cloneStr(t.ArtifactPath),
		Receipt:      pyjson.DeepCopy(t.Receipt),
		Error:        cloneStr(t.Error),
		Extra:        cloneMembers(t.Extra),
	}
}
