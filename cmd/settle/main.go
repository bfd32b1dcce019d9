package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/settlehq/settle/internal/durable"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	m := NewMain()
	m.Signals = sync.OnceFunc(func() { cancelOnSignal(cancel) })
	err := m.Run(ctx, os.Args[1:])
	cancel()
	os.Exit(ExitCode(err))
}

// cancelOnSignal cancels the command's context on the first SIGINT or
// SIGTERM, so that the command ends cleanly: a lock wait gives up with
// UNAVAILABLE, a server shuts down gracefully. Later signals are ignored
// while the command ends.
func cancelOnSignal(cancel context.CancelFunc) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
	}()
}

// lazySignals are the one-shot commands that arm Main.Signals only when
// they may block: before a wait for a lock (durable.OnLockWait) or on a
// database store (Main.resolve). os/signal starts an OS thread of its own
// (with its signal mask) and a thread for the runtime to start threads
// from, a cost a process per write-back pays for nothing when it never
// waits; until armed, SIGINT and SIGTERM end the process at once, as they
// end any program that does not catch them (every write is crash-safe).
// The other commands run for long (serve, bench, demo, migrate, fsck) or
// compact the event log, and arm it at start.
var lazySignals = map[string]bool{"writeback": true, "batch": true, "registry": true, "records": true, "scene": true}

// Main is the program: its streams and environment, so tests and the demo
// can run it in-process.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Signals, if set, makes SIGINT and SIGTERM cancel the context Run
	// was given; it may be called many times. Nil in-process.
	Signals func()
}

// armSignals calls m.Signals if set.
func (m *Main) armSignals() {
	if m.Signals != nil {
		m.Signals()
	}
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// subcommands are the commands whose first argument is a subcommand.
var subcommands = map[string]bool{"batch": true, "registry": true, "scene": true, "events": true}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, m *Main, args []string) error
}

func commands() []command {
	return []command{
		{"writeback", "evaluate verdict files and write back durable successes", runWriteback},
		{"batch", "declare a batch, evaluate its settlement (batch status|declare|summary)", runBatch},
		{"registry", "the callback 4-tuple registry (registry append|history|classify)", runRegistry},
		{"records", "list ledger records in append order", runRecords},
		{"scene", "the versioned scene store (scene init|show|versions|list|patch|save-runner|candidate|activate|recover-stale)", runScene},
		{"events", "the event log's retention (events compact)", runEvents},
		{"fsck", "check the ledger and the scene files of a workspace", runFsck},
		{"demo", "run a demonstration in a temporary workspace", runDemo},
		{"serve", "serve the HTTP API (docs/server.md)", runServe},
		{"bench", "load-test a server: throughput, latency, and the disk's fsync rate", runBench},
		{"migrate", "copy a store's data to another store (file: and postgres://), verified", runMigrate},
		{"version", "print the version, the commit and the Go version of this binary", runVersion},
	}
}

// Run runs the program with the arguments after the program name. Usage
// errors and refusals are printed before it returns; ExitCode maps the
// returned error to the exit status.
func (m *Main) Run(ctx context.Context, args []string) error {
	err := m.run(ctx, args)
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.err != nil && !ee.printed {
			fmt.Fprintln(m.Stderr, "settle:", ee.err)
			ee.printed = true
		}
	default:
		m.printErr(err, false)
		err = &exitError{code: 1, err: err, printed: true}
	}
	return err
}

func (m *Main) run(ctx context.Context, args []string) error {
	// Global flags may come before the command: collect them.
	var pre []string
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			m.usage(m.Stdout)
			return nil
		}
		if args[0] == "--version" || args[0] == "-version" {
			_, err := fmt.Fprintln(m.Stdout, buildVersion().String())
			return err
		}
		pre = append(pre, args[0])
		if takesValue(args[0]) && len(args) > 1 {
			pre = append(pre, args[1])
			args = args[1:]
		}
		args = args[1:]
	}
	if len(args) == 0 {
		m.usage(m.Stderr)
		return usageErr("no command")
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		if len(rest) > 0 {
			// "settle help scene init" is "settle scene init --help".
			return m.run(ctx, append(rest, "--help"))
		}
		m.usage(m.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			if lazySignals[name] {
				if m.Signals != nil {
					durable.OnLockWait(m.Signals)
				}
			} else {
				m.armSignals()
			}
			if subcommands[name] && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				// "settle --json scene show ...": the subcommand stays first.
				return c.run(ctx, m, append(append([]string{rest[0]}, pre...), rest[1:]...))
			}
			return c.run(ctx, m, append(pre, rest...))
		}
	}
	m.usage(m.Stderr)
	return usageErr("unknown command %q", name)
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintln(w, `settle keeps the record of what a pipeline did and who vouched for it.

Usage: settle [global flags] <command> [flags] [args]

Commands:`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Global flags (each also read from the environment and the config file;
a flag wins over the environment, the environment over the file):`)
	fmt.Fprint(w, globalFlagsHelp)
	fmt.Fprintln(w, `
Exit status: 0 success or a PASS decision, 1 a FAIL decision or a refused
operation, 2 a usage error. Run "settle <command> --help" for details.
"settle --version" prints the version.`)
}

// exitError carries an exit status.
type exitError struct {
	code    int
	err     error
	printed bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// errFail: the command printed a FAIL decision or its refusal (exit 1).
func errFail() error { return &exitError{code: 1, printed: true} }

// ExitCode maps Run's error to the exit status.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
