package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	settle "github.com/settlehq/settle"
)

// The dashboard (docs/dashboard.md) is server-rendered HTML under /ui/:
// html/template escapes every string of a verdict, record or scene, and a
// small script only adds live updates.

//go:embed ui
var uiFS embed.FS

const (
	uiCookie     = "settle_session"
	uiSessionTTL = 12 * time.Hour
	uiPageSize   = 50
)

// uiSession is a signed-in browser: the principal its bearer token named
// and the session's CSRF token.
type uiSession struct {
	p       Principal
	csrf    string
	expires time.Time
}

// uiState is the dashboard's server-side state: the sessions, the page
// templates, the event index and the health sampler.
type uiState struct {
	s      *Server
	pages  map[string]*template.Template
	index  *uiIndex
	health *uiHealth

	mu       sync.Mutex
	sessions map[string]*uiSession
}

func newUI(s *Server) *uiState {
	u := &uiState{s: s, sessions: map[string]*uiSession{}, index: newUIIndex(), health: newUIHealth(s)}
	u.pages = parseUITemplates()
	return u
}

var uiFuncs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return uiAgo(time.Since(t))
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"add": func(a, b int) int { return a + b },
	"pe":  url.PathEscape,
}

// parseUITemplates parses the layout with each page; a broken template
// is a build defect, caught by every UI test.
func parseUITemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(uiFuncs).ParseFS(uiFS, "ui/layout.html", "ui/parts.html"))
	pages := map[string]*template.Template{}
	names, err := fs.Glob(uiFS, "ui/page_*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		t := template.Must(template.Must(base.Clone()).ParseFS(uiFS, n))
		pages[strings.TrimSuffix(strings.TrimPrefix(n, "ui/page_"), ".html")] = t
	}
	return pages
}

func uiAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + " d ago"
	}
}

// mountUI registers the dashboard's routes on mux.
func (s *Server) mountUI(mux *http.ServeMux) {
	u := newUI(s)
	s.ui = u
	static, err := fs.Sub(uiFS, "ui/static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	page := func(pattern string, h func(*uiState, http.ResponseWriter, *http.Request, *uiSession) error) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(pattern, s.wrap(route{method: method, path: path, public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
			return u.serve(w, r, method, h)
		}}))
	}
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.Handle("GET /ui/static/", s.wrap(route{method: "GET", path: "/ui/static/", public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
		return nil
	}}))
	mux.Handle("GET /ui/login", s.wrap(route{method: "GET", path: "/ui/login", public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		return u.loginPage(w, r, "", http.StatusOK)
	}}))
	mux.Handle("POST /ui/login", s.wrap(route{method: "POST", path: "/ui/login", public: true, handle: func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		return u.login(w, r)
	}}))
	page("POST /ui/logout", (*uiState).logout)
	page("GET /ui/{$}", (*uiState).board)
	page("GET /ui/batches/{batch}", (*uiState).batchPage)
	page("GET /ui/batches/{batch}/row", (*uiState).boardRow)
	page("GET /ui/refusals", (*uiState).refusals)
	page("GET /ui/tasks", (*uiState).taskPage)
	page("GET /ui/scenes", (*uiState).scenesPage)
	page("GET /ui/scenes/{project}/{episode}/{batch}", (*uiState).scenePage)
	page("POST /ui/scenes/{project}/{episode}/{batch}/activate", (*uiState).activate)
	page("GET /ui/health", (*uiState).healthPage)
	page("GET /ui/events", (*uiState).eventStream)
	page("GET /ui/", func(u *uiState, w http.ResponseWriter, r *http.Request, ss *uiSession) error {
		return u.errorPage(w, r, ss, settle.Errorf(settle.NotFound, "no page %s", r.URL.Path))
	})
}

// securityHeaders are set on every dashboard response: no inline script
// or style runs, the page is never framed, nothing is cached.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// serve authenticates a page request by its session cookie (a browser
// without one is sent to the sign-in form) and checks every POST for
// cross-site request forgery: the Origin must be this server's and the
// form must carry the session's CSRF token.
func (u *uiState) serve(w http.ResponseWriter, r *http.Request, method string, h func(*uiState, http.ResponseWriter, *http.Request, *uiSession) error) error {
	securityHeaders(w)
	u.health.start()
	ss := u.session(r)
	if ss == nil {
		if method == "GET" && r.URL.Path != "/ui/events" && !strings.HasSuffix(r.URL.Path, "/row") {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		}
		return u.errorPage(w, r, nil, settle.Errorf(settle.Unauthorized, "not signed in"))
	}
	if ri := info(r.Context()); ri != nil {
		ri.principal, ri.authed = ss.p, true
	}
	if method == "POST" {
		if err := checkOrigin(r); err != nil {
			return u.errorPage(w, r, ss, err)
		}
		if err := r.ParseForm(); err != nil {
			return u.errorPage(w, r, ss, settle.Wrap(settle.InvalidInput, err, "read form"))
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(ss.csrf)) != 1 {
			return u.errorPage(w, r, ss, settle.Errorf(settle.Forbidden, "the form's CSRF token is missing or wrong: reload the page and try again"))
		}
	}
	return h(u, w, r, ss)
}

