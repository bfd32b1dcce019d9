package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/scene"
)

type uiEpisode struct {
	Project, Episode string
	Batches          []string
}

type uiScenes struct {
	Episodes         []uiEpisode
	Project, Episode string
	Listed           []scene.Ref
	Unsupported      bool
	Err              string
}

// scenesPage lists projects, episodes and scenes (every scene when the
// store can list them, else those of the episode the form names).
func (u *uiState) scenesPage(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	q := r.URL.Query()
	d := uiScenes{Project: q.Get("project"), Episode: q.Get("episode")}
	if d.Project != "" && d.Episode != "" {
		names, err := u.s.scenes.List(ctx, d.Project, d.Episode)
		if err != nil {
			d.Err = settle.ErrorMessage(err)
		}
		d.Listed = scene.RefsOfNames(d.Project, names)
	}
	lister, ok := u.s.scenes.(scene.Lister)
	if !ok {
		d.Unsupported = true
		return u.render(w, r, ss, http.StatusOK, "scenes", d)
	}
	refs, err := lister.Refs(ctx)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	for _, ref := range refs {
		n := len(d.Episodes)
		if n == 0 || d.Episodes[n-1].Project != ref.Project || d.Episodes[n-1].Episode != ref.Episode {
			d.Episodes = append(d.Episodes, uiEpisode{Project: ref.Project, Episode: ref.Episode})
			n++
		}
		d.Episodes[n-1].Batches = append(d.Episodes[n-1].Batches, ref.Batch)
	}
	return u.render(w, r, ss, http.StatusOK, "scenes", d)
}

// uiCell is one take of the beats × takes grid.
type uiCell struct {
	TakeID, Status string
}

type uiGridRow struct {
	BeatID string
	Cells  []uiCell
}

// uiBeatChange is a beat of a structural diff.
type uiBeatChange struct {
	BeatID string
	Kind   string // added, removed, changed
	Fields []string
}

type uiScenePage struct {
	Ref           scene.Ref
	Base          string
	Versions      []scene.VersionInfo
	Active        int
	Fingerprint   string
	SceneID       string
	Columns       []int
	Grid          []uiGridRow
	A, B          int
	Diff          []uiBeatChange
	Diffed        bool
	DiffErr       string
	Notice        string
	Refusal       string
	RefusalStatus int
}

func uiSceneRef(r *http.Request) scene.Ref {
	return scene.Ref{Project: r.PathValue("project"), Episode: r.PathValue("episode"), Batch: r.PathValue("batch")}
}

func uiSceneBase(ref scene.Ref) string {
	return "/ui/scenes/" + url.PathEscape(ref.Project) + "/" + url.PathEscape(ref.Episode) + "/" + url.PathEscape(ref.Batch)
}

func (u *uiState) scenePage(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	d := uiScenePage{Ref: uiSceneRef(r)}
	q := r.URL.Query()
	if v := q.Get("activated"); v != "" {
		d.Notice = "Version " + v + " is now active."
	}
	d.A, _ = strconv.Atoi(q.Get("a"))
	d.B, _ = strconv.Atoi(q.Get("b"))
	return u.renderScene(w, r, ss, d, http.StatusOK)
}

// renderScene fills a scene page: versions, the active body's grid and,
// when two versions are chosen, their structural diff.
func (u *uiState) renderScene(w http.ResponseWriter, r *http.Request, ss *uiSession, d uiScenePage, status int) error {
	ctx, cancel := uiContext(r)
	defer cancel()
	d.Base = uiSceneBase(d.Ref)
	vs, err := u.s.scenes.Versions(ctx, d.Ref)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.Versions = vs
	l, err := u.s.scenes.Load(ctx, d.Ref)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.Active, d.Fingerprint = l.Version, l.Fingerprint
	tree, err := sceneTree(l.Scene)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	d.SceneID, _ = tree["scene_id"].(string)
	d.Grid, d.Columns = takeGrid(tree)
	if d.A > 0 && d.B > 0 {
		d.Diffed = true
		d.Diff, err = u.versionDiff(r, d.Ref, d.A, d.B)
		if err != nil {
			d.DiffErr = settle.ErrorMessage(err)
		}
	} else if len(vs) >= 2 {
		d.A, d.B = vs[len(vs)-2].Version, vs[len(vs)-1].Version
	}
	return u.render(w, r, ss, status, "scene", d)
}

// sceneTree is a scene as decoded JSON (numbers kept as written).
func sceneTree(sc *scene.Scene) (map[string]any, error) {
	raw, err := sceneJSON(sc)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, settle.Wrap(settle.Internal, err, "decode scene")
	}
	return tree, nil
}

