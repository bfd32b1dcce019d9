package file_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/writeback"
)

// A collector writes back an independent verdict, then reads the ledger.
func ExampleLedger() {
	root, err := os.MkdirTemp("", "settle-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	cfg := writeback.Config{CollectorKeys: []string{"anu0000000000001"}, DefaultChatID: "6937032012"}
	l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: cfg})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	out, err := l.Writeback(ctx, writeback.WritebackRequest{Binding: writeback.Binding{
		TaskID:                      "task-1",
		TrackID:                     "T1",
		BatchID:                     "batch-1",
		DispatchID:                  "dispatch-1",
		DispatchIDSource:            "source_recorded",
		NormalCollectorCronID:       "ncc-1",
		NormalCollectorCronIDSource: "source_recorded",
		CollectorKey:                "anu0000000000001",
		CollectorRole:               "ANU",
		ExecutorKey:                 "exec000000000001",
		AuthoritativeVerdict:        writeback.AuthoritativePass,
		TerminalStatus:              writeback.StatusCompleted,
		CompletedAt:                 "2025-11-22T09:00:00+09:00",
		SourceResultPath:            "memory/results/task-1.json",
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Decision.Verdict, out.Decision.Classification, out.Decision.Appended)

	page, err := l.Records(ctx, writeback.RecordQuery{TaskID: "task-1", After: -1})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Seq, r.Kind)
	}
	// Output:
	// PASS DURABLE_SUCCESS_WRITTEN true
	// 0 durable
	// 1 registry
}
