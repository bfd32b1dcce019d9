package postgres_test

import (
	"testing"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/writeback"
)

// TestPostgresPostOnce: posted events keep their order before a later
// append, a key posted twice is appended once, and Close commits what
// is still queued.
func TestPostgresPostOnce(t *testing.T) {
	schema := newSchema(t)
	s := openStore(t, schema, writeback.Config{})
	for _, k := range []string{"k1", "k2", "k2"} {
		if err := s.PostOnce(ctx, k, event.WritebackRecorded, map[string]string{"k": k}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := s.Append(ctx, event.BatchSettled, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Key != "k1" || evs[1].Key != "k2" || evs[2].ID != last.ID || evs[2].Type != event.BatchSettled {
		t.Fatalf("events %+v", evs)
	}
	if err := s.PostOnce(ctx, "", event.WritebackRecorded, nil); err == nil {
		t.Fatal("a post without a key was accepted")
	}
	// Posted, then closed at once: the event is committed by Close.
	if err := s.PostOnce(ctx, "k3", event.WritebackRecorded, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := openStore(t, schema, writeback.Config{})
	evs, err = again.Since(ctx, last.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Key != "k3" {
		t.Fatalf("after close: %+v", evs)
	}
}
