package httpapi

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestUIDiffBeats(t *testing.T) {
	before := []map[string]any{
		{"beat_id": "A", "max_takes": 3, "takes": []any{}},
		{"beat_id": "B", "max_takes": 3, "takes": []any{}},
		{"beat_id": "C", "max_takes": 3},
	}
	after := []map[string]any{
		{"beat_id": "A", "max_takes": 3, "takes": []any{}},
		{"beat_id": "B", "max_takes": 4, "takes": []any{map[string]any{"take_id": "t"}}},
		{"beat_id": "D"},
	}
	got := diffBeats(before, after)
	want := []uiBeatChange{
		{BeatID: "B", Kind: "changed", Fields: []string{"max_takes", "takes"}},
		{BeatID: "D", Kind: "added"},
		{BeatID: "C", Kind: "removed"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diffBeats:\n got %+v\nwant %+v", got, want)
	}
}

func TestUICheckOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, referer string
		ok              bool
	}{
		{"http://h:1", "", true},
		{"", "http://h:1/ui/scenes", true},
		{"", "", true}, // not a browser's cross-site post: the CSRF token decides
		{"http://evil:1", "", false},
		{"http://h:2", "", false},
		{"null", "", false},
		{"", "http://evil/ui/", false},
	} {
		r := &http.Request{Host: "h:1", Header: http.Header{}}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.referer != "" {
			r.Header.Set("Referer", c.referer)
		}
		if err := checkOrigin(r); (err == nil) != c.ok {
			t.Errorf("origin %q referer %q: %v", c.origin, c.referer, err)
		}
	}
}

func TestUIParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"10m": 10 * time.Minute, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1h", "0d", "1.5d"} {
		if _, err := parseAge(bad); err == nil {
			t.Errorf("parseAge(%q) accepted", bad)
		}
	}
}
