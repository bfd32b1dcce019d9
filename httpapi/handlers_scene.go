package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/scene"
)

func sceneRef(r *http.Request) scene.Ref {
	return scene.Ref{Project: r.PathValue("project"), Episode: r.PathValue("episode"), Batch: r.PathValue("batch")}
}

// ETag returns the version tag of a scene whose active version is v,
// "v": as If-Match, a status patch's precondition on the version alone
// (the patch merges onto whatever body v has by then), or a runner save's
// of a batch with no body yet.
func ETag(v int) string { return `"` + strconv.Itoa(v) + `"` }

// BodyETag returns the ETag of a scene body: "v-revision", its active
// version and its revision (scene.Revision, the sha256 of its bytes), so
// it changes with every save, a status save included.
func BodyETag(v int, revision string) string {
	if revision == "" {
		return ETag(v)
	}
	return `"` + strconv.Itoa(v) + "-" + revision + `"`
}

// ifMatch reads what a status write was prepared against: the version,
// and the body revision when If-Match is a body ETag (full). 428 without
// If-Match, 400 when it is neither form.
func ifMatch(r *http.Request) (v int, revision string, full bool, err error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, "", false, withStatus(http.StatusPreconditionRequired,
			settle.Errorf(settle.InvalidInput, "If-Match is required: send the ETag of the scene the change was prepared against"))
	}
	if strings.HasPrefix(h, "W/") {
		return 0, "", false, settle.Errorf(settle.InvalidInput, "If-Match %s: a weak ETag never matches; send the strong ETag", h)
	}
	bad := settle.Errorf(settle.InvalidInput, "If-Match %s: want the ETag of a scene body, like \"3-<revision>\", or of its version, like \"3\"", h)
	if len(h) < 2 || h[0] != '"' || h[len(h)-1] != '"' {
		return 0, "", false, bad
	}
	t := h[1 : len(h)-1]
	vt, rev, full := strings.Cut(t, "-")
	v, err = strconv.Atoi(vt)
	if err != nil || v <= 0 || strconv.Itoa(v) != vt {
		return 0, "", false, bad
	}
	if full && !isRevision(rev) {
		return 0, "", false, bad
	}
	return v, rev, full, nil
}

// isRevision reports whether s is a revision: 64 lower-case hex digits.
func isRevision(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// statusWriter is the store's scene.CondWriter (the file and PostgreSQL
// stores; without it status writes are 501) and the condition of r's
// status write: what If-Match names (ifMatch; full for a body ETag) and
// whether the caller may create the scene (mayCreate).
func (s *Server) statusWriter(r *http.Request) (cw scene.CondWriter, c scene.Cond, full bool, err error) {
	v, rev, full, err := ifMatch(r)
	if err != nil {
		return nil, scene.Cond{}, false, err
	}
	cw, ok := s.scenes.(scene.CondWriter)
	if !ok {
		return nil, scene.Cond{}, false, withStatus(http.StatusNotImplemented, settle.Errorf(settle.InvalidInput, "this scene store has no conditional status writes"))
	}
	return cw, scene.Cond{Version: v, Revision: rev, NoCreate: !mayCreate(r)}, full, nil
}

// mayCreate reports whether the caller's status writes may create a
// scene (the seed's cold start): only an operator's. A runner writes the
// status of scenes that exist; a write to a missing one is 404.
func mayCreate(r *http.Request) bool { return principalOf(r).Role == RoleOperator }

// sceneJSON is a scene's JSON tree (unknown members kept).
func sceneJSON(sc *scene.Scene) (json.RawMessage, error) {
	if sc == nil {
		return json.RawMessage("null"), nil
	}
	b, err := sc.ToTree().MarshalJSON()
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "encode scene")
	}
	return b, nil
}

// readSceneBody decodes the request's body into body and parses the scene
// at raw, one of its members.
func readSceneBody(r *http.Request, body any, raw *json.RawMessage) (*scene.Scene, error) {
	if err := decodeJSON(r, body); err != nil {
		return nil, err
	}
	return parseScene(*raw)
}

// parseScene decodes a scene from a request.
func parseScene(raw json.RawMessage) (*scene.Scene, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, settle.Errorf(settle.InvalidInput, "scene is required")
	}
	return scene.DecodeInput(raw)
}