func beatsOf(tree map[string]any) []map[string]any {
	list, _ := tree["beats"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, b := range list {
		if m, ok := b.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// takeGrid is the beats × takes grid of a body: a row per beat, a column
// per take position.
func takeGrid(tree map[string]any) ([]uiGridRow, []int) {
	var rows []uiGridRow
	width := 0
	for _, b := range beatsOf(tree) {
		row := uiGridRow{BeatID: str(b["beat_id"])}
		takes, _ := b["takes"].([]any)
		for _, t := range takes {
			m, _ := t.(map[string]any)
			row.Cells = append(row.Cells, uiCell{TakeID: str(m["take_id"]), Status: str(m["status"])})
		}
		width = max(width, len(row.Cells))
		rows = append(rows, row)
	}
	for i := range rows {
		for len(rows[i].Cells) < width {
			rows[i].Cells = append(rows[i].Cells, uiCell{})
		}
	}
	cols := make([]int, width)
	for i := range cols {
		cols[i] = i + 1
	}
	return rows, cols
}

// versionDiff compares two versions' beats by beat_id: added, removed,
// and changed with the names of the members that differ.
func (u *uiState) versionDiff(r *http.Request, ref scene.Ref, a, b int) ([]uiBeatChange, error) {
	ctx, cancel := uiContext(r)
	defer cancel()
	la, err := u.s.scenes.LoadVersion(ctx, ref, a)
	if err != nil {
		return nil, err
	}
	lb, err := u.s.scenes.LoadVersion(ctx, ref, b)
	if err != nil {
		return nil, err
	}
	ta, err := sceneTree(la.Scene)
	if err != nil {
		return nil, err
	}
	tb, err := sceneTree(lb.Scene)
	if err != nil {
		return nil, err
	}
	return diffBeats(beatsOf(ta), beatsOf(tb)), nil
}

func diffBeats(before, after []map[string]any) []uiBeatChange {
	old := map[string]map[string]any{}
	for _, b := range before {
		old[str(b["beat_id"])] = b
	}
	var out []uiBeatChange
	seen := map[string]bool{}
	for _, b := range after {
		id := str(b["beat_id"])
		seen[id] = true
		o, ok := old[id]
		if !ok {
			out = append(out, uiBeatChange{BeatID: id, Kind: "added"})
			continue
		}
		var fields []string
		keys := map[string]bool{}
		for k := range o {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		for k := range keys {
			x, _ := json.Marshal(o[k])
			y, _ := json.Marshal(b[k])
			if !bytes.Equal(x, y) {
				fields = append(fields, k)
			}
		}
		if len(fields) > 0 {
			sort.Strings(fields)
			out = append(out, uiBeatChange{BeatID: id, Kind: "changed", Fields: fields})
		}
	}
	for _, b := range before {
		if id := str(b["beat_id"]); !seen[id] {
			out = append(out, uiBeatChange{BeatID: id, Kind: "removed"})
		}
	}
	return out
}

// activate moves a scene's active pointer to the form's version if the
// active version is still the one the page showed (the form's
// "expected", the If-Match of the API): else 412 and the page says who
// moved it. Only an operator may.
func (u *uiState) activate(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	ref := uiSceneRef(r)
	if !allowed(ss.p.Role, []Role{RoleOperator}) {
		return u.errorPage(w, r, ss, settle.Errorf(settle.Forbidden, "principal %q (role %s) may not activate scene versions", ss.p.Name, ss.p.Role))
	}
	version, err1 := strconv.Atoi(r.PostForm.Get("version"))
	expected, err2 := strconv.Atoi(r.PostForm.Get("expected"))
	if err1 != nil || err2 != nil || version <= 0 || expected <= 0 {
		return u.errorPage(w, r, ss, settle.Errorf(settle.InvalidInput, "version and expected must be positive integers"))
	}
	ctx, cancel := uiContext(r)
	defer cancel()
	cur, err := u.s.scenes.Load(ctx, ref)
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	if cur.Version != expected {
		err := settle.Errorf(settle.VersionConflict, "the active version moved: the page showed v%d, the scene is now at v%d; nothing was activated", expected, cur.Version)
		if ri := info(r.Context()); ri != nil {
			ri.err = err
		}
		return u.renderScene(w, r, ss, uiScenePage{Ref: ref, Refusal: errorMessage(err), RefusalStatus: http.StatusPreconditionFailed}, http.StatusPreconditionFailed)
	}
	// The check above answers a stale page at once; a store that can
	// also checks it atomically with the move, so of two operators racing
	// from the same page one gets the 412.
	cond := expected
	if _, ok := u.s.scenes.(scene.CondActivator); !ok {
		cond = 0 // checked above alone
	}
	done := u.s.derive.SceneWriting(ref)
	defer done()
	stamp, err := u.s.activate(ctx, ref, version, cond)
	if settle.ErrorCode(err) == settle.VersionConflict {
		if ri := info(r.Context()); ri != nil {
			ri.err = err
		}
		return u.renderScene(w, r, ss, uiScenePage{Ref: ref, Refusal: errorMessage(err), RefusalStatus: http.StatusPreconditionFailed}, http.StatusPreconditionFailed)
	}
	if err != nil {
		return u.errorPage(w, r, ss, err)
	}
	ev := sceneEvent(r, ref, version)
	ev.Principal, ev.Stamp = ss.p.Name, stamp
	if err := u.s.afterSceneWrite(ctx, event.SceneActivated, ev); err != nil {
		return u.errorPage(w, r, ss, err)
	}
	http.Redirect(w, r, uiSceneBase(ref)+"?activated="+strconv.Itoa(version), http.StatusSeeOther)
	return nil
}
