package derive

import (
	"context"
	"encoding/json"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/scene"
)

// SceneSource is a scene store's files as a follower reads them (the file
// store's SceneScanner, PostgreSQL's over its rows).
type SceneSource interface {
	// Scan returns the version bodies written since the previous Scan
	// (every body on the first).
	Scan(ctx context.Context) ([]scene.BodyState, error)
}

// ManifestSource is a SceneSource that also reports the manifests its
// last Scan read (both SceneScanners): FollowScenes announces
// the activations among them.
type ManifestSource interface {
	SceneSource
	// Manifests returns the manifests the last Scan read: those written
	// since the Scan before it (all of them on the first).
	Manifests() []scene.ManifestState
}

// SceneGrace is how long FollowScenes leaves a body it found changed to
// the settle writer that may have written it, whose own event carries the
// writer's principal and the kind of save; either way the event is keyed
// and appended once.
const SceneGrace = 100 * time.Millisecond

// GraceSource is a SceneSource whose writers may take longer than
// SceneGrace to announce their writes (writers of other servers, whose
// event follows their commit by a round trip and a group commit): a body
// or manifest it reports is left to them that long.
type GraceSource interface {
	SceneSource
	Grace() time.Duration
}

// bodyKey names a version of a batch.
type bodyKey struct {
	project, episode, batch string
	version                 int
}

type pendingBody struct {
	b     scene.BodyState
	since time.Time
}

// batchKey names a batch (its episode canonical).
type batchKey struct{ project, episode, batch string }

type pendingManifest struct {
	m     scene.ManifestState
	since time.Time
}

