package main

import (
	"flag"
	"slices"
	"time"
)

// examples holds one example per command and subcommand, printed at the end
// of its --help. TestSubcommandHelpIsItsOwn requires one for each.
var examples = map[string]string{
	"writeback":           "settle writeback --batch B1 verdicts/task-1.json verdicts/task-2.json\n  settle writeback --batch B1 --dry-run --expect '{\"task_id\":\"task-3\"}' verdicts/task-3.json",
	"batch status":        "settle batch status --batch B1 --this-track T2",
	"batch declare":       "settle batch declare --batch B1 --track T1=task-1 --track T2=task-2",
	"batch summary":       "settle batch summary --batch B1 --json",
	"registry append":     "settle registry append --json-record dispatch.json",
	"registry history":    "settle registry history task-1",
	"registry classify":   "settle registry classify task-1",
	"records":             "settle records --kind conflict --batch B1 --limit 20",
	"scene init":          "settle scene init --project film --episode 1 --plan plan.json --max-takes 5 --dry-run",
	"scene show":          "settle scene show --project film --episode 1 --batch BATCH_001 --version 2",
	"scene versions":      "settle scene versions --project film --episode 1 --batch BATCH_001",
	"scene list":          "settle scene list --project film --episode 1",
	"scene patch":         "settle scene patch --project film --episode 1 --batch BATCH_001 --expected-version 1 --patch status.json",
	"scene save-runner":   "settle scene save-runner --project film --episode 1 --batch BATCH_001 --expected-version 1 --expected-revision \"$REV\" --scene runner.json",
	"scene candidate":     "settle scene candidate --project film --episode 1 --batch BATCH_001 --scene rederived.json --reason \"re-derive\" --activate",
	"scene activate":      "settle scene activate --project film --episode 1 --batch BATCH_001 --version 2",
	"scene recover-stale": "settle scene recover-stale --project film --episode 1 --batch BATCH_001 --older-than 5m",
	"fsck":                "settle fsck --root /srv/pipeline --remove-tmp",
	"demo":                "settle demo --dir /tmp/settle-demo --keep",
	"serve":               "settle serve --config settle.json --listen 127.0.0.1:8080",
	"bench":               "settle bench --embedded --clients 64 --duration 10s --workload writeback",
	"migrate":             "settle migrate --from file:/srv/pipeline --to postgres://settle@db/settle",
	"version":             "settle version --json",
}

// subFlags registers a flag only on the subcommands that take it. A flag
// that is not registered is unknown to the flag set, so giving it to another
// subcommand is a usage error instead of being ignored; its variable keeps
// the default.
type subFlags struct {
	fs  *flag.FlagSet
	sub string
}

func (s subFlags) on(subs []string) bool { return slices.Contains(subs, s.sub) }

func (s subFlags) String(subs []string, name, def, usage string) *string {
	p := new(string)
	*p = def
	if s.on(subs) {
		s.fs.StringVar(p, name, def, usage)
	}
	return p
}

func (s subFlags) Int(subs []string, name string, def int, usage string) *int {
	p := new(int)
	*p = def
	if s.on(subs) {
		s.fs.IntVar(p, name, def, usage)
	}
	return p
}

func (s subFlags) Bool(subs []string, name string, usage string) *bool {
	p := new(bool)
	if s.on(subs) {
		s.fs.BoolVar(p, name, false, usage)
	}
	return p
}

func (s subFlags) Duration(subs []string, name string, def time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = def
	if s.on(subs) {
		s.fs.DurationVar(p, name, def, usage)
	}
	return p
}

func (s subFlags) Var(subs []string, v flag.Value, name, usage string) {
	if s.on(subs) {
		s.fs.Var(v, name, usage)
	}
}
