package scene

import (
	"fmt"
	"strconv"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// PlanSequence is one entry of a plan's "sequences": a sequence (batch) id
// and its spec as decoded JSON.
type PlanSequence struct {
	ID   string
	Spec any
}

// PlanSequences returns plan["sequences"] in document order (the seed's
// `(plan.get("sequences") or {}).items()`; a repeated key keeps its first
// position and its last value, as a Python dict). A missing or falsy
// sequences member gives none; any other non-object is InvalidInput, and so is
// a sequence id ValidateBatchID refuses (the seed would build a path from
// it) and a plan of more than settle.MaxPlanSequences sequences.
func PlanSequences(plan Plan) ([]PlanSequence, error) {
	sv, _ := plan.Root.Get("sequences")
	if !pyjson.Truthy(sv) {
		return nil, nil
	}
	seqs, ok := sv.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "plan sequences: expected dict, got %s", pyjson.TypeName(sv))
	}
	if seqs.Len() > settle.MaxPlanSequences {
		return nil, settle.LimitError("MaxPlanSequences", settle.MaxPlanSequences, "plan of %d sequences", seqs.Len())
	}
	out := make([]PlanSequence, 0, seqs.Len())
	for _, id := range seqs.Keys() {
		if err := ValidateBatchID(id); err != nil {
			return nil, fmt.Errorf("plan sequence: %w", err)
		}
		spec, _ := seqs.Get(id)
		out = append(out, PlanSequence{ID: id, Spec: spec})
	}
	return out, nil
}

// NewSceneFromPlanSequence is init_scenes_from_plan's new-scene branch:
// one beat per shot of spec["shots"] (missing: none), with beat_id
// str(shot.get("shot_id") or shot.get("id") or f"BEAT_{n:02d}") under
// Python truthiness, max_takes maxTakes and beat_metadata {"scene_id":
// seqID, "plan_shot": <the shot>}; scene_metadata {"episode": episode,
// "project": project}, episode as given. The shots are copied.
//
// InvalidInput where the seed raises: a spec that is not an object, shots that
// are not a list (an empty str or object iterates as no shots, as in the
// seed), a shot that is not an object; and a seqID ValidateBatchID refuses.
func NewSceneFromPlanSequence(project, episode, seqID string, seqSpec any, maxTakes int) (*Scene, error) {
	if err := ValidateBatchID(seqID); err != nil {
		return nil, fmt.Errorf("plan sequence: %w", err)
	}
	spec, ok := seqSpec.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.InvalidInput, "plan sequence %s: spec is %s, not a dict", pyjson.Repr(seqID), pyjson.TypeName(seqSpec))
	}
	var shots []any
	if v, present := spec.Get("shots"); present {
		switch x := v.(type) {
		case []any:
			shots = x
		case string:
			if x != "" {
				return nil, settle.Errorf(settle.InvalidInput, "plan sequence %s: shots is a str, not a list", pyjson.Repr(seqID))
			}
		case *pyjson.Object:
			if x.Len() != 0 {
				return nil, settle.Errorf(settle.InvalidInput, "plan sequence %s: shots is a dict, not a list", pyjson.Repr(seqID))
			}
		default:
			return nil, settle.Errorf(settle.InvalidInput, "plan sequence %s: shots is %s, not a list", pyjson.Repr(seqID), pyjson.TypeName(v))
		}
	}
	sc := &Scene{SceneID: seqID, Beats: []*Beat{}}
	for i, sv := range shots {
		shot, ok := sv.(*pyjson.Object)
		if !ok {
			return nil, settle.Errorf(settle.InvalidInput, "plan sequence %s: shots[%d] is %s, not a dict", pyjson.Repr(seqID), i, pyjson.TypeName(sv))
		}
		var id any
		if v, _ := shot.Get("shot_id"); pyjson.Truthy(v) {
			id = v
		} else if v, _ := shot.Get("id"); pyjson.Truthy(v) {
			id = v
		} else {
			id = fmt.Sprintf("BEAT_%02d", len(sc.Beats))
		}
		md := pyjson.NewObject()
		md.Set("scene_id", seqID)
		md.Set("plan_shot", shot.Clone())
		sc.Beats = append(sc.Beats, &Beat{
			BeatID:               pyjson.Str(id),
			MaxTakes:             pyjson.Int(strconv.Itoa(maxTakes)),
			BeatMetadata:         md,
			Takes:                []*Take{},
			PhantomRecoveryCount: pyjson.Int("0"),
		})
	}
	sc.SceneMetadata = pyjson.NewObject()
	sc.SceneMetadata.Set("episode", episode)
	sc.SceneMetadata.Set("project", project)
	return sc, nil
}
