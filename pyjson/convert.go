package pyjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// FromGo converts an ordinary Go value into a pyjson value: nil, bool,
// string, float32/float64, every integer type, json.Number, Int, []any,
// map[string]any, *Object, and (by reflection) other slices, arrays, maps
// with string keys and pointers to those. encoding/json trees (decoded into
// any, with or without UseNumber) convert as they are. Map keys are sorted
// by code point, since Go maps have no order. A json.Marshaler (for
// instance json.RawMessage) is marshaled and parsed. Other types are an
// error.
func FromGo(v any) (any, error) {
	return fromGo(v, 0)
}

func fromGo(v any, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("pyjson: from go: nesting deeper than MaxDepth (or a cycle)")
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, string, float64:
		return x, nil
	case Int:
		if !validInt(x) {
			return nil, fmt.Errorf("pyjson: from go: invalid Int %q", truncate(string(x)))
		}
		return x, nil
	case json.Number:
		if x != "NaN" && x != "Infinity" && x != "-Infinity" {
			n, err := Parse([]byte(x))
			if err != nil {
				return nil, fmt.Errorf("pyjson: from go: json.Number %q: %w", truncate(string(x)), err)
			}
			switch n.(type) {
			case Int, float64:
				return n, nil
			}
		}
		return nil, fmt.Errorf("pyjson: from go: json.Number %q is not a number", truncate(string(x)))
	case *Object:
		if x == nil {
			return nil, nil
		}
		o := &Object{keys: slices.Clone(x.keys), vals: slices.Clone(x.vals)}
		if err := fromGoEach(o.vals, depth); err != nil {
			return nil, err
		}
		o.index()
		return o, nil
	case []any:
		if x == nil {
			return nil, nil
		}
		a := slices.Clone(x)
		if err := fromGoEach(a, depth); err != nil {
			return nil, err
		}
		return a, nil
	case map[string]any:
		if x == nil {
			return nil, nil
		}
		return fromMap(x, depth)
	case json.Marshaler:
		b, err := x.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("pyjson: from go: marshal %T: %w", v, err)
		}
		return Parse(b)
	}
	// Integers, float32 and the named types convert by their kind.
	return fromReflect(reflect.ValueOf(v), depth)
}

func fromReflect(rv reflect.Value, depth int) (any, error) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return fromGo(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Int(strconv.FormatInt(rv.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return Int(strconv.FormatUint(rv.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		a := make([]any, rv.Len())
		for i := range a {
			a[i] = rv.Index(i).Interface()
		}
		if err := fromGoEach(a, depth); err != nil {
			return nil, err
		}
		return a, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil, nil
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return fromMap(m, depth)
	}
	return nil, fmt.Errorf("pyjson: from go: unsupported type %s", rv.Type())
}

// fromGoEach converts each of vals in place.
func fromGoEach(vals []any, depth int) error {
	for i, e := range vals {
		c, err := fromGo(e, depth+1)
		if err != nil {
			return err
		}
		vals[i] = c
	}
	return nil
}

// fromMap converts a map into an object of its members sorted by key.
func fromMap(m map[string]any, depth int) (any, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := &Object{keys: keys, vals: make([]any, len(keys))}
	for i, k := range keys {
		o.vals[i] = m[k]
	}
	if err := fromGoEach(o.vals, depth); err != nil {
		return nil, err
	}
	o.index()
	return o, nil
}

// marshalJSON encodes v as standard JSON for encoding/json: compact, raw
// UTF-8 (lone surrogates escaped so the output is valid UTF-8), and an
// error for NaN and the infinities.
func marshalJSON(v any) ([]byte, error) {
	e := &encoder{itemSep: ",", keySep: ":", indent: -1, surrogates: true, noNaN: true}
	b, err := e.value(nil, v, 0)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// MarshalJSON implements json.Marshaler: standard compact JSON in key
// insertion order, non-ASCII written raw; NaN and infinities are an error.
// A nil *Object marshals as null.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	return marshalJSON(o)
}

// UnmarshalJSON implements json.Unmarshaler with Parse semantics; the
// document must be an object. JSON null leaves o unchanged.
func (o *Object) UnmarshalJSON(data []byte) error {
	obj, ok, err := unmarshalAs[*Object](data, "a JSON object")
	if ok {
		*o = *obj
	}
	return err
}

// MarshalJSON implements json.Marshaler: the integer literal itself.
func (i Int) MarshalJSON() ([]byte, error) {
	if !validInt(i) {
		return nil, fmt.Errorf("pyjson: marshal: invalid Int %q", truncate(string(i)))
	}
	return []byte(i), nil
}

// UnmarshalJSON implements json.Unmarshaler: the document must be an
// integer literal. JSON null leaves i unchanged.
func (i *Int) UnmarshalJSON(data []byte) error {
	n, ok, err := unmarshalAs[Int](data, "an integer")
	if ok {
		*i = n
	}
	return err
}

// unmarshalAs parses data for an UnmarshalJSON: ok is false for JSON null
// (which leaves the target unchanged) and on error; what names T in the
// error for another value.
func unmarshalAs[T any](data []byte, what string) (x T, ok bool, err error) {
	v, err := Parse(data)
	if err != nil || v == nil {
		return x, false, err
	}
	if x, ok = v.(T); !ok {
		return x, false, fmt.Errorf("pyjson: unmarshal: expected %s, got %s", what, TypeName(v))
	}
	return x, true, nil
}

// TypeName names a decoded value's Python type ("dict", "list", "str",
// "int", "float", "bool", "None"), as Python's type(v).__name__ does.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case *Object:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}
