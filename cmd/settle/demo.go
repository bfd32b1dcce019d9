package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const demoAbout = `Runs settle's main job on the embedded file store in a temporary workspace
(or --dir): registers three tasks, declares a batch, writes back independent
verdicts, a self-chain verdict (refused), an identical replay (idempotent skip)
and a contradicting replay (recorded conflict), settles the batch, then
initialises an episode's scenes from a plan, patches a take status, tries a
structural patch (refused), writes a candidate version and activates it.
Every step prints the command it runs and checks its outcome.`

func runDemo(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("demo", "demo [--dir DIR] [--keep]", demoAbout, &g)
	dir := fs.String("dir", "", "workspace directory (default: a new temporary directory)")
	keep := fs.Bool("keep", false, "keep the temporary workspace")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	root := *dir
	if root == "" {
		d, err := os.MkdirTemp("", "settle-demo-")
		if err != nil {
			return err
		}
		root = d
		if !*keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	d := &demo{m: m, ctx: ctx, root: root, env: map[string]string{
		"SETTLE_ROOT":            root,
		"SETTLE_COLLECTOR_KEYS":  "anu0000000000001,anu0000000000002",
		"SETTLE_DEFAULT_CHAT_ID": "chat-demo-0001",
	}}
	return d.run()
}

type demo struct {
	m     *Main
	ctx   context.Context
	root  string
	env   map[string]string
	steps int
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.m.Stdout, format+"\n", args...)
}

// file writes a file in the workspace and returns its relative path.
func (d *demo) file(rel, content string) string {
	p := filepath.Join(d.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
	return p
}

// settle runs one settle command in-process, prints it and its output, and
// checks its exit status and that the output contains want.
func (d *demo) settle(wantExit int, want string, args ...string) error {
	d.steps++
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.ReplaceAll(a, d.root+"/", "")
	}
	d.say("\n$ settle %s", strings.Join(shown, " "))
	var out bytes.Buffer
	sub := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(k string) string {
		if v, ok := d.env[k]; ok {
			return v
		}
		return ""
	}}
	err := sub.Run(d.ctx, args)
	text := strings.ReplaceAll(out.String(), d.root+"/", "")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		d.say("  %s", line)
	}
	if got := ExitCode(err); got != wantExit {
		return fmt.Errorf("demo step %d (settle %s): exit %d, want %d", d.steps, strings.Join(shown, " "), got, wantExit)
	}
	if want != "" && !strings.Contains(out.String(), want) {
		return fmt.Errorf("demo step %d (settle %s): output lacks %q", d.steps, strings.Join(shown, " "), want)
	}
	return nil
}