func writeLoaded(w http.ResponseWriter, l scene.Loaded, etag bool) error {
	tree, err := sceneJSON(l.Scene)
	if err != nil {
		return err
	}
	if etag {
		w.Header().Set("ETag", BodyETag(l.Version, l.Revision))
	}
	writeJSON(w, http.StatusOK, SceneBody{Version: l.Version, Fingerprint: l.Fingerprint, Revision: l.Revision, Scene: tree})
	return nil
}

// sceneEvent fills the common fields of a scene event.
func sceneEvent(r *http.Request, ref scene.Ref, version int) SceneEventData {
	return derive.SceneEvent(ref, version, principalOf(r).Name)
}

func (s *Server) emitScene(ctx context.Context, typ string, d SceneEventData) error {
	_, err := s.derive.Scene(ctx, typ, d)
	return err
}

// afterSceneWrite emits the event of a done scene write; a failure is a
// 503 whose message says the write itself was done.
func (s *Server) afterSceneWrite(ctx context.Context, typ string, d SceneEventData) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.emitScene(ctx, typ, d); err != nil {
		return settle.Wrap(settle.Unavailable, err, "the scene write was done but its %s event failed", typ)
	}
	return nil
}

// afterStatusSave emits the events of a done status save
// (derive.Deriver.StatusSaved); a failure is a 503 whose message says the
// save itself was done.
func (s *Server) afterStatusSave(ctx context.Context, d SceneEventData, created bool) error {
	if err := s.derive.StatusSaved(context.WithoutCancel(ctx), d, created); err != nil {
		return settle.Wrap(settle.Unavailable, err, "the status save was done but its events failed")
	}
	return nil
}

// statusSave runs a status save of the request's scene through save,
// announces it (via names the route) and answers with the body saved.
func (s *Server) statusSave(w http.ResponseWriter, r *http.Request, via string,
	save func(ctx context.Context, ref scene.Ref) (scene.Loaded, error)) error {
	ref := sceneRef(r)
	defer s.derive.SceneWriting(ref)()
	l, err := save(r.Context(), ref)
	if err != nil {
		return err
	}
	d := sceneEvent(r, ref, l.Version)
	d.Fingerprint, d.Via, d.Revision, d.Stamp = l.Fingerprint, via, l.Revision, l.Stamp
	if err := s.afterStatusSave(r.Context(), d, l.Created); err != nil {
		return err
	}
	return writeLoaded(w, l, true)
}

// activate moves ref's active pointer to version (if the active version
// is expected, when expected > 0) and returns the stamp of the manifest
// written, when the store has one (scene.StampedActivator).
func (s *Server) activate(ctx context.Context, ref scene.Ref, version, expected int) (string, error) {
	if sa, ok := s.scenes.(scene.StampedActivator); ok {
		return sa.ActivateStamped(ctx, ref, version, expected)
	}
	if ca, ok := s.scenes.(scene.CondActivator); ok {
		return "", ca.ActivateIf(ctx, ref, version, expected)
	}
	if expected > 0 {
		return "", settle.Errorf(settle.InvalidInput, "this store cannot activate conditionally: send no If-Match")
	}
	return "", s.scenes.Activate(ctx, ref, version)
}

func (s *Server) handleSceneList(w http.ResponseWriter, r *http.Request) error {
	names, err := s.scenes.List(r.Context(), r.PathValue("project"), r.PathValue("episode"))
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, ListBody{Scenes: names})
	return nil
}

func (s *Server) handleSceneLoad(w http.ResponseWriter, r *http.Request) error {
	l, err := s.scenes.Load(r.Context(), sceneRef(r))
	if err != nil {
		return err
	}
	return writeLoaded(w, l, true)
}

func (s *Server) handleSceneLoadVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v <= 0 {
		return settle.Errorf(settle.InvalidInput, "version %q: want a positive integer", r.PathValue("version"))
	}
	l, err := s.scenes.LoadVersion(r.Context(), sceneRef(r), v)
	if err != nil {
		return err
	}
	return writeLoaded(w, l, false)
}

