package loadgen

import (
	"fmt"
	"io"
)

// Result is what a run measured: the figures of the load and its
// same-run ratios. Its JSON form is settle bench --json.
type Result struct {
	Workload       string  `json:"workload"`
	Clients        int     `json:"clients"`
	Target         string  `json:"target"`
	Embedded       bool    `json:"embedded"`
	Seconds        float64 `json:"seconds"`
	Ops            int64   `json:"ops"`
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	P999ms         float64 `json:"p999_ms"`
	MaxMs          float64 `json:"max_ms"`
	MeanMs         float64 `json:"mean_ms"`
	FsyncDir       string  `json:"fsync_dir"`
	FsyncPerSec    float64 `json:"fsync_per_sec"`
	FsyncP50ms     float64 `json:"fsync_p50_ms"`
	// RequestsPerFsync is the throughput in requests/s over the disk's
	// single-record fsync rate.
	RequestsPerFsync float64 `json:"requests_per_fsync_rate"`
	// Batch is the write-backs per request (writeback workload; 0: one
	// per request, POST /v1/writebacks). WritebacksPerSec counts verdicts,
	// OpsPerSec requests; WritebacksPerFsync is the verdicts' rate over
	// the disk's single-record fsync rate.
	Batch              int     `json:"batch,omitempty"`
	Writebacks         int64   `json:"writebacks,omitempty"`
	WritebacksPerSec   float64 `json:"writebacks_per_sec,omitempty"`
	WritebacksPerFsync float64 `json:"writebacks_per_fsync_rate,omitempty"`
	// Embedded runs also report the stores' commit counters.
	LedgerFsyncs    int64   `json:"ledger_fsyncs,omitempty"`
	LedgerAvgGroup  float64 `json:"ledger_avg_group,omitempty"`
	LedgerMaxGroup  int64   `json:"ledger_max_group,omitempty"`
	EventFsyncs     int64   `json:"event_fsyncs,omitempty"`
	EventAvgGroup   float64 `json:"event_avg_group,omitempty"`
	BatchesSettled  int64   `json:"batches_settled,omitempty"`
	BatchesExpected int64   `json:"batches_expected,omitempty"`
	// CPUPerOpUs is this process's CPU time (user + system) per operation
	// during the load, in microseconds: with an embedded target it covers the
	// clients and the server, and bounds the throughput at
	// cores / CPU per operation whatever the disk does.
	CPUPerOpUs float64 `json:"cpu_per_op_us"`
	CPUs       int     `json:"cpus"`
	// CPUBusy is this process's CPU time during the load over the wall
	// time times CPUs: 1 is every core busy the whole run. With an
	// embedded target, a figure well below 1 means the throughput is
	// bounded by waiting (fsyncs, hand-offs), not by the CPU.
	CPUBusy float64 `json:"cpu_busy"`
	// Same-run ratios: operations/s over the disk's fsync rate, over the
	// ping ceiling with as many clients (Config.Ceiling) and over the
	// same workload with one client (Config.SingleClient); zero when not
	// measured.
	OpsPerFsync           float64 `json:"ops_per_fsync_rate,omitempty"`
	PingOpsPerSec         float64 `json:"ping_ops_per_sec,omitempty"`
	OpsPerPingCeiling     float64 `json:"ops_per_ping_ceiling,omitempty"`
	SingleClientOpsPerSec float64 `json:"single_client_ops_per_sec,omitempty"`
	OpsPerSingleClient    float64 `json:"ops_per_single_client,omitempty"`
	// Scene status saves grouped into one transaction (PostgreSQL).
	SceneCommits  int64   `json:"scene_commits,omitempty"`
	SceneAvgGroup float64 `json:"scene_avg_group,omitempty"`
	SceneMaxGroup int64   `json:"scene_max_group,omitempty"`
}

