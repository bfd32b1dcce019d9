package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// Client is a Go client of the API. It implements writeback.Store and
// scene.Store, so code written against the library can use a remote
// server instead of local files by configuration. Errors carry the
// server's codes (settle.ErrorCode); a transport failure is UNAVAILABLE.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

var (
	_ writeback.Store = (*Client)(nil)
	_ scene.Store     = (*Client)(nil)
)

// ClientOptions configures NewClient.
type ClientOptions struct {
	// HTTPClient is used for every request (nil: a client with a
	// connection pool sized for many concurrent requests).
	HTTPClient *http.Client
	// TLSConfig, when HTTPClient is nil, configures HTTPS (for a private CA).
	TLSConfig *tls.Config
}

// NewClient returns a client of the server at baseURL (http://host:port
// or https://...) authenticating with the bearer token.
func NewClient(baseURL, token string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, settle.Errorf(settle.InvalidInput, "server URL %q: want http://host:port or https://host:port", baseURL)
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 512
		tr.MaxIdleConnsPerHost = 512
		tr.TLSClientConfig = opts.TLSConfig
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, hc: hc}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// seg escapes one path segment. "", "." and ".." cannot be carried in a
// URL path (dot segments are removed by every URL resolver), so they are
// refused here with the code the stores give such names.
func seg(what, s string) (string, error) {
	if s == "" || s == "." || s == ".." {
		code := settle.InvalidInput
		if what == "episode" {
			code = settle.InvalidEpisode
		}
		return "", settle.Errorf(code, "%s %q cannot name a resource", what, s)
	}
	return url.PathEscape(s), nil
}

// path joins literal parts and escaped segments: path("/v1/batches/",
// seg("batch", b), "/summary").
func joinPath(parts ...string) string { return strings.Join(parts, "") }

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   []byte
	ctype  string
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *Client) newHTTPRequest(ctx context.Context, rq request) (*http.Request, error) {
	u := c.base + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "build request")
	}
	for k, vs := range rq.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if rq.body != nil {
		ct := rq.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a request and reads the answer. ok lists the statuses that are
// not errors (default 200 and 201); any other status is decoded as an
// {"error": ...} body.
func (c *Client) do(ctx context.Context, rq request, ok ...int) (response, error) {
	req, err := c.newHTTPRequest(ctx, rq)
	if err != nil {
		return response{}, err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, settle.Wrap(settle.Unavailable, err, "%s %s", rq.method, rq.path)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, settle.Wrap(settle.Unavailable, err, "%s %s: read response", rq.method, rq.path)
	}
	out := response{status: res.StatusCode, header: res.Header, body: b}
	if len(ok) == 0 {
		ok = []int{http.StatusOK, http.StatusCreated}
	}
	for _, s := range ok {
		if s == res.StatusCode {
			return out, nil
		}
	}
	return out, responseError(res.StatusCode, b)
}

// responseError decodes an error answer.
func responseError(status int, body []byte) error {
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error.Code != "" {
		return &settle.Error{Code: settle.Code(eb.Error.Code), Message: eb.Error.Message}
	}
	code := settle.Internal
	switch {
	case status == http.StatusUnauthorized:
		code = settle.Unauthorized
	case status == http.StatusForbidden:
		code = settle.Forbidden
	case status == http.StatusNotFound:
		code = settle.NotFound
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		code = settle.Unavailable
	case status >= 400 && status < 500:
		code = settle.InvalidInput
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return settle.Errorf(code, "HTTP %d: %s", status, text)
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any, ok ...int) (response, error) {
	rq := request{method: method, path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return response{}, settle.Wrap(settle.InvalidInput, err, "encode request")
		}
		rq.body = b
	}
	res, err := c.do(ctx, rq, ok...)
	if err != nil {
		return res, err
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			return res, settle.Wrap(settle.Internal, err, "%s %s: decode response", method, path)
		}
	}
	return res, nil
}

// ---- writeback.Store ----

// encodeExpected encodes an expectation map as a JSON object with the
// values' Python semantics kept (pyjson: 1.0 stays 1.0).
func encodeExpected(m map[string]any) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	obj := pyjson.NewObject()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := pyjson.FromGo(m[k])
		if err != nil {
			return nil, settle.Wrap(settle.InvalidInput, err, "expected %q", k)
		}
		obj.Set(k, v)
	}
	b, err := pyjson.Encode(obj, pyjson.Options{Indent: -1})
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "expected")
	}
	return b, nil
}

