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
	case float32:
		return float64(x), nil
	case int:
		return Int(strconv.FormatInt(int64(x), 10)), nil
	case int8:
		return Int(strconv.FormatInt(int64(x), 10)), nil
	case int16:
		return Int(strconv.FormatInt(int64(x), 10)), nil
	case int32:
		return Int(strconv.FormatInt(int64(x), 10)), nil
	case int64:
		return Int(strconv.FormatInt(x, 10)), nil
	case uint:
		return Int(strconv.FormatUint(uint64(x), 10)), nil
	case uint8:
		return Int(strconv.FormatUint(uint64(x), 10)), nil
	case uint16:
		return Int(strconv.FormatUint(uint64(x), 10)), nil
	case uint32:
		return Int(strconv.FormatUint(uint64(x), 10)), nil
	case uint64:
		return Int(strconv.FormatUint(x, 10)), nil
	case uintptr:
		return Int(strconv.FormatUint(uint64(x), 10)), nil
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
		o := &Object{keys: slices.Clone(x.keys), vals: make([]any, len(x.vals))}
		for i, e := range x.vals {
			c, err := fromGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			o.vals[i] = c
		}
		o.index()
		return o, nil
	case []any:
		if x == nil {
			return nil, nil
		}
		a := make([]any, len(x))
		for i, e := range x {
			c, err := fromGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	case map[string]any:
		if x == nil {
			return nil, nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := &Object{keys: keys, vals: make([]any, len(keys))}
		for i, k := range keys {
			c, err := fromGo(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			o.vals[i] = c
		}
		o.index()
		return o, nil
	case json.Marshaler:
		b, err := x.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("pyjson: from go: marshal %T: %w", v, err)
		}
		return Parse(b)
	}
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
			c, err := fromGo(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return nil, nil
		}
		keys := make([]string, 0, rv.Len())
		vals := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			c, err := fromGo(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			vals[k] = c
		}
		slices.Sort(keys)
		o := newObjectCap(len(keys))
		for _, k := range keys {
			o.Set(k, vals[k])
		}
		return o, nil
	}
	return nil, fmt.Errorf("pyjson: from go: unsupported type %s", rv.Type())
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
	v, err := Parse(data)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	obj, ok := v.(*Object)
	if !ok {
		return fmt.Errorf("pyjson: unmarshal: expected a JSON object, got %s", TypeName(v))
	}
	*o = *obj
	return nil
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
	v, err := Parse(data)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	n, ok := v.(Int)
	if !ok {
		return fmt.Errorf("pyjson: unmarshal: expected an integer, got %s", TypeName(v))
	}
	*i = n
	return nil
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