func (s *Server) handleSceneVersions(w http.ResponseWriter, r *http.Request) error {
	ref := sceneRef(r)
	vs, err := s.scenes.Versions(r.Context(), ref)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []scene.VersionInfo{}
	}
	writeJSON(w, http.StatusOK, VersionsBody{BatchID: ref.Batch, Versions: vs})
	return nil
}

func (s *Server) handleScenePatch(w http.ResponseWriter, r *http.Request) error {
	cw, c, full, err := s.statusWriter(r)
	if err != nil {
		return err
	}
	// A version tag lets the patch merge onto the latest body; a body
	// ETag holds it to that body.
	c.AnyRevision = !full
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json-patch+json") && !strings.HasPrefix(ct, "application/json") {
		return withStatus(http.StatusUnsupportedMediaType,
			settle.Errorf(settle.InvalidInput, "content type %q: send an RFC 6902 patch as application/json-patch+json", ct))
	}
	patch, err := readBody(r)
	if err != nil {
		return err
	}
	return s.statusSave(w, r, "patch", func(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
		return cw.PatchStatusIf(ctx, ref, c, patch)
	})
}

func (s *Server) handleSceneSaveRunner(w http.ResponseWriter, r *http.Request) error {
	// A runner save replaces a beat's takes: it is held to the body it was
	// based on, and a version tag alone names no body (a cold start).
	cw, c, _, err := s.statusWriter(r)
	if err != nil {
		return err
	}
	var body ScenePut
	sc, err := readSceneBody(r, &body, &body.Scene)
	if err != nil {
		return err
	}
	return s.statusSave(w, r, "runner", func(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
		return cw.SaveRunnerIf(ctx, ref, c, sc)
	})
}

func (s *Server) handleSceneRecoverStale(w http.ResponseWriter, r *http.Request) error {
	var body RecoverStaleBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	older := scene.DefaultStaleAge
	if body.OlderThan != "" {
		d, err := time.ParseDuration(body.OlderThan)
		if err != nil || d <= 0 {
			return settle.Errorf(settle.InvalidInput, "older_than %q: want a positive duration like \"5m\"", body.OlderThan)
		}
		older = d
	}
	now := time.Now()
	if body.Now != "" {
		t, err := time.Parse(time.RFC3339Nano, body.Now)
		if err != nil {
			return settle.Errorf(settle.InvalidInput, "now %q: want an RFC 3339 time", body.Now)
		}
		now = t
	}
	ref := sceneRef(r)
	defer s.derive.SceneWriting(ref)()
	n, l, err := scene.RecoverStaleIn(r.Context(), s.scenes, ref, older, now)
	if err != nil {
		return err
	}
	if n > 0 {
		d := sceneEvent(r, ref, l.Version)
		d.Fingerprint, d.Via, d.Stale, d.Revision, d.Stamp = l.Fingerprint, "recover_stale", n, l.Revision, l.Stamp
		if err := s.afterSceneWrite(r.Context(), event.SceneStatusSaved, d); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, RecoverStaleResult{BatchID: ref.Batch, Stale: n})
	return nil
}

