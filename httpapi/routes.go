package httpapi

import "net/http"

// handlerFunc is a route's handler: it writes a success itself and returns
// an error to be answered as {"error": ...}.
type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request) error

// route is one operation of the API.
type route struct {
	method string
	path   string // ServeMux pattern path, with {wildcards}
	// roles that may call it; nil = every authenticated role. An operator
	// may call every route.
	roles  []Role
	public bool // no authentication (health, metrics, the OpenAPI document)
	handle handlerFunc
}

const sceneBase = "/v1/projects/{project}/episodes/{episode}"
const sceneItem = sceneBase + "/scenes/{batch}"

// routeTable is every route the server has; ServeMux registrations, the
// role checks and the OpenAPI test all come from it.
var routeTable = []route{
	{method: "GET", path: "/healthz", public: true, handle: (*Server).handleHealthz},
	{method: "GET", path: "/readyz", public: true, handle: (*Server).handleReadyz},
	{method: "GET", path: "/metrics", public: true, handle: (*Server).handleMetrics},
	{method: "GET", path: "/v1/openapi.json", public: true, handle: (*Server).handleOpenAPI},

	{method: "POST", path: "/v1/writebacks", roles: []Role{RoleCollector}, handle: (*Server).handleWriteback},
	{method: "POST", path: "/v1/writebacks/batch", roles: []Role{RoleCollector}, handle: (*Server).handleWritebackBatch},
	{method: "GET", path: "/v1/records", handle: (*Server).handleRecords},

	{method: "POST", path: "/v1/registry", roles: []Role{RoleDispatcher}, handle: (*Server).handleRegistryAppend},
	{method: "GET", path: "/v1/registry/{task}", handle: (*Server).handleRegistryHistory},
	{method: "GET", path: "/v1/registry/{task}/classification", handle: (*Server).handleClassify},

	{method: "PUT", path: "/v1/batches/{batch}", roles: []Role{RoleDispatcher}, handle: (*Server).handleDeclareBatch},
	{method: "GET", path: "/v1/batches/{batch}", handle: (*Server).handleGetBatch},
	{method: "GET", path: "/v1/batches/{batch}/status", handle: (*Server).handleBatchStatus},
	{method: "POST", path: "/v1/batches/{batch}/settle", roles: []Role{RoleDispatcher}, handle: (*Server).handleSettle},
	{method: "GET", path: "/v1/batches/{batch}/summary", handle: (*Server).handleSummary},

	{method: "GET", path: "/v1/events", handle: (*Server).handleEvents},

	{method: "GET", path: sceneBase + "/scenes", handle: (*Server).handleSceneList},
	{method: "POST", path: sceneBase + "/init", roles: []Role{RoleOperator}, handle: (*Server).handleSceneInit},
	{method: "GET", path: sceneItem, handle: (*Server).handleSceneLoad},
	{method: "PATCH", path: sceneItem, roles: []Role{RoleRunner}, handle: (*Server).handleScenePatch},
	{method: "POST", path: sceneItem + "/save-runner", roles: []Role{RoleRunner}, handle: (*Server).handleSceneSaveRunner},
	{method: "POST", path: sceneItem + "/recover-stale", roles: []Role{RoleRunner}, handle: (*Server).handleSceneRecoverStale},
	{method: "GET", path: sceneItem + "/versions", handle: (*Server).handleSceneVersions},
	{method: "POST", path: sceneItem + "/versions", roles: []Role{RoleOperator}, handle: (*Server).handleSceneCandidate},
	{method: "GET", path: sceneItem + "/versions/{version}", handle: (*Server).handleSceneLoadVersion},
	{method: "POST", path: sceneItem + "/activate", roles: []Role{RoleOperator}, handle: (*Server).handleSceneActivate},
	{method: "PUT", path: sceneItem + "/flat", roles: []Role{RoleOperator}, handle: (*Server).handleSceneSaveGuarded},
}

// RouteInfo describes one route: its method, ServeMux path pattern and
// who may call it.
type RouteInfo struct {
	Method string
	Path   string
	// Public routes need no token.
	Public bool
	// Roles that may call it (an operator may call every route); nil with
	// Public false means every authenticated role.
	Roles []Role
}

// Allows reports whether a principal of role may call the route.
func (ri RouteInfo) Allows(role Role) bool { return ri.Public || allowed(role, ri.Roles) }

// Routes lists every route of the server, in registration order.
func Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(routeTable))
	for _, rt := range routeTable {
		out = append(out, RouteInfo{Method: rt.method, Path: rt.path, Public: rt.public, Roles: rt.roles})
	}
	return out
}
