package scene

// EncodeBodyReusing encodes sc as a status write does after writing prev:
// every beat of sc written as prev's is copied from prev's bytes. It
// returns the body and how many beats were copied.
func EncodeBodyReusing(prev, sc *Scene) ([]byte, int, error) {
	pdata, spans, err := encodeBodyBeats(prev, 0, nil)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	data, _, err := encodeBodyBeats(sc, 0, func(i int) []byte {
		if i >= len(prev.Beats) || !sameBeat(prev.Beats[i], sc.Beats[i]) {
			return nil
		}
		n++
		return pdata[spans[i].start:spans[i].end]
	})
	return data, n, err
}

// ApplyPatchShared is the patch of a status write: applied to sc's values
// in place of a copy, the beats no operation points into left as they
// are.
func ApplyPatchShared(sc *Scene, patch []byte) (*Scene, error) {
	ops, err := decodePatch(patch)
	if err != nil {
		return nil, err
	}
	return applyPatchOps(sc, ops)
}