func (s *Server) handleSceneCandidate(w http.ResponseWriter, r *http.Request) error {
	var body CandidateBody
	sc, err := readSceneBody(r, &body, &body.Scene)
	if err != nil {
		return err
	}
	ref := sceneRef(r)
	defer s.derive.SceneWriting(ref)()
	var v int
	var stamp string
	if sa, ok := s.scenes.(scene.StampedActivator); ok {
		v, stamp, err = sa.WriteCandidateStamped(r.Context(), ref, sc, body.Reason, body.Activate)
	} else {
		v, err = s.scenes.WriteCandidate(r.Context(), ref, sc, body.Reason, body.Activate)
	}
	if err != nil {
		return err
	}
	d := sceneEvent(r, ref, v)
	d.Fingerprint, d.Activated, d.Reason, d.Revision = scene.Fingerprint(sc), body.Activate, body.Reason, derive.BodyRevision(sc)
	created, err := s.derive.Scene(r.Context(), event.SceneVersionCreated, d)
	if err != nil {
		return settle.Wrap(settle.Unavailable, err, "candidate version %d was stored but its event failed", v)
	}
	if body.Activate {
		a := sceneEvent(r, ref, v)
		a.Stamp = stamp
		if err := s.afterSceneWrite(r.Context(), event.SceneActivated, a); err != nil {
			return err
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, CandidateResult{BatchID: ref.Batch, Version: v, Fingerprint: d.Fingerprint, Activated: body.Activate, Created: created})
	return nil
}

func (s *Server) handleSceneActivate(w http.ResponseWriter, r *http.Request) error {
	var body ActivateBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Version <= 0 {
		return settle.Errorf(settle.InvalidInput, "version must be a positive integer")
	}
	ref := sceneRef(r)
	// An optional If-Match (the scene's ETag, or its version's) makes the
	// move conditional on the active version, checked with the move.
	expected := 0
	if r.Header.Get("If-Match") != "" {
		v, _, _, err := ifMatch(r)
		if err != nil {
			return err
		}
		expected = v
	}
	defer s.derive.SceneWriting(ref)()
	stamp, err := s.activate(r.Context(), ref, body.Version, expected)
	if err != nil {
		return err
	}
	a := sceneEvent(r, ref, body.Version)
	a.Stamp = stamp
	if err := s.afterSceneWrite(r.Context(), event.SceneActivated, a); err != nil {
		return err
	}
	// The ETag of the body now active, unless another activation came
	// in between.
	if l, err := s.scenes.Load(r.Context(), ref); err == nil && l.Version == body.Version {
		w.Header().Set("ETag", BodyETag(l.Version, l.Revision))
	}
	writeJSON(w, http.StatusOK, ActivateResult{BatchID: ref.Batch, ActiveVersion: body.Version})
	return nil
}

func (s *Server) handleSceneInit(w http.ResponseWriter, r *http.Request) error {
	var body InitBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	plan, err := scene.DecodePlan(body.Plan)
	if err != nil {
		return err
	}
	maxTakes := scene.DefaultMaxTakes
	if body.MaxTakes != nil {
		maxTakes = *body.MaxTakes
	}
	project, episode := r.PathValue("project"), r.PathValue("episode")
	res, err := s.scenes.InitFromPlan(r.Context(), project, episode, plan, maxTakes, body.DryRun)
	if err != nil {
		return err
	}
	out := InitResultBody{DryRun: body.DryRun, Scenes: []InitScene{}}
	for _, ir := range res {
		tree, err := sceneJSON(ir.Scene)
		if err != nil {
			return err
		}
		is := InitScene{Batch: ir.Batch, Created: ir.Created, Scene: tree}
		if ir.Scene != nil {
			is.Beats = len(ir.Scene.Beats)
			is.Fingerprint = scene.Fingerprint(ir.Scene)
		}
		out.Scenes = append(out.Scenes, is)
		if !body.DryRun && ir.Created {
			d := sceneEvent(r, scene.Ref{Project: project, Episode: episode, Batch: ir.Batch}, 1)
			d.Fingerprint, d.Reason, d.Revision = is.Fingerprint, "init from plan", derive.BodyRevision(ir.Scene)
			if err := s.afterSceneWrite(r.Context(), event.SceneVersionCreated, d); err != nil {
				return err
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GuardedSaver is a scene store with the seed's save_scene_guarded (the
// file and PostgreSQL stores): PUT .../scenes/{batch}/flat.
type GuardedSaver interface {
	SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error
}

// handleSceneSaveGuarded writes a batch's flat body unless the existing
// one is locked (423 SCENE_LOCKED, nothing written).
func (s *Server) handleSceneSaveGuarded(w http.ResponseWriter, r *http.Request) error {
	gs, ok := s.scenes.(GuardedSaver)
	if !ok {
		return withStatus(http.StatusNotImplemented, settle.Errorf(settle.InvalidInput, "this scene store has no guarded save"))
	}
	var body ScenePut
	sc, err := readSceneBody(r, &body, &body.Scene)
	if err != nil {
		return err
	}
	ref := sceneRef(r)
	if err := gs.SaveGuarded(r.Context(), ref, sc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SavedResult{BatchID: ref.Batch, Fingerprint: scene.Fingerprint(sc)})
	return nil
}