// Writeback sends an extracted binding (POST /v1/writebacks). Decisions
// (201, 200, 409, 403) are outcomes, not errors; a collector writing back
// another collector's key gets a FORBIDDEN error.
func (c *Client) Writeback(ctx context.Context, req writeback.WritebackRequest) (writeback.WritebackOutcome, error) {
	exp, err := encodeExpected(req.Expected)
	if err != nil {
		return writeback.WritebackOutcome{}, err
	}
	b := req.Binding
	res, err := c.PostWriteback(ctx, WritebackBody{Binding: &b, Expected: exp, DryRun: req.DryRun})
	return res.WritebackOutcome, err
}

// WritebackMany sends up to settle.MaxBatchWritebacks bindings in one
// request (POST /v1/writebacks/batch), committed together by the server.
// An item's refusal (a foreign collector key: FORBIDDEN) is its Err.
func (c *Client) WritebackMany(ctx context.Context, reqs []writeback.WritebackRequest) ([]writeback.WritebackItem, error) {
	if len(reqs) > settle.MaxBatchWritebacks {
		return nil, settle.LimitError("MaxBatchWritebacks", settle.MaxBatchWritebacks, "batch of %d write-backs", len(reqs))
	}
	bodies := make([]WritebackBody, len(reqs))
	for i := range reqs {
		exp, err := encodeExpected(reqs[i].Expected)
		if err != nil {
			return nil, err
		}
		b := reqs[i].Binding
		bodies[i] = WritebackBody{Binding: &b, Expected: exp, DryRun: reqs[i].DryRun}
	}
	res, err := c.PostWritebackBatch(ctx, bodies)
	if err != nil {
		return nil, err
	}
	items := make([]writeback.WritebackItem, len(res))
	for i, r := range res {
		switch {
		case r.Error != nil:
			items[i].Err = &settle.Error{Code: settle.Code(r.Error.Code), Message: r.Error.Message}
		case r.Decision != nil:
			items[i].Outcome = writeback.WritebackOutcome{Decision: *r.Decision, ConflictRecorded: r.ConflictRecorded}
		default:
			items[i].Err = settle.Errorf(settle.Internal, "write-back batch: result %d has neither decision nor error (HTTP %d)", i, r.Status)
		}
	}
	return items, nil
}

