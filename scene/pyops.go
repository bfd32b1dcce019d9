package scene

import (
	"errors"
	"math"
	"strings"

	"github.com/settlehq/settle/internal/pyjson"
)

// The seed works on dicts from json.loads with Python operators. These
// helpers reproduce the operators it uses on such values, including where
// they raise (errPy), so that the port decides what the seed decides on
// every input the seed accepts.

// errPy marks an operation on which the seed raises (TypeError,
// AttributeError, KeyError): the callers turn it into a coded error.
var errPy = errors.New("python operation raises")

func isNaN(v any) bool {
	f, ok := v.(float64)
	return ok && math.IsNaN(f)
}

// pyEq is Python's a == b for two values decoded by json.loads. It differs
// from pyjson.Equal in one respect: json.loads returns one NaN object for
// every NaN literal, and CPython compares container elements (list items,
// dict values) by identity first, so a NaN inside a list or dict equals a
// NaN at the same place on the other side. A bare NaN compared directly
// (a top-level ==) is still unequal to everything.
func pyEq(a, b any) bool {
	if isNaN(a) || isNaN(b) {
		return false
	}
	return elemEq(a, b)
}

// elemEq is PyObject_RichCompareBool(a, b, Py_EQ) on json.loads values:
// identity (the NaN singleton) first, then ==.
func elemEq(a, b any) bool {
	switch x := a.(type) {
	case float64:
		if math.IsNaN(x) {
			return isNaN(b)
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !elemEq(x[i], y[i]) {
				return false
			}
		}
		return true
	case *pyjson.Object:
		y, ok := b.(*pyjson.Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.Keys() {
			yv, ok := y.Get(k)
			if !ok {
				return false
			}
			xv, _ := x.Get(k)
			if !elemEq(xv, yv) {
				return false
			}
		}
		return true
	}
	return pyjson.Equal(a, b)
}

// hashable reports whether v can be a dict key (not a list or dict).
func hashable(v any) bool {
	switch v.(type) {
	case []any, *pyjson.Object:
		return false
	}
	return true
}

// keyEq is dict-key equality (hash and identity-or-==) for hashable
// json.loads values: 1, 1.0 and true are one key, the NaN singleton is one
// key.
func keyEq(a, b any) bool { return elemEq(a, b) }

// pyContains is Python's `key in container` for a str key.
func pyContains(container any, key string) (bool, error) {
	switch c := container.(type) {
	case *pyjson.Object:
		return c.Has(key), nil
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && s == key {
				return true, nil
			}
		}
		return false, nil
	case string:
		return strings.Contains(c, key), nil
	}
	return false, errPy // TypeError: argument of type ... is not iterable
}

// pyGetItem is Python's container[key] for a str key.
func pyGetItem(container any, key string) (any, error) {
	if o, ok := container.(*pyjson.Object); ok {
		if v, ok := o.Get(key); ok {
			return v, nil
		}
	}
	return nil, errPy // KeyError, or TypeError for a list or str index
}

// pyGet is Python's d.get(key) on a value that must be a dict.
func pyGet(d any, key string) (any, bool, error) {
	o, ok := d.(*pyjson.Object)
	if !ok {
		return nil, false, errPy // AttributeError
	}
	v, ok := o.Get(key)
	return v, ok, nil
}

// pyIterList is `for x in (v or [])` where the elements are then used as
// dicts: a falsy value gives nothing; a list gives its items; any other
// truthy value (a str, a dict's str keys, a number) makes the seed raise.
func pyIterList(v any) ([]any, error) {
	if !pyjson.Truthy(v) {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, errPy
	}
	return l, nil
}

// orEmpty is Python's `v or {}`.
func orEmpty(v any) any {
	if !pyjson.Truthy(v) {
		return pyjson.NewObject()
	}
	return v
}
