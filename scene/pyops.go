package scene

import (
	"errors"
	"math"
	"strings"

	"github.com/settlehq/settle/pyjson"
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

// hashable reports whether v can be a dict key (not a list or dict).
func hashable(v any) bool {
	switch v.(type) {
	case []any, *pyjson.Object:
		return false
	}
	return true
}

// keyEq is dict-key equality (hash and identity-or-==) for hashable
// json.loads values: 1, 1.0 and true are one key, and json.loads returns one
// NaN object, which is one key by identity although NaN != NaN.
func keyEq(a, b any) bool { return (isNaN(a) && isNaN(b)) || pyjson.Equal(a, b) }

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
