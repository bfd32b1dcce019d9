package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
)

// EventTypes are the types GET /v1/events streams.
var EventTypes = []string{
	event.WritebackRecorded, event.WritebackRefused, event.BatchSettled,
	event.SceneVersionCreated, event.SceneActivated, event.SceneStatusSaved,
}

// sseBatch is how many events one read of the log returns.
const sseBatch = 500

// handleEvents streams the event log as Server-Sent Events: every event
// after Last-Event-ID (or ?after=N; default 0: from the start), in id
// order, then new events as they are appended, with a comment line every
// Heartbeat. Each message is "id: N", "event: TYPE" and "data: " the event
// as one JSON line. ?types=a,b keeps only those types. A client that
// reconnects with the last id it saw misses nothing, also across server
// restarts (the ids are the durable log's). Where the log has a retention
// floor (event.Floorer), a stream without a resume point (or from 0) starts at it,
// and a resume point below it is refused 410 COMPACTED before the stream
// starts: the client re-syncs from the ledger and the batch statuses, never
// silently skipping the removed events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "after" && k != "types" {
			return settle.Errorf(settle.InvalidInput, "unknown query parameter %q", k)
		}
	}
	var after int64
	idText := r.Header.Get("Last-Event-ID")
	if idText == "" {
		idText = q.Get("after")
	}
	if idText != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
		if err != nil || n < 0 {
			return settle.Errorf(settle.InvalidInput, "Last-Event-ID/after %q: want an event id", idText)
		}
		after = n
	}
	if f, ok := s.events.(event.Floorer); ok {
		floor, err := f.Floor(r.Context())
		if err != nil {
			return err
		}
		switch {
		case after == 0:
			// No resume point: the client starts from what is retained.
			after = floor
		case after < floor:
			return event.CompactedError(after, floor)
		}
	}
	var only map[string]bool
	if t := q.Get("types"); t != "" {
		only = map[string]bool{}
		for _, typ := range strings.Split(t, ",") {
			known := false
			for _, k := range EventTypes {
				known = known || k == typ
			}
			if !known {
				return settle.Errorf(settle.InvalidInput, "types: unknown event type %q", typ)
			}
			only[typ] = true
		}
	}

	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts: clear them
	// and set a write deadline per write instead.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	bw.WriteString(": settle events\nretry: 2000\n\n")
	if err := flush(); err != nil {
		return err
	}
	s.met.sseClients.Inc()
	defer s.met.sseClients.Dec()

	ctx := r.Context()
	hb := time.NewTicker(s.opts.Heartbeat)
	defer hb.Stop()
	for {
		evs, err := s.events.Since(ctx, after, sseBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range evs {
			after = ev.ID
			if only != nil && !only[ev.Type] {
				continue
			}
			line, err := json.Marshal(ev)
			if err != nil {
				return settle.Wrap(settle.Internal, err, "encode event %d", ev.ID)
			}
			bw.WriteString("id: ")
			bw.WriteString(strconv.FormatInt(ev.ID, 10))
			bw.WriteString("\nevent: ")
			bw.WriteString(ev.Type)
			bw.WriteString("\ndata: ")
			bw.Write(line)
			bw.WriteString("\n\n")
		}
		if len(evs) > 0 {
			if err := flush(); err != nil {
				return nil // the client went away
			}
			if len(evs) == sseBatch {
				continue
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		ch := s.events.Wait(wctx, after)
		select {
		case <-ch:
			cancel()
		case <-hb.C:
			cancel()
			bw.WriteString(": ping\n\n")
			if err := flush(); err != nil {
				return nil
			}
		case <-ctx.Done():
			cancel()
			return nil
		case <-s.streams.Done():
			cancel()
			return nil
		}
	}
}
