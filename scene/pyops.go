package scene

import (
	"errors"
	"strings"

	"github.com/settlehq/settle/pyjson"
)

// The seed works on dicts from json.loads with Python operators. Equality,
// truthiness, str() and dict-key identity are pyjson's (Equal, Truthy, Str,
// SameKey, Hashable); these helpers add the seed's lookups on a value of
// unchecked shape, which raise where Python raises (errPy), so that the port
// decides what the seed decides on every input the seed accepts.

// errPy marks an operation on which the seed raises (TypeError,
// AttributeError, KeyError): the callers turn it into a coded error.
var errPy = errors.New("python operation raises")

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

// pyLookup is `key in container` and, when it is, container[key].
func pyLookup(container any, key string) (v any, has bool, err error) {
	if has, err = pyContains(container, key); err != nil || !has {
		return nil, false, err
	}
	v, err = pyGetItem(container, key)
	return v, true, err
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