// WritebackAll sends any number of bindings in batches of at most size
// (0 or over the limit: settle.MaxBatchWritebacks), one request after the
// other, and answers one item per binding in order. It stops at the first
// request that fails as a whole; the items of the batches sent before it
// are returned with the error.
func (c *Client) WritebackAll(ctx context.Context, reqs []writeback.WritebackRequest, size int) ([]writeback.WritebackItem, error) {
	if size <= 0 || size > settle.MaxBatchWritebacks {
		size = settle.MaxBatchWritebacks
	}
	out := make([]writeback.WritebackItem, 0, len(reqs))
	for start := 0; start < len(reqs); start += size {
		items, err := c.WritebackMany(ctx, reqs[start:min(start+size, len(reqs))])
		if err != nil {
			return out, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// PostWritebackBatch sends write-back bodies as is in one request (POST
// /v1/writebacks/batch) and returns one result per body, in order.
func (c *Client) PostWritebackBatch(ctx context.Context, bodies []WritebackBody) ([]WritebackBatchResult, error) {
	if bodies == nil {
		bodies = []WritebackBody{}
	}
	in, err := json.Marshal(WritebackBatchBody{Writebacks: bodies})
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode write-back batch")
	}
	res, err := c.do(ctx, request{method: "POST", path: "/v1/writebacks/batch", body: in}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var out WritebackBatchResponse
	if err := json.Unmarshal(res.body, &out); err != nil || len(out.Results) != len(bodies) {
		return nil, settle.Errorf(settle.Internal, "write-back batch: undecodable answer or %d results for %d write-backs", len(out.Results), len(bodies))
	}
	for i := range out.Results {
		if d := out.Results[i].Decision; d != nil && d.Reasons == nil {
			d.Reasons = []string{}
		}
	}
	return out.Results, nil
}

// WritebackResult is a write-back's outcome plus what the response said
// of the record's batch.
type WritebackResult struct {
	writeback.WritebackOutcome
	// Status is the HTTP status (201, 200, 409 or 403).
	Status int
	// BatchDecision is the declared batch's settle decision after the
	// write-back ("" when the batch is not declared or nothing was recorded).
	BatchDecision string
	// FirstConsolidation is true when this write-back's record is the one
	// that first consolidated the batch (HeaderFirstConsolidation).
	FirstConsolidation bool
}

// PostWriteback sends a write-back body as is: a verdict document (the
// server extracts it) or a binding. Decisions are results, not errors; a
// collector writing back another collector's key gets a FORBIDDEN error.
func (c *Client) PostWriteback(ctx context.Context, body WritebackBody) (WritebackResult, error) {
	in, err := json.Marshal(body)
	if err != nil {
		return WritebackResult{}, settle.Wrap(settle.InvalidInput, err, "encode write-back")
	}
	res, err := c.do(ctx, request{method: "POST", path: "/v1/writebacks", body: in},
		http.StatusOK, http.StatusCreated, http.StatusConflict, http.StatusForbidden)
	if err != nil {
		return WritebackResult{}, err
	}
	var probe struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(res.body, &probe); err == nil && probe.Error != nil {
		return WritebackResult{Status: res.status}, &settle.Error{Code: settle.Code(probe.Error.Code), Message: probe.Error.Message}
	}
	out := WritebackResult{Status: res.status}
	if err := json.Unmarshal(res.body, &out.Decision); err != nil || out.Decision.Classification == "" {
		return out, settle.Errorf(settle.Internal, "write-back: undecodable decision (HTTP %d)", res.status)
	}
	if out.Decision.Reasons == nil {
		out.Decision.Reasons = []string{}
	}
	out.ConflictRecorded = res.header.Get(HeaderConflictRecorded) == "true"
	out.BatchDecision = res.header.Get(HeaderBatchDecision)
	out.FirstConsolidation = res.header.Get(HeaderFirstConsolidation) == "true"
	return out, nil
}

// Settle evaluates a batch with explicit tracks (POST .../settle).
func (c *Client) Settle(ctx context.Context, batchID string, tracks []writeback.TrackTask, thisTrack string) (writeback.SettleOutcome, error) {
	if len(tracks) == 0 {
		// An empty track list means "the declaration" on the wire; the
		// Store contract evaluates an empty batch instead.
		tracks = []writeback.TrackTask{}
	}
	var so writeback.SettleOutcome
	b, err := seg("batch id", batchID)
	if err != nil {
		return so, err
	}
	res, err := c.doJSON(ctx, "POST", joinPath("/v1/batches/", b, "/settle"), settleWire{Tracks: tracks, ThisTrack: thisTrack}, &so.Result)
	if err != nil {
		return so, err
	}
	so.FirstConsolidation = res.header.Get(HeaderFirstConsolidation) == "true"
	return so, nil
}

// settleWire sends tracks even when empty.
type settleWire struct {
	Tracks    []writeback.TrackTask `json:"tracks"`
	ThisTrack string                `json:"this_track,omitempty"`
}

// BatchStatus evaluates a declared batch (GET .../status).
func (c *Client) BatchStatus(ctx context.Context, batchID, thisTrack string) (writeback.SettleOutcome, error) {
	var so writeback.SettleOutcome
	b, err := seg("batch id", batchID)
	if err != nil {
		return so, err
	}
	rq := request{method: "GET", path: joinPath("/v1/batches/", b, "/status")}
	if thisTrack != "" {
		rq.query = url.Values{"this_track": {thisTrack}}
	}
	res, err := c.do(ctx, rq)
	if err != nil {
		return so, err
	}
	if err := json.Unmarshal(res.body, &so.Result); err != nil {
		return so, settle.Wrap(settle.Internal, err, "decode settle result")
	}
	so.FirstConsolidation = res.header.Get(HeaderFirstConsolidation) == "true"
	return so, nil
}

// AppendRegistry appends a registry record (POST /v1/registry).
func (c *Client) AppendRegistry(ctx context.Context, rec writeback.RegistryRecord) error {
	_, err := c.doJSON(ctx, "POST", "/v1/registry", rec, nil)
	return err
}

// RegistryHistory returns a task's registry records.
func (c *Client) RegistryHistory(ctx context.Context, taskID string) ([]writeback.RegistryRecord, error) {
	var out RegistryHistoryBody
	t, err := seg("task id", taskID)
	if err != nil {
		return nil, err
	}
	if _, err := c.doJSON(ctx, "GET", joinPath("/v1/registry/", t), nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// Classify returns a task's registry classification.
func (c *Client) Classify(ctx context.Context, taskID string) (string, error) {
	var out ClassificationBody
	t, err := seg("task id", taskID)
	if err != nil {
		return "", err
	}
	if _, err := c.doJSON(ctx, "GET", joinPath("/v1/registry/", t, "/classification"), nil, &out); err != nil {
		return "", err
	}
	return out.Classification, nil
}

// Records pages through the ledger.
func (c *Client) Records(ctx context.Context, q writeback.RecordQuery) (writeback.RecordPage, error) {
	v := url.Values{}
	if q.Kind != "" {
		v.Set("kind", string(q.Kind))
	}
	if q.BatchID != "" {
		v.Set("batch", q.BatchID)
	}
	if q.TaskID != "" {
		v.Set("task", q.TaskID)
	}
	v.Set("after", strconv.FormatInt(q.After, 10))
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	res, err := c.do(ctx, request{method: "GET", path: "/v1/records", query: v})
	if err != nil {
		return writeback.RecordPage{}, err
	}
	var page RecordsPage
	if err := json.Unmarshal(res.body, &page); err != nil {
		return writeback.RecordPage{}, settle.Wrap(settle.Internal, err, "decode records")
	}
	out := writeback.RecordPage{Records: make([]writeback.LedgerRecord, 0, len(page.Records)), Next: page.Next}
	for _, r := range page.Records {
		lr := writeback.LedgerRecord{Seq: r.Seq, Kind: r.Kind, Durable: r.Durable, Registry: r.Registry, Conflict: r.Conflict}
		if r.Raw != "" {
			lr.Raw = []byte(r.Raw)
		}
		out.Records = append(out.Records, lr)
	}
	return out, nil
}

// DeclareBatch declares a batch (PUT /v1/batches/{batch}).
func (c *Client) DeclareBatch(ctx context.Context, b writeback.Batch) error {
	p, err := seg("batch id", b.BatchID)
	if err != nil {
		return err
	}
	tracks := b.Tracks
	if tracks == nil {
		tracks = []writeback.TrackTask{}
	}
	_, err = c.doJSON(ctx, "PUT", joinPath("/v1/batches/", p), DeclareBody{BatchID: b.BatchID, Tracks: tracks}, nil)
	return err
}

// GetBatch returns a batch's declaration.
func (c *Client) GetBatch(ctx context.Context, batchID string) (writeback.Batch, error) {
	var b writeback.Batch
	p, err := seg("batch id", batchID)
	if err != nil {
		return b, err
	}
	_, err = c.doJSON(ctx, "GET", joinPath("/v1/batches/", p), nil, &b)
	return b, err
}

// Summary returns a batch's consolidated summary.
func (c *Client) Summary(ctx context.Context, batchID string) (writeback.Summary, error) {
	var s writeback.Summary
	p, err := seg("batch id", batchID)
	if err != nil {
		return s, err
	}
	_, err = c.doJSON(ctx, "GET", joinPath("/v1/batches/", p, "/summary"), nil, &s)
	return s, err
}

// ---- scene.Store ----

// episodePath is /v1/projects/{project}/episodes/{episode}.
func episodePath(project, episode string) (string, error) {
	p, err := seg("project", project)
	if err != nil {
		return "", err
	}
	e, err := seg("episode", episode)
	if err != nil {
		return "", err
	}
	return joinPath("/v1/projects/", p, "/episodes/", e), nil
}

// scenePath is .../scenes/{batch} of a ref.
func scenePath(ref scene.Ref) (string, error) {
	ep, err := episodePath(ref.Project, ref.Episode)
	if err != nil {
		return "", err
	}
	b, err := seg("batch id", ref.Batch)
	if err != nil {
		return "", err
	}
	return joinPath(ep, "/scenes/", b), nil
}

// decodeScene turns a scene tree from the wire into a Scene.
func decodeScene(raw json.RawMessage) (*scene.Scene, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	v, err := pyjson.Parse(raw)
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "decode scene")
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil, settle.Errorf(settle.Internal, "decode scene: not an object")
	}
	return scene.FromTree(obj)
}

func (c *Client) loaded(res response) (scene.Loaded, error) {
	var sb SceneBody
	if err := json.Unmarshal(res.body, &sb); err != nil {
		return scene.Loaded{}, settle.Wrap(settle.Internal, err, "decode scene document")
	}
	sc, err := decodeScene(sb.Scene)
	if err != nil {
		return scene.Loaded{}, err
	}
	return scene.Loaded{Scene: sc, Version: sb.Version, Fingerprint: sb.Fingerprint, Revision: sb.Revision}, nil
}

// Load returns the active scene and its version.
func (c *Client) Load(ctx context.Context, ref scene.Ref) (scene.Loaded, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	res, err := c.do(ctx, request{method: "GET", path: sp})
	if err != nil {
		return scene.Loaded{}, err
	}
	return c.loaded(res)
}

// LoadVersion returns a registered version's body.
func (c *Client) LoadVersion(ctx context.Context, ref scene.Ref, version int) (scene.Loaded, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	if version <= 0 {
		return scene.Loaded{}, settle.Errorf(settle.NotFound, "version %d of batch %s is not registered", version, ref.Batch)
	}
	res, err := c.do(ctx, request{method: "GET", path: sp + "/versions/" + strconv.Itoa(version)})
	if err != nil {
		return scene.Loaded{}, err
	}
	return c.loaded(res)
}

// Versions lists a batch's versions.
func (c *Client) Versions(ctx context.Context, ref scene.Ref) ([]scene.VersionInfo, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return nil, err
	}
	var out VersionsBody
	if _, err := c.doJSON(ctx, "GET", sp+"/versions", nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// List returns an episode's flat scene file names.
func (c *Client) List(ctx context.Context, project, episode string) ([]string, error) {
	ep, err := episodePath(project, episode)
	if err != nil {
		return nil, err
	}
	var out ListBody
	if _, err := c.doJSON(ctx, "GET", ep+"/scenes", nil, &out); err != nil {
		return nil, err
	}
	return out.Scenes, nil
}

// PatchStatus sends an RFC 6902 patch with If-Match: the expected version.
func (c *Client) PatchStatus(ctx context.Context, ref scene.Ref, expectedVersion int, patch []byte) (scene.Loaded, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	if patch == nil {
		patch = []byte{}
	}
	res, err := c.do(ctx, request{method: "PATCH", path: sp, body: patch, ctype: "application/json-patch+json",
		header: http.Header{"If-Match": {ETag(expectedVersion)}}})
	if err != nil {
		return scene.Loaded{}, err
	}
	return c.loaded(res)
}

// SaveRunner overlays a runner's scene with If-Match: the body ETag of
// the expected version and revision (the version tag alone for "", a
// batch with no body yet).
func (c *Client) SaveRunner(ctx context.Context, ref scene.Ref, expectedVersion int, expectedRevision string, runner *scene.Scene) (scene.Loaded, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return scene.Loaded{}, err
	}
	tree, err := sceneJSON(runner)
	if err != nil {
		return scene.Loaded{}, err
	}
	in, _ := json.Marshal(ScenePut{Scene: tree})
	res, err := c.do(ctx, request{method: "POST", path: sp + "/save-runner", body: in,
		header: http.Header{"If-Match": {BodyETag(expectedVersion, expectedRevision)}}})
	if err != nil {
		return scene.Loaded{}, err
	}
	return c.loaded(res)
}

// WriteCandidate stores a candidate version.
func (c *Client) WriteCandidate(ctx context.Context, ref scene.Ref, sc *scene.Scene, reason string, activate bool) (int, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return 0, err
	}
	tree, err := sceneJSON(sc)
	if err != nil {
		return 0, err
	}
	var out CandidateResult
	if _, err := c.doJSON(ctx, "POST", sp+"/versions", CandidateBody{Scene: tree, Reason: reason, Activate: activate}, &out); err != nil {
		return 0, err
	}
	return out.Version, nil
}

// Activate moves the active pointer.
func (c *Client) Activate(ctx context.Context, ref scene.Ref, version int) error {
	sp, err := scenePath(ref)
	if err != nil {
		return err
	}
	if version <= 0 {
		return settle.Errorf(settle.NotFound, "version %d of batch %s is not registered", version, ref.Batch)
	}
	_, err = c.doJSON(ctx, "POST", sp+"/activate", ActivateBody{Version: version}, nil)
	return err
}

// RecoverStale marks takes running since before now-olderThan stale.
func (c *Client) RecoverStale(ctx context.Context, ref scene.Ref, olderThan time.Duration, now time.Time) (int, error) {
	sp, err := scenePath(ref)
	if err != nil {
		return 0, err
	}
	body := RecoverStaleBody{}
	if olderThan != 0 {
		// A negative duration is sent so the server refuses it.
		body.OlderThan = olderThan.String()
	}
	if !now.IsZero() {
		body.Now = now.Format(time.RFC3339Nano)
	}
	var out RecoverStaleResult
	if _, err := c.doJSON(ctx, "POST", sp+"/recover-stale", body, &out); err != nil {
		return 0, err
	}
	return out.Stale, nil
}

// InitFromPlan creates scenes from a plan.
func (c *Client) InitFromPlan(ctx context.Context, project, episode string, plan scene.Plan, maxTakes int, dryRun bool) ([]scene.InitResult, error) {
	ep, err := episodePath(project, episode)
	if err != nil {
		return nil, err
	}
	if plan.Root == nil {
		return nil, settle.Errorf(settle.InvalidInput, "init: no plan")
	}
	pb, err := plan.Root.MarshalJSON()
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "encode plan")
	}
	mt := maxTakes
	var out InitResultBody
	if _, err := c.doJSON(ctx, "POST", ep+"/init", InitBody{Plan: pb, MaxTakes: &mt, DryRun: dryRun}, &out); err != nil {
		return nil, err
	}
	res := make([]scene.InitResult, 0, len(out.Scenes))
	for _, s := range out.Scenes {
		sc, err := decodeScene(s.Scene)
		if err != nil {
			return nil, err
		}
		res = append(res, scene.InitResult{Batch: s.Batch, Created: s.Created, Scene: sc})
	}
	return res, nil
}

