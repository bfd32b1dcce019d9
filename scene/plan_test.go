package scene_test

import (
	"strings"
	"testing"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

func TestPlanSequences(t *testing.T) {
	seqs, err := scene.PlanSequences(scene.Plan{Root: obj(t, `{"sequences":{"S2":{"shots":[]},"S1":{},"S2":{"shots":[1]}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0].ID != "S2" || seqs[1].ID != "S1" || compact(t, seqs[0].Spec) != `{"shots":[1]}` {
		t.Fatalf("sequences = %+v", seqs)
	}
	for _, in := range []string{`{}`, `{"sequences":null}`, `{"sequences":{}}`, `{"sequences":[]}`, `{"sequences":0}`} {
		seqs, err := scene.PlanSequences(scene.Plan{Root: obj(t, in)})
		if err != nil || len(seqs) != 0 {
			t.Fatalf("%s: %v %v", in, seqs, err)
		}
	}
	if seqs, err := scene.PlanSequences(scene.Plan{}); err != nil || len(seqs) != 0 {
		t.Fatalf("nil root: %v %v", seqs, err)
	}
	for _, in := range []string{`{"sequences":[1]}`, `{"sequences":"s"}`, `{"sequences":{"../x":{}}}`, `{"sequences":{"x.v001":{}}}`} {
		_, err := scene.PlanSequences(scene.Plan{Root: obj(t, in)})
		wantCode(t, err, settle.InvalidInput)
	}
}

func TestNewSceneFromPlanSequence(t *testing.T) {
	spec := val(t, `{"shots":[{"shot_id":"S1","p":1},{"id":"I2"},{"shot_id":"","id":0},{"shot_id":7},{"shot_id":[1,"a"]},{"shot_id":null,"id":{}}]}`)
	sc, err := scene.NewSceneFromPlanSequence("proj", "1", "SEQ", spec, 5)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range sc.Beats {
		ids = append(ids, b.BeatID)
	}
	if got := strings.Join(ids, "|"); got != "S1|I2|BEAT_02|7|[1, 'a']|BEAT_05" {
		t.Fatalf("beat ids = %q", got)
	}
	got := compact(t, sc.ToTree())
	want := `{"scene_id":"SEQ","beats":[{"beat_id":"S1","max_takes":5,"beat_metadata":{"scene_id":"SEQ","plan_shot":{"shot_id":"S1","p":1}},"takes":[],"primary_take_id":null,"phantom_recovery_count":0,"board":null,"approved":false},`
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `"scene_metadata":{"episode":"1","project":"proj"},"locked":false,"lock_reason":null}`) {
		t.Fatalf("scene = %s", got)
	}
	// The shot is copied, not shared with the plan.
	sc.Beats[0].BeatMetadata.Set("plan_shot", "x")
	if compact(t, spec) != `{"shots":[{"shot_id":"S1","p":1},{"id":"I2"},{"shot_id":"","id":0},{"shot_id":7},{"shot_id":[1,"a"]},{"shot_id":null,"id":{}}]}` {
		t.Fatal("plan modified")
	}
	for _, in := range []string{`{}`, `{"shots":[]}`, `{"shots":""}`, `{"shots":{}}`} {
		sc, err := scene.NewSceneFromPlanSequence("p", "1", "S", val(t, in), 3)
		if err != nil || len(sc.Beats) != 0 {
			t.Fatalf("%s: %v %v", in, sc, err)
		}
	}
	for _, in := range []string{`[]`, `null`, `{"shots":null}`, `{"shots":"ab"}`, `{"shots":{"a":1}}`, `{"shots":5}`, `{"shots":[1]}`, `{"shots":[["a"]]}`} {
		_, err := scene.NewSceneFromPlanSequence("p", "1", "S", val(t, in), 3)
		wantCode(t, err, settle.InvalidInput)
	}
	_, err = scene.NewSceneFromPlanSequence("p", "1", "a/b", val(t, `{}`), 3)
	wantCode(t, err, settle.InvalidInput)
}

func TestMarkStale(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	body := `{"scene_id":"B","beats":[{"beat_id":"b","takes":[
	 {"take_id":"old","status":"running","started_at":"2026-01-02T11:50:00+00:00"},
	 {"take_id":"old-naive","status":"running","started_at":"2026-01-02T11:50:00.123456"},
	 {"take_id":"old-offset","status":"running","started_at":"2026-01-02T20:50:00+09:00"},
	 {"take_id":"old-z","status":"running","started_at":"2026-01-02T11:50:00Z"},
	 {"take_id":"created-only","status":"running","created_at":"2026-01-02 11:00:00"},
	 {"take_id":"fresh","status":"running","started_at":"2026-01-02T11:58:00+00:00"},
	 {"take_id":"exactly-cutoff","status":"running","started_at":"2026-01-02T11:55:00+00:00"},
	 {"take_id":"started-wins","status":"running","started_at":"2026-01-02T11:59:00+00:00","created_at":"2020-01-01T00:00:00"},
	 {"take_id":"bad-ts","status":"running","started_at":"yesterday"},
	 {"take_id":"no-ts","status":"running"},
	 {"take_id":"pending","status":"pending","started_at":"2020-01-01T00:00:00"},
	 {"take_id":"has-error","status":"running","started_at":"2020-01-01T00:00:00","error":"boom"}
	]}]}`
	sc, err := scene.FromTree(obj(t, body))
	if err != nil {
		t.Fatal(err)
	}
	n := scene.MarkStale(sc, 5*time.Minute, now)
	stale := map[string]bool{"old": true, "old-naive": true, "old-offset": true, "old-z": true, "created-only": true, "has-error": true}
	if n != len(stale) {
		t.Errorf("MarkStale = %d, want %d", n, len(stale))
	}
	for _, tk := range sc.Beats[0].Takes {
		if got := tk.Status == scene.TakeStale; got != stale[tk.TakeID] {
			t.Errorf("%s: status %s", tk.TakeID, tk.Status)
		}
		switch {
		case tk.TakeID == "has-error":
			if *tk.Error != "boom" {
				t.Errorf("error overwritten: %q", *tk.Error)
			}
		case stale[tk.TakeID]:
			if tk.Error == nil || !strings.HasPrefix(*tk.Error, "stale: ") {
				t.Errorf("%s: error %v", tk.TakeID, tk.Error)
			}
		case tk.Error != nil:
			t.Errorf("%s: error set", tk.TakeID)
		}
	}
	if scene.MarkStale(sc, 5*time.Minute, now) != 0 {
		t.Error("second pass changed takes")
	}
}

func TestParsePyISO(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC, "" for unparseable
	}{
		{"2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05Z"},
		{"2026-01-02T03:04:05.5+00:00", "2026-01-02T03:04:05.5Z"},
		{"2026-01-02T03:04:05.123456789", "2026-01-02T03:04:05.123456Z"},
		{"2026-01-02T03:04:05-01:30", "2026-01-02T04:34:05Z"},
		{"2026-01-02T03:04:05+0100", "2026-01-02T02:04:05Z"},
		{"2026-01-02T03:04", "2026-01-02T03:04:00Z"},
		{"2026-01-02T03", "2026-01-02T03:00:00Z"},
		{"2026-01-02", "2026-01-02T00:00:00Z"},
		{"2026-01-02 03:04:05z", "2026-01-02T03:04:05Z"},
		{"2026-02-30T00:00:00", ""},
		{"2026-01-02T24:00:00", ""},
		{"2026-01-02T03:04:05+", ""},
		{"2026-01-02T03:04:05 junk", ""},
		{"2026-1-2", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := scene.ParsePyISO(tt.in)
		s := ""
		if ok {
			s = got.UTC().Format(time.RFC3339Nano)
		}
		if s != tt.want {
			t.Errorf("ParsePyISO(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}
