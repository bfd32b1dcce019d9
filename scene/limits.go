package scene

import (
	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// checkBodyLimits refuses (InvalidInput, naming the limit) a scene object that
// settle must not write: nested deeper than settle.MaxJSONDepth (the Python
// tools could not json.load it back), or with more than settle.MaxBeats
// beats or settle.MaxTakesPerBeat takes in a beat. The byte size is
// checked on the encoded body.
func checkBodyLimits(obj *pyjson.Object) error {
	if pyjson.DepthExceeds(obj, settle.MaxJSONDepth) {
		return settle.LimitError("MaxJSONDepth", settle.MaxJSONDepth, "scene nesting")
	}
	beats, _ := obj.Get("beats")
	list, _ := beats.([]any)
	if len(list) > settle.MaxBeats {
		return settle.LimitError("MaxBeats", settle.MaxBeats, "scene of %d beats", len(list))
	}
	for i, b := range list {
		bo, ok := b.(*pyjson.Object)
		if !ok {
			continue
		}
		takes, _ := bo.Get("takes")
		if tl, _ := takes.([]any); len(tl) > settle.MaxTakesPerBeat {
			return settle.LimitError("MaxTakesPerBeat", settle.MaxTakesPerBeat, "beat %d of %d takes", i, len(tl))
		}
	}
	return nil
}

// DecodePlan decodes a plan a caller supplies: a JSON object of at most
// settle.MaxPlanBytes bytes and settle.MaxJSONDepth levels (InvalidInput).
func DecodePlan(data []byte) (Plan, error) {
	v, err := settle.ParseInput(data, "MaxPlanBytes", settle.MaxPlanBytes)
	if err != nil {
		return Plan{}, settle.Wrap(settle.InvalidInput, err, "plan is not JSON")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return Plan{}, settle.Errorf(settle.InvalidInput, "plan is not a JSON object")
	}
	return Plan{Root: obj}, nil
}
