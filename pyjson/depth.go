package pyjson

// DepthExceeds reports whether v nests arrays and objects deeper than max
// levels ([] and {} are depth 1, a scalar depth 0). It stops descending at
// max+1, so a cyclic or absurdly deep value costs no more than that.
func DepthExceeds(v any, max int) bool {
	return depthExceeds(v, max)
}

func depthExceeds(v any, left int) bool {
	switch x := v.(type) {
	case []any:
		if left <= 0 {
			return true
		}
		for _, e := range x {
			if depthExceeds(e, left-1) {
				return true
			}
		}
	case *Object:
		if x == nil {
			return false
		}
		if left <= 0 {
			return true
		}
		for _, e := range x.vals {
			if depthExceeds(e, left-1) {
				return true
			}
		}
	}
	return false
}
