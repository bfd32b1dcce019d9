package httpapi_test

import (
	"context"
	"encoding/json"
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

// A server over the file stores of a temporary root; a collector posts
// its verdict file through the client and reads the task's class.
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
	// The collector posts its verdict file as it wrote it; the server
	// extracts the binding.
	verdict := json.RawMessage(`{"task_id": "task-1", "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS",
		"collector_role": "ANU", "collector_key": "anu0000000000001", "executor_key": "exec000000000001",
		"dispatch_id": "dispatch-1", "normal_collector_cron_id": "ncc-1", "ts_kst": "2025-11-22T09:00:00+09:00"}`)
	res, err := c.PostWriteback(ctx, httpapi.WritebackBody{Verdict: verdict, BatchID: "batch-1", TrackID: "T1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.Decision.Verdict, res.Decision.Classification, res.Decision.Appended)
	class, err := c.Classify(ctx, "task-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(class)
	// Output:
	// 201 PASS DURABLE_SUCCESS_WRITTEN true
	// NORMAL_CALLBACK_COMPLETED
}