func (d *demo) run() error {
	d.say("settle demo — workspace %s", d.root)
	d.say("configuration (environment): SETTLE_ROOT=<workspace> SETTLE_COLLECTOR_KEYS=%s SETTLE_DEFAULT_CHAT_ID=%s",
		d.env["SETTLE_COLLECTOR_KEYS"], d.env["SETTLE_DEFAULT_CHAT_ID"])

	d.say("\n== 1. A dispatcher registers three tasks in the callback 4-tuple registry")
	for i := 1; i <= 3; i++ {
		rec := d.file(fmt.Sprintf("dispatch/task-%d.json", i), fmt.Sprintf(`{"schema": "callback_4tuple_ledger_record.v1", "task_id": "task-900+%d", "dispatch_id": "dispatch-%d", "dispatch_cron_id": "dispatch-%d", "executor": "executor-agent", "chat_id": "chat-demo-0001", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "fallback_callback_cron_id": null, "role": "executor", "status": "DISPATCHED", "no_fallback": true, "ts_kst": "2026-11-22T10:0%d:00+09:00"}`, i, i, i, i))
		if err := d.settle(0, "appended", "registry", "append", "--json-record", rec); err != nil {
			return err
		}
	}
	if err := d.settle(0, "REGISTERED", "registry", "classify", "task-900+1"); err != nil {
		return err
	}
	if err := d.settle(0, "declared", "batch", "declare", "--batch", "BATCH-900", "--track", "T1=task-900+1", "--track", "T2=task-900+2", "--track", "T3=task-900+3"); err != nil {
		return err
	}

	d.say("\n== 2. Independent collectors write verdict files; settle writes them back")
	v1 := d.file("verdicts/task-1.json", `{"task_id": "task-900+1 (TRACK 1 — render pass)", "track": "T1", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU", "collector_key": "anu0000000000001 (independent)", "executor_key": "exec00000000001", "dispatch_id": "dispatch-1", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "ts_kst": "2026-11-22T10:10:00+09:00"}`)
	v2 := d.file("verdicts/task-2.json", `{"task": "task-900+2", "track_id": "T2", "verdict": "AUTHORITATIVE_PASS", "four_tuple_record": {"collector_key": "anu0000000000001", "collector_role": "ANU", "executor_key": "exec00000000002", "dispatch_id": "dispatch-2", "chat_id": "chat-demo-0001", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "ts_kst": "2026-11-22T10:11:00+09:00"}}`)
	if err := d.settle(0, "DURABLE_SUCCESS_WRITTEN", "writeback", "--batch", "BATCH-900", v1, v2); err != nil {
		return err
	}
	d.say("\n-- the executor vouching for itself is refused (and the refusal recorded):")
	v3self := d.file("verdicts/task-3-self.json", `{"task_id": "task-900+3", "track": "T3", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU", "collector_key": "exec00000000003 (self-chain)", "executor_key": "exec00000000003", "executor_self_collector": true, "dispatch_id": "dispatch-3", "ts_kst": "2026-11-22T10:12:00+09:00"}`)
	if err := d.settle(1, "SELF_CHAIN_NO_WRITEBACK", "writeback", "--batch", "BATCH-900", v3self); err != nil {
		return err
	}
	d.say("\n-- an identical replay is an idempotent skip; a contradicting one a recorded conflict:")
	if err := d.settle(0, "WRITEBACK_IDEMPOTENT_SKIP", "writeback", "--batch", "BATCH-900", v1); err != nil {
		return err
	}
	v1b := d.file("verdicts/task-1-contradicting.json", `{"task_id": "task-900+1", "track": "T1", "authoritative_verdict": "PASS", "collector_role": "ANU", "collector_key": "anu0000000000001", "executor_key": "exec00000000001", "dispatch_id": "dispatch-1", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "ts_kst": "2026-11-22T10:13:00+09:00"}`)
	if err := d.settle(1, "WRITEBACK_BINDING_CONFLICT", "writeback", "--batch", "BATCH-900", v1b); err != nil {
		return err
	}

	d.say("\n== 3. The batch is judged on its write-back events only (2 of 3 settled)")
	if err := d.settle(0, "RECORD_AND_DEFER", "batch", "status", "--batch", "BATCH-900"); err != nil {
		return err
	}
	v3 := d.file("verdicts/task-3.json", `{"task_id": "task-900+3", "track": "T3", "authoritative_verdict": "AUTHORITATIVE_PASS", "collector_role": "ANU", "collector_key": "anu0000000000002", "executor_key": "exec00000000003", "dispatch_id": "dispatch-3", "normal_collector_cron_id": "ANU-normal-callback:anu0000000000001", "ts_kst": "2026-11-22T10:20:00+09:00"}`)
	if err := d.settle(0, "DURABLE_SUCCESS_WRITTEN", "writeback", "--batch", "BATCH-900", v3); err != nil {
		return err
	}
	if err := d.settle(0, "ALL_SETTLED_CONSOLIDATE", "batch", "status", "--batch", "BATCH-900", "--this-track", "T3"); err != nil {
		return err
	}
	if err := d.settle(0, "NORMAL_CALLBACK_COMPLETED", "registry", "classify", "task-900+3"); err != nil {
		return err
	}
	if err := d.settle(0, "refused", "records", "--kind", "conflict"); err != nil {
		return err
	}

	d.say("\n== 4. Scenes: initialise an episode from a plan")
	plan := d.file("plans/ep1.json", `{"sequences": {"BATCH_001": {"shots": [{"shot_id": "S01", "prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"}, {"shot_id": "S02", "prompt": "waves on rocks"}]}, "BATCH_002": {"shots": [{"id": "S03", "prompt": "a gull takes off"}]}}}`)
	sc := []string{"--project", "demo-film", "--episode", "1"}
	if err := d.settle(0, "created", append([]string{"scene", "init", "--plan", plan}, sc...)...); err != nil {
		return err
	}
	if err := d.settle(0, "ep_001_BATCH_001.json", append([]string{"scene", "list"}, sc...)...); err != nil {
		return err
	}
	b1 := append(append([]string{}, sc...), "--batch", "BATCH_001")
	d.say("\n-- a status write: add a take to beat S01 and mark it succeeded (expected version 1)")
	p1 := d.file("patches/take.json", `[{"op": "add", "path": "/beats/0/takes/-", "value": {"take_id": "S01-t1", "status": "succeeded", "created_at": "2026-11-22T01:00:00+00:00", "started_at": "2026-11-22T01:00:00+00:00", "finished_at": "2026-11-22T01:02:00+00:00", "artifact_path": "renders/S01-t1.mp4", "receipt": {"cost_usd": 0.42}, "error": null}}, {"op": "replace", "path": "/beats/0/primary_take_id", "value": "S01-t1"}]`)
	if err := d.settle(0, "status saved", append([]string{"scene", "patch", "--expected-version", "1", "--patch", p1}, b1...)...); err != nil {
		return err
	}
	d.say("\n-- a structural change through a status write is refused, nothing written:")
	p2 := d.file("patches/structural.json", `[{"op": "replace", "path": "/beats/1/beat_id", "value": "S02-renamed"}]`)
	if err := d.settle(1, "STRUCTURE_IMMUTABLE", append([]string{"scene", "patch", "--expected-version", "1", "--patch", p2}, b1...)...); err != nil {
		return err
	}
	d.say("\n-- a re-derived scene is a candidate version; activating it moves the pointer:")
	cand := d.file("candidates/BATCH_001.json", `{"scene_id": "BATCH_001", "beats": [{"beat_id": "S01", "beat_metadata": {"scene_id": "BATCH_001", "plan_shot": {"shot_id": "S01", "prompt": "a lighthouse at dusk, storm clouds"}}}, {"beat_id": "S02", "beat_metadata": {"scene_id": "BATCH_001", "plan_shot": {"shot_id": "S02", "prompt": "waves on rocks"}}}], "scene_metadata": {"episode": "1", "project": "demo-film"}}`)
	if err := d.settle(0, "version 2", append([]string{"scene", "candidate", "--scene", cand, "--reason", "re-derive: storm"}, b1...)...); err != nil {
		return err
	}
	if err := d.settle(0, "version 2 is active", append([]string{"scene", "activate", "--version", "2"}, b1...)...); err != nil {
		return err
	}
	if err := d.settle(0, "v002", append([]string{"scene", "versions"}, b1...)...); err != nil {
		return err
	}
	d.say("\n-- a status write prepared against version 1 is now a version conflict:")
	if err := d.settle(1, "VERSION_CONFLICT", append([]string{"scene", "patch", "--expected-version", "1", "--patch", p1}, b1...)...); err != nil {
		return err
	}
	if err := d.settle(0, "\"version\":2", append([]string{"scene", "show", "--json"}, b1...)...); err != nil {
		return err
	}
	d.say("\ndemo complete: %d steps, every outcome as expected.", d.steps)
	return nil
}
