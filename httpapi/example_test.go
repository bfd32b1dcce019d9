package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/writeback"
)

// A server over the file stores of a temporary root; a collector writes
// back its verdict through the client and reads the task's class.
func ExampleClient() {
	root, err := os.MkdirTemp("", "settle-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := writeback.Config{CollectorKeys: []string{"anu0000000000001"}, DefaultChatID: "6937032012"}

	led, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: cfg, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer led.Close()
	scenes, err := file.OpenScenes(file.SceneOptions{Root: root, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer scenes.Close()
	events, err := file.OpenEvents(file.EventsOptions{Root: root, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()

	const token = "tok-collector"
	srv, err := httpapi.New(httpapi.Options{
		Ledger: led, Scenes: scenes, Events: events, Config: cfg, Root: root, Logger: logger,
		Tokens: []httpapi.Token{{TokenSHA256: httpapi.HashToken(token), Principal: "collector",
			Role: httpapi.RoleCollector, CollectorKey: "anu0000000000001"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			log.Fatal(err)
		}
	}()

	c, err := httpapi.NewClient("http://"+ln.Addr().String(), token, httpapi.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	out, err := c.Writeback(ctx, writeback.WritebackRequest{Binding: writeback.Binding{
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
	class, err := c.Classify(ctx, "task-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(class)
	// Output:
	// PASS DURABLE_SUCCESS_WRITTEN true
	// NORMAL_CALLBACK_COMPLETED
}