// checkOrigin refuses a POST whose Origin (or, without one, Referer) is
// another site's. Browsers send Origin on every form POST; a request
// with neither is not a browser's cross-site request.
func checkOrigin(r *http.Request) error {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return nil
	}
	o, err := url.Parse(src)
	if err != nil || o.Host != r.Host {
		return settle.Errorf(settle.Forbidden, "cross-site request refused (origin %q)", src)
	}
	return nil
}

// session returns the request's live session, or nil.
func (u *uiState) session(r *http.Request) *uiSession {
	c, err := r.Cookie(uiCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	ss := u.sessions[c.Value]
	if ss == nil {
		return nil
	}
	if time.Now().After(ss.expires) {
		delete(u.sessions, c.Value)
		return nil
	}
	return ss
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// login checks the form's token exactly as the API's bearer
// authentication does and opens a session.
func (u *uiState) login(w http.ResponseWriter, r *http.Request) error {
	securityHeaders(w)
	if err := checkOrigin(r); err != nil {
		return u.loginPage(w, r, err.Error(), http.StatusForbidden)
	}
	if err := r.ParseForm(); err != nil {
		return u.loginPage(w, r, "unreadable form", http.StatusBadRequest)
	}
	probe := &http.Request{Header: http.Header{"Authorization": {"Bearer " + strings.TrimSpace(r.PostForm.Get("token"))}}}
	p, err := u.s.auth.authenticate(probe)
	if err != nil {
		if ri := info(r.Context()); ri != nil {
			ri.err = err
		}
		return u.loginPage(w, r, "That token is not valid.", http.StatusUnauthorized)
	}
	if ri := info(r.Context()); ri != nil {
		ri.principal, ri.authed = p, true
	}
	id := randomHex(32)
	now := time.Now()
	u.mu.Lock()
	for k, ss := range u.sessions {
		if now.After(ss.expires) {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = &uiSession{p: p, csrf: randomHex(32), expires: now.Add(uiSessionTTL)}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: uiCookie, Value: id, Path: "/ui/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(uiSessionTTL / time.Second)})
	next := r.PostForm.Get("next")
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = "/ui/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (u *uiState) logout(w http.ResponseWriter, r *http.Request, ss *uiSession) error {
	if c, err := r.Cookie(uiCookie); err == nil {
		u.mu.Lock()
		delete(u.sessions, c.Value)
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: uiCookie, Value: "", Path: "/ui/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

func (u *uiState) loginPage(w http.ResponseWriter, r *http.Request, msg string, status int) error {
	securityHeaders(w)
	next := r.FormValue("next")
	return u.render(w, r, nil, status, "login", map[string]any{"Error": msg, "Next": next})
}

// uiView is what every page template gets.
type uiView struct {
	Title     string
	Nav       string
	Principal *Principal
	CSRF      string
	CanAct    bool // may activate scene versions
	Data      any
}

// render executes a page into a buffer first, so a template error is a
// clean 500 and not half a page.
func (u *uiState) render(w http.ResponseWriter, r *http.Request, ss *uiSession, status int, page string, data any) error {
	t := u.pages[page]
	if t == nil {
		return settle.Errorf(settle.Internal, "no template %q", page)
	}
	v := uiView{Nav: page, Data: data}
	if ss != nil {
		p := ss.p
		v.Principal, v.CSRF, v.CanAct = &p, ss.csrf, allowed(p.Role, []Role{RoleOperator})
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return settle.Wrap(settle.Internal, err, "render %s", page)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// renderPart executes one named template (a board row) without the
// layout.
func (u *uiState) renderPart(w http.ResponseWriter, page, name string, data any) error {
	var buf bytes.Buffer
	if err := u.pages[page].ExecuteTemplate(&buf, name, data); err != nil {
		return settle.Wrap(settle.Internal, err, "render %s", name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// errorPage answers err as a page with the status and code the API
// would use.
func (u *uiState) errorPage(w http.ResponseWriter, r *http.Request, ss *uiSession, err error) error {
	status, code := errorStatus(err)
	if ri := info(r.Context()); ri != nil {
		ri.err = err
	}
	return u.render(w, r, ss, status, "error", map[string]any{"Status": status, "Code": string(code), "Message": errorMessage(err)})
}

// uiContext bounds a page's store calls.
func uiContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}