// FollowScenes derives, until ctx ends, the scene events of the version
// bodies that other tools write (the seed's persistence.py, a settle
// process that died before its event): a body of a version the log has no
// scene.version_created for gets it; a body that changed gets
// scene.status_saved, keyed by the save (StatusSavedKey), the key settle's
// own writers use, so a save is announced once whoever announces it, by
// any number of followers, across restarts. The first time it sees a
// version's body (at start), FollowScenes compares it with the version's
// scene.version_created: a file not newer than that event, with the
// revision it announced, is the version as created; any other was saved
// since and is announced (once, keyed; also when the creation event was
// removed by the retention policy).
//
// With a ManifestSource, FollowScenes announces activations too: a
// manifest written since the last read whose active version is not the
// batch's last announced one (the last scene.activated in the log, or
// this follower's; the first version when there is none) gets
// scene.activated, keyed by the version and the manifest's stamp
// (ActivatedKey), the key settle's own activations use.
//
// Saves that follow each other before the follower reads the body (two
// saves within one scan, or saves while no server runs) are announced as
// one, the last; so are activations, and activations that end where
// they began are not seen. A body is derived SceneGrace (or the
// GraceSource's grace) after it is found changed, and not while a writer
// of this process holds its batch (SceneWriting).
// FollowScenes reads the files every interval (0 =
// DefaultFollowInterval) and at once when poke delivers; a failed step is
// logged and retried.
func (d *Deriver) FollowScenes(ctx context.Context, src SceneSource, interval time.Duration, poke <-chan struct{}) error {
	if interval <= 0 {
		interval = DefaultFollowInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	grace := SceneGrace
	if g, ok := src.(GraceSource); ok {
		grace = max(grace, g.Grace())
	}
	f := d.sceneFollower(src, grace)
	st := followState{log: d.log, what: "the scene files"}
	for {
		due, err := f.step(ctx, time.Now())
		st.step(ctx, err)
		var soon <-chan time.Time
		var timer *time.Timer
		if due >= 0 {
			timer = time.NewTimer(due)
			soon = timer.C
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-poke:
		case <-soon:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// SceneWriting tells FollowScenes that a settle writer of this process
// is writing ref's batch and announces its write itself: the batch's
// bodies are left to it until done is called (after its event). A
// server's handlers call it so that their own event, with their answer
// (201 for a new version), is never the follower's.
func (d *Deriver) SceneWriting(ref scene.Ref) (done func()) {
	k := writingKey(ref)
	d.wmu.Lock()
	d.writing[k]++
	d.wmu.Unlock()
	return func() {
		d.wmu.Lock()
		if d.writing[k]--; d.writing[k] <= 0 {
			delete(d.writing, k)
		}
		d.wmu.Unlock()
	}
}

func (d *Deriver) sceneBusy(ref scene.Ref) bool {
	k := writingKey(ref)
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return d.writing[k] > 0
}

// writingKey names a batch whatever form its episode is given in.
func writingKey(ref scene.Ref) string {
	ep := ref.Episode
	if c, err := scene.CanonicalEpisode(ep); err == nil {
		ep = c
	}
	return ref.Project + "/" + ep + "/" + ref.Batch
}

// sceneFollower is FollowScenes' state between steps.
type sceneFollower struct {
	d       *Deriver
	src     SceneSource
	grace   time.Duration
	pending map[bodyKey]pendingBody // found changed, not derived yet
	known   map[bodyKey]bool        // versions derived since the start

	manifests map[batchKey]pendingManifest // read, not compared yet
	// announced is each batch's last announced active version, from the
	// scene.activated events of the log (read up to cursor) and this
	// follower's comparisons.
	announced map[batchKey]int
	cursor    int64
	tailed    bool // cursor is set
}

func (d *Deriver) sceneFollower(src SceneSource, grace time.Duration) *sceneFollower {
	return &sceneFollower{d: d, src: src, grace: grace, pending: map[bodyKey]pendingBody{}, known: map[bodyKey]bool{},
		manifests: map[batchKey]pendingManifest{}, announced: map[batchKey]int{}}
}

// step scans the files and derives the bodies found changed at least the
// grace before now; it returns how long until the next one is due (-1:
// none pending).
func (f *sceneFollower) step(ctx context.Context, now time.Time) (time.Duration, error) {
	bodies, err := f.src.Scan(ctx)
	if err != nil {
		return -1, err
	}
	for _, b := range bodies {
		f.pending[bodyKey{b.Ref.Project, b.Ref.Episode, b.Ref.Batch, b.Version}] = pendingBody{b: b, since: now}
	}
	if ms, ok := f.src.(ManifestSource); ok {
		for _, m := range ms.Manifests() {
			f.manifests[batchKey{m.Ref.Project, m.Ref.Episode, m.Ref.Batch}] = pendingManifest{m: m, since: now}
		}
	}
	due := time.Duration(-1)
	n := 0
	for k, p := range f.pending {
		if f.waiting(now, p.since, p.b.Ref, &due) {
			continue
		}
		if err := f.d.deriveBody(ctx, p.b, f.known[k]); err != nil {
			return -1, err
		}
		delete(f.pending, k)
		f.known[k] = true
		n++
	}
	if n > 0 {
		f.d.log.Debug("scene bodies followed", "bodies", n)
	}
	// After the bodies: a new version's creation is announced before
	// its activation.
	tailed := false
	for k, p := range f.manifests {
		if f.waiting(now, p.since, p.m.Ref, &due) {
			continue
		}
		if !tailed {
			if err := f.tail(ctx); err != nil {
				return -1, err
			}
			tailed = true
		}
		if err := f.compare(ctx, k, p.m); err != nil {
			return -1, err
		}
		delete(f.manifests, k)
	}
	return due, nil
}

// waiting reports whether an entry of ref seen changed at since still
// waits: for the grace, and longer while its scene is busy. due becomes
// the nearest wait (-1: none yet).
func (f *sceneFollower) waiting(now, since time.Time, ref scene.Ref, due *time.Duration) bool {
	wait := f.grace - now.Sub(since)
	if wait <= 0 && f.d.sceneBusy(ref) {
		wait = max(f.grace, 10*time.Millisecond)
	}
	if wait <= 0 {
		return false
	}
	if *due < 0 || wait < *due {
		*due = wait
	}
	return true
}

// compare announces m's active version if it is not the batch's last
// announced one.
func (f *sceneFollower) compare(ctx context.Context, k batchKey, m scene.ManifestState) error {
	last, ok := f.announced[k]
	if !ok {
		last = 1 // a batch's first version is active on creation
	}
	if m.Active <= 0 || m.Active == last {
		return nil
	}
	data := SceneEventData{Project: k.project, Episode: k.episode, Batch: k.batch, Version: m.Active, Stamp: m.Stamp}
	if _, err := f.d.Scene(ctx, event.SceneActivated, data); err != nil {
		return err
	}
	f.announced[k] = m.Active
	return nil
}

// tailPage bounds the events one read of the log returns.
const tailPage = 5000

// tail reads the events appended since the last tail (from the retention
// floor on the first) and takes each batch's last announced activation
// from their scene.activated events.
func (f *sceneFollower) tail(ctx context.Context) error {
	if !f.tailed {
		if fl, ok := f.d.events.(event.Floorer); ok {
			floor, err := fl.Floor(ctx)
			if err != nil {
				return err
			}
			f.cursor = floor
		}
		f.tailed = true
	}
	for {
		evs, err := f.d.events.Since(ctx, f.cursor, tailPage)
		if settle.ErrorCode(err) == settle.Compacted {
			// Removed by the retention policy meanwhile: what they
			// said is lost, the keys of what they announced are not.
			fl, ok := f.d.events.(event.Floorer)
			if !ok {
				return err
			}
			floor, ferr := fl.Floor(ctx)
			if ferr != nil {
				return ferr
			}
			if floor <= f.cursor {
				return err
			}
			f.cursor = floor
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range evs {
			f.cursor = ev.ID
			if ev.Type != event.SceneActivated {
				continue
			}
			var a SceneEventData
			if json.Unmarshal(ev.Data, &a) != nil || a.Version <= 0 {
				continue
			}
			ep := a.Episode
			if c, err := scene.CanonicalEpisode(ep); err == nil {
				ep = c
			}
			f.announced[batchKey{a.Project, ep, a.Batch}] = a.Version
		}
		if len(evs) == 0 {
			return nil
		}
	}
}

// deriveBody appends the events a body found changed lacks; known says
// whether this follower has derived the version's body before.
func (d *Deriver) deriveBody(ctx context.Context, b scene.BodyState, known bool) error {
	data := SceneEventData{Project: b.Ref.Project, Episode: b.Ref.Episode, Batch: b.Ref.Batch, Version: b.Version,
		Fingerprint: b.Fingerprint, Revision: b.Revision}
	created := data
	created.Reason = b.Reason
	created.Activated = b.Active && b.Version > 1
	ev, appended, err := d.events.AppendOnce(ctx, VersionCreatedKey(data), event.SceneVersionCreated, created)
	if err != nil || appended {
		return err
	}
	if !known && asCreated(ev, b) {
		return nil
	}
	data.Stamp = b.Stamp
	key := StatusSavedKey(data)
	if key == "" {
		return nil // no stamp: nothing to key the save by
	}
	_, _, err = d.events.AppendOnce(ctx, key, event.SceneStatusSaved, data)
	return err
}

// asCreated reports whether b is the body the version's creation event ev
// announced: the file is not newer than the event and, when the event
// says, has the revision it announced. A creation event removed by the
// retention policy says nothing: the body is taken as saved since.
func asCreated(ev event.Event, b scene.BodyState) bool {
	if ev.Time.IsZero() || b.ModTime.After(ev.Time) {
		return false
	}
	var c SceneEventData
	if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &c) != nil {
		return false
	}
	return c.Revision == "" || c.Revision == b.Revision
}

// BodyRevision is the revision of the body a settle writer stores for sc
// as a new version ("" if it does not encode), for the data of its
// scene.version_created.
func BodyRevision(sc *scene.Scene) string {
	body, err := scene.EncodeBody(sc)
	if err != nil {
		return ""
	}
	return scene.Revision(body)
}
