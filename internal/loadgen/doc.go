// Package loadgen is settle bench's load generator: N concurrent clients
// repeat one workload against a settle server for a duration or a number
// of operations, and Run reports the throughput, the latency percentiles,
// the CPU per operation and the same-run ratios: to the disk's
// single-record fsync rate, to the ping ceiling (GET /healthz with as many
// clients, right after the load) and to the same workload with one client.
//
// The workloads (Config.Workload):
//
//   - writeback: one operation is one write-back of a distinct verdict
//     (201), or with Config.Batch one POST /v1/writebacks/batch of that
//     many verdicts, each written.
//   - settle: one operation declares a batch of Config.Tracks tracks and
//     writes back each track; the last one must settle the batch.
//   - status: one operation is one scene status save (a JSON Patch with
//     If-Match) on the client's own scene.
//   - ping: one operation is one GET /healthz, no store work: the HTTP
//     round trip alone.
//
// The clients share the machine's cores with the server they measure when
// it runs in the same process, so each uses its own small HTTP/1.1
// keep-alive client with pre-encoded request bodies and reused buffers
// (conn.go) rather than net/http, and costs far less per request than the
// server does.
//
// The package is internal: its Target (tokens per role, a set-up client,
// a store's commit counters) is shaped for the command, which starts the
// embedded server and prints the Result.
package loadgen
