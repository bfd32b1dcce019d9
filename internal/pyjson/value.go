package pyjson

import "sort"

// Int is a JSON integer kept as its canonical decimal literal: an optional
// '-' and digits without leading zeros ("-0" is canonicalized to "0", as
// Python's int does). Its size is unlimited.
type Int string

// Object is a JSON object that keeps the first-insertion order of its keys.
// The zero value is an empty object ready to use.
type Object struct {
	keys []string
	vals map[string]any
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{} }

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

// Get returns the value of key and whether it is present.
func (o *Object) Get(key string) (any, bool) {
	if o == nil || o.vals == nil {
		return nil, false
	}
	v, ok := o.vals[key]
	return v, ok
}

// Has reports whether key is present.
func (o *Object) Has(key string) bool {
	_, ok := o.Get(key)
	return ok
}

// Set sets key to v. A new key is appended; an existing key keeps its
// position (as a Python dict).
func (o *Object) Set(key string, v any) {
	if o.vals == nil {
		o.vals = make(map[string]any)
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// Delete removes key if present.
func (o *Object) Delete(key string) {
	if o == nil || o.vals == nil {
		return
	}
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
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
	c := &Object{keys: append([]string(nil), o.keys...), vals: make(map[string]any, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = DeepCopy(v)
	}
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
