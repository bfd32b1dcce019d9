package scene

import (
	"math"

	"github.com/settlehq/settle/pyjson"
)

// eqMode picks what jsonEqual treats as the same value.
type eqMode uint8

const (
	// eqWritten: written as the same bytes without sort_keys. The same
	// types, strings and number literals (float bits), arrays
	// element-wise, objects member by member in order.
	eqWritten eqMode = iota
	// eqSorted: written as the same bytes by json.dumps(sort_keys=True).
	// As eqWritten, but objects as sets of members.
	eqSorted
	// eqRFC: RFC 6902 §4.6 equality. Numbers by value (an int and a float
	// of the same value are equal, NaN equals nothing), everything else
	// only within its own type (true is not 1), arrays element-wise,
	// objects as unordered sets of members.
	eqRFC
)

// jsonEqual compares two decoded JSON values as mode says. Any other type
// is not equal (the callers encode it).
func jsonEqual(a, b any, mode eqMode) bool {
	if mode == eqRFC && isNumber(a) && isNumber(b) {
		return pyjson.Equal(a, b)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case pyjson.Int:
		y, ok := b.(pyjson.Int)
		return ok && mode != eqRFC && x == y
	case float64:
		y, ok := b.(float64)
		return ok && mode != eqRFC && math.Float64bits(x) == math.Float64bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i], mode) {
				return false
			}
		}
		return true
	case *pyjson.Object:
		y, ok := b.(*pyjson.Object)
		if !ok {
			return false
		}
		if mode != eqRFC {
			if x == nil || y == nil {
				return false
			}
			if x == y {
				return true
			}
		}
		if x.Len() != y.Len() {
			return false
		}
		if mode == eqWritten {
			yk := y.Keys()
			for i, k := range x.Keys() {
				if yk[i] != k || !jsonEqual(x.Value(i), y.Value(i), mode) {
					return false
				}
			}
			return true
		}
		for i, k := range x.Keys() {
			yv, ok := y.Get(k)
			if !ok || !jsonEqual(x.Value(i), yv, mode) {
				return false
			}
		}
		return true
	}
	return false
}

// isNumber reports whether v is a JSON number (not a bool).
func isNumber(v any) bool {
	switch v.(type) {
	case pyjson.Int, float64:
		return true
	}
	return false
}