// WriteText writes r as settle bench prints it.
func (r *Result) WriteText(w io.Writer) {
	unit := "write-backs"
	switch r.Workload {
	case "settle":
		unit = "batches"
	case "status":
		unit = "status saves"
	case "ping":
		unit = "pings"
	}
	if r.Batch > 0 {
		unit = "batches"
	}
	fmt.Fprintf(w, "settle bench: workload=%s clients=%d target=%s\n", r.Workload, r.Clients, r.Target)
	fmt.Fprintf(w, "  %d %s (%d requests) in %.2f s, %d errors\n", r.Ops, unit, r.Requests, r.Seconds, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "  throughput: %.1f %s/s (%.1f requests/s)\n", r.OpsPerSec, unit, r.RequestsPerSec)
	if r.Batch > 0 {
		fmt.Fprintf(w, "  write-backs: %d in batches of %d, %.1f write-backs/s\n", r.Writebacks, r.Batch, r.WritebacksPerSec)
	}
	fmt.Fprintf(w, "  latency per operation: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, mean %.2f ms\n", r.P50ms, r.P99ms, r.P999ms, r.MaxMs, r.MeanMs)
	switch {
	case r.CPUPerOpUs > 0 && r.Embedded:
		fmt.Fprintf(w, "  CPU per operation (clients and server): %.0f µs, so at most ~%.0f %s/s on %d CPUs; CPUs %.0f%% busy\n",
			r.CPUPerOpUs, float64(r.CPUs)*1e6/r.CPUPerOpUs, unit, r.CPUs, 100*r.CPUBusy)
	case r.CPUPerOpUs > 0:
		fmt.Fprintf(w, "  CPU per operation of the load generator: %.0f µs\n", r.CPUPerOpUs)
	}
	if r.FsyncPerSec > 0 {
		fmt.Fprintf(w, "  disk fsync rate: %.0f fsync/s (single-record append+fsync in %s, p50 %.2f ms)\n", r.FsyncPerSec, r.FsyncDir, r.FsyncP50ms)
		fmt.Fprintf(w, "  requests/s over the fsync rate: %.1fx\n", r.RequestsPerFsync)
		if r.Batch > 0 {
			fmt.Fprintf(w, "  write-backs/s over the fsync rate: %.1fx\n", r.WritebacksPerFsync)
		}
	}
	if r.LedgerFsyncs > 0 || r.EventFsyncs > 0 {
		fmt.Fprintf(w, "  group commit: ledger %d fsyncs (avg group %.1f, max %d), event log %d fsyncs (avg group %.1f)\n",
			r.LedgerFsyncs, r.LedgerAvgGroup, r.LedgerMaxGroup, r.EventFsyncs, r.EventAvgGroup)
	}
	if r.FsyncPerSec == 0 && r.PingOpsPerSec == 0 {
		fmt.Fprintf(w, "  same-run references: none measured (fsync rate, ping ceiling)\n")
	}
	r.writeRatios(w)
	if r.Workload == "settle" {
		fmt.Fprintf(w, "  batches settled by their last write-back: %d of %d\n", r.BatchesSettled, r.BatchesExpected)
	}
}

// writeRatios prints the same-run ratios of r.
func (r *Result) writeRatios(w io.Writer) {
	if r.FsyncPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the fsync rate: %.2fx\n", r.OpsPerFsync)
	}
	if r.PingOpsPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the same-run ping ceiling (%.1f pings/s, %d clients): %.3f\n", r.PingOpsPerSec, r.Clients, r.OpsPerPingCeiling)
	}
	if r.SingleClientOpsPerSec > 0 {
		fmt.Fprintf(w, "  operations/s over the same-run single client (%.1f/s): %.2fx\n", r.SingleClientOpsPerSec, r.OpsPerSingleClient)
	}
	if r.SceneCommits > 0 {
		fmt.Fprintf(w, "  scene group commit: %d transactions (avg group %.1f, max %d)\n", r.SceneCommits, r.SceneAvgGroup, r.SceneMaxGroup)
	}
}