var _ GuardedSaver = (*Client)(nil)

// SaveGuarded writes a batch's flat body unless the existing one is locked
// (the seed's save_scene_guarded; SCENE_LOCKED).
func (c *Client) SaveGuarded(ctx context.Context, ref scene.Ref, sc *scene.Scene) error {
	sp, err := scenePath(ref)
	if err != nil {
		return err
	}
	if sc == nil {
		return settle.Errorf(settle.InvalidInput, "no scene")
	}
	tree, err := sceneJSON(sc)
	if err != nil {
		return err
	}
	_, err = c.doJSON(ctx, "PUT", sp+"/flat", ScenePut{Scene: tree}, nil)
	return err
}

// ---- health and events ----

// Ready returns nil when GET /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	var h Health
	res, err := c.doJSON(ctx, "GET", "/readyz", nil, &h, http.StatusOK, http.StatusServiceUnavailable)
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return settle.Errorf(settle.Unavailable, "server not ready: %s", h.Reason)
	}
	return nil
}

// StreamEvents opens GET /v1/events after the event id and calls fn for
// each event in order, until ctx ends (nil), fn returns an error (that
// error) or the connection fails (an UNAVAILABLE error; reconnect with the
// last id seen). types, if any, keeps only those types.
func (c *Client) StreamEvents(ctx context.Context, after int64, types []string, fn func(event.Event) error) error {
	rq := request{method: "GET", path: "/v1/events", header: http.Header{"Last-Event-ID": {strconv.FormatInt(after, 10)}}}
	if len(types) > 0 {
		rq.query = url.Values{"types": {strings.Join(types, ",")}}
	}
	req, err := c.newHTTPRequest(ctx, rq)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return settle.Wrap(settle.Unavailable, err, "event stream")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return responseError(res.StatusCode, b)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if data.Len() > 0 {
				var ev event.Event
				if err := json.Unmarshal(data.Bytes(), &ev); err != nil {
					return settle.Wrap(settle.Internal, err, "decode event")
				}
				data.Reset()
				if err := fn(ev); err != nil {
					return err
				}
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) == "data" {
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	err = sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return settle.Wrap(settle.Unavailable, err, "event stream ended")
}

// FollowEvents is StreamEvents that reconnects after a failed connection
// (with Last-Event-ID: the last event delivered), until ctx ends or fn
// returns an error. Errors other than UNAVAILABLE end it.
func (c *Client) FollowEvents(ctx context.Context, after int64, types []string, fn func(event.Event) error) error {
	last := after
	var fnErr error
	wrapped := func(ev event.Event) error {
		last = ev.ID
		fnErr = fn(ev)
		return fnErr
	}
	backoff := 50 * time.Millisecond
	for {
		err := c.StreamEvents(ctx, last, types, wrapped)
		if fnErr != nil {
			return fnErr
		}
		if ctx.Err() != nil {
			return nil
		}
		var se *settle.Error
		if err != nil && (!errors.As(err, &se) || se.Code != settle.Unavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// String describes the client.
func (c *Client) String() string { return fmt.Sprintf("httpapi.Client(%s)", c.base) }
