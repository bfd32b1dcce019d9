package pyjson

import "sort"

// Int is a JSON integer kept as its canonical decimal literal: an optional
// '-' and digits without leading zeros ("-0" is canonicalized to "0", as
// Python's int does). Its size is unlimited.
type Int string

// Object is a JSON object that keeps the first-insertion order of its keys.
// The zero value is an empty object ready to use.
//
// Members are kept in two parallel slices: most objects of a scene are
// small, and a linear search over a few keys beats hashing them, and so do
// parsing, copying and encoding without a map. An object of more than 8
// members also keeps a map from key to position, built when it grows past
// that size (never on a read), so concurrent reads of an object are safe;
// a write needs the only reference.
type Object struct {
	keys []string
	vals []any
	idx  map[string]int // nil until len(keys) > objectIndexMin
}

// objectIndexMin is the size up to which a lookup scans the keys.
const objectIndexMin = 8

// NewObject returns an empty object.
func NewObject() *Object { return &Object{} }

// NewObjectSize returns an empty object with room for n members.
func NewObjectSize(n int) *Object { return newObjectCap(n) }

// newObjectCap returns an empty object with room for n members.
func newObjectCap(n int) *Object {
	return &Object{keys: make([]string, 0, n), vals: make([]any, 0, n)}
}

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// Keys returns the keys in insertion order. The slice must not be modified.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// find returns the position of key, or -1.
func (o *Object) find(key string) int {
	if o.idx != nil {
		if i, ok := o.idx[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// index builds the key map of an object grown past objectIndexMin.
func (o *Object) index() {
	if o.idx != nil || len(o.keys) <= objectIndexMin {
		return
	}
	o.idx = make(map[string]int, len(o.keys))
	for i, k := range o.keys {
		o.idx[k] = i
	}
}

// Get returns the value of key and whether it is present.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	if i := o.find(key); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

// Has reports whether key is present.
func (o *Object) Has(key string) bool {
	_, ok := o.Get(key)
	return ok
}

// Set sets key to v. A new key is appended; an existing key keeps its
// position (as a Python dict).
func (o *Object) Set(key string, v any) {
	if i := o.find(key); i >= 0 {
		o.vals[i] = v
		return
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	if o.idx != nil {
		o.idx[key] = len(o.keys) - 1
	} else {
		o.index()
	}
}

// Delete removes key if present.
func (o *Object) Delete(key string) {
	if o == nil {
		return
	}
	i := o.find(key)
	if i < 0 {
		return
	}
	// Copies, not in place: a shallow copy (ShallowClone) may share the
	// slices' arrays.
	o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
	o.vals = append(o.vals[:i:i], o.vals[i+1:]...)
	o.idx = nil
	o.index()
}

// Value returns the value at position i of Keys.
func (o *Object) Value(i int) any { return o.vals[i] }

// ShallowClone returns a copy of the object that shares its values.
func (o *Object) ShallowClone() *Object {
	if o == nil {
		return nil
	}
	c := &Object{keys: o.keys[:len(o.keys):len(o.keys)], vals: append([]any(nil), o.vals...)}
	c.index()
	return c
}

// SortedKeys returns the keys sorted by code point (Python's sort_keys).
func (o *Object) SortedKeys() []string {
	ks := append([]string(nil), o.Keys()...)
	sort.Strings(ks) // UTF-8 / WTF-8 byte order is code point order
	return ks
}

// GetString returns the value of key if it is a string.
func (o *Object) GetString(key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// GetObject returns the value of key if it is an object.
func (o *Object) GetObject(key string) (*Object, bool) {
	v, ok := o.Get(key)
	if !ok {
		return nil, false
	}
	m, ok := v.(*Object)
	return m, ok
}

// Clone returns a deep copy of the object.
func (o *Object) Clone() *Object {
	if o == nil {
		return nil
	}
	// The keys are strings: the clone may share their array (Set and
	// Delete never write into it in place beyond its length).
	c := &Object{keys: o.keys[:len(o.keys):len(o.keys)], vals: make([]any, len(o.vals))}
	for i, v := range o.vals {
		c.vals[i] = DeepCopy(v)
	}
	c.index()
	return c
}

// DeepCopy returns a deep copy of a decoded value (Python's copy.deepcopy).
func DeepCopy(v any) any {
	switch x := v.(type) {
	case *Object:
		return x.Clone()
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = DeepCopy(e)
		}
		return c
	default:
		return v
	}
}
