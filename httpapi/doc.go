// Package httpapi is settle's HTTP API (settle serve) and its Go client.
//
// The Server serves the library's stores over JSON under /v1
// (docs/contracts.md §5, docs/server.md): write-backs, ledger queries,
// the callback 4-tuple registry, batch declarations and settlement, every
// scene operation, and the event log as Server-Sent Events. Errors are
// {"error": {"code", "message"}} with the codes and statuses of
// contracts §3. A scene's ETag is its active body, "version-revision"
// (BodyETag); status writes and runner saves require If-Match (428
// without it, 412 when what it names moved). A status patch may name the
// version alone and merges onto the latest body; a runner save, which
// replaces takes, names the body it was based on. Only an operator's
// status write creates a missing scene; a runner's is 404.
//
// Authority comes from authentication: bearer tokens, configured as their
// sha256 and compared in constant time, map to principals with a role
// (collector with its own collector key, dispatcher, runner, operator,
// reader). A collector's write-back of a verdict naming another collector
// key is refused 403 FORBIDDEN and recorded as refused. Routes lists who
// may call what.
//
// Settlement happens on the event, never on a clock: after each recorded
// write-back (and each declaration) the record's declared batch is
// re-evaluated in the same request, and the first ALL_SETTLED_CONSOLIDATE
// writes the consolidated summary (the store does that once) and appends
// the batch's batch.settled event with event.Log's AppendOnce, so there is
// exactly one per batch across concurrent requests, servers and restarts.
// Reconcile repairs what a crash between a durable write and its event
// leaves behind.
//
// The server also serves a web dashboard under /ui/ (docs/dashboard.md):
// server-rendered pages over the same stores, signed in with the same
// tokens into a cookie session, CSRF-checked forms, and live updates from
// the event stream.
//
// Client implements writeback.Store and scene.Store over the API, so code
// written against the library can switch to a remote server by
// configuration.
//
// The package depends on no backend: cmd/settle wires the file (or
// PostgreSQL) stores in.
package httpapi
