package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// subcommandNames lists every command and subcommand that has a --help.
func subcommandNames() []string {
	var names []string
	for _, c := range commands() {
		switch c.name {
		case "batch":
			for _, s := range []string{"status", "declare", "summary"} {
				names = append(names, "batch "+s)
			}
		case "registry":
			for _, s := range []string{"append", "history", "classify"} {
				names = append(names, "registry "+s)
			}
		case "scene":
			for _, s := range sceneSubs {
				names = append(names, "scene "+s)
			}
		case "events":
			names = append(names, "events compact")
		default:
			names = append(names, c.name)
		}
	}
	return names
}

// TestSubcommandHelpIsItsOwn: each subcommand's --help shows its own
// synopsis, only its own flags and an example of itself.
func TestSubcommandHelpIsItsOwn(t *testing.T) {
	// Flags that belong to one subcommand only: no other subcommand of the
	// same command may offer them.
	owner := map[string]string{
		"--this-track":        "batch status",
		"--plan":              "scene init",
		"--max-takes":         "scene init",
		"--dry-run":           "scene init",
		"--patch":             "scene patch",
		"--reason":            "scene candidate",
		"--activate":          "scene candidate",
		"--older-than":        "scene recover-stale",
		"--json-record":       "registry append",
		"--expected-revision": "scene save-runner",
	}
	for _, name := range subcommandNames() {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			out, _, code := run(t, nil, append(strings.Fields(name), "--help")...)
			if code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			if !strings.HasPrefix(out, "Usage: settle "+name) {
				t.Fatalf("help does not start with its own synopsis:\n%s", out)
			}
			if !strings.Contains(out, "\nExample:\n  settle "+name) {
				t.Fatalf("help has no example of %q:\n%s", name, out)
			}
			g := strings.Index(out, "\nGlobal flags:")
			if g < 0 {
				t.Fatalf("help does not list the global flags:\n%s", out)
			}
			flags := out[:g]
			for flag, own := range owner {
				if own != name && strings.Fields(own)[0] == strings.Fields(name)[0] && strings.Contains(flags, "  "+flag+" ") {
					t.Errorf("help offers %s, a flag of %s", flag, own)
				}
			}
		})
	}
	// The command-level help of a command with subcommands lists them and
	// does not describe each one's flags.
	out, _, _ := run(t, nil, "scene", "--help")
	if strings.Contains(out, "--plan") || !strings.Contains(out, "recover-stale") {
		t.Fatalf("scene --help:\n%s", out)
	}
	// "settle help scene init" is "settle scene init --help".
	out, _, code := run(t, nil, "help", "scene", "init")
	if code != 0 || !strings.HasPrefix(out, "Usage: settle scene init") {
		t.Fatalf("help scene init: exit %d\n%s", code, out)
	}
}

// TestFlagOfAnotherSubcommandIsUsageError: a flag that exists on a sibling
// subcommand is refused with exit 2 and nothing runs.
func TestFlagOfAnotherSubcommandIsUsageError(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"SETTLE_ROOT": dir}
	for name, args := range map[string][]string{
		"scene list --activate":          {"scene", "list", "--project", "p", "--episode", "1", "--activate", "--reason", "x"},
		"scene init --batch":             {"scene", "init", "--project", "p", "--episode", "1", "--plan", "x.json", "--batch", "B"},
		"scene show --patch":             {"scene", "show", "--project", "p", "--episode", "1", "--batch", "B", "--patch", "x"},
		"scene activate --older-than":    {"scene", "activate", "--project", "p", "--episode", "1", "--batch", "B", "--version", "1", "--older-than", "1m"},
		"batch declare --this-track":     {"batch", "declare", "--batch", "B", "--track", "T=t", "--this-track", "T"},
		"batch summary --track":          {"batch", "summary", "--batch", "B", "--track", "T=t"},
		"batch status extra arg":         {"batch", "status", "--batch", "B", "extra"},
		"registry history --json-record": {"registry", "history", "t1", "--json-record", "x"},
		"records --dry-run":              {"records", "--dry-run"},
		"version --batch":                {"version", "--batch", "B"},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			out, stderr, code := run(t, env, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, out, stderr)
			}
			if stderr == "" {
				t.Fatal("a usage error says nothing")
			}
		})
	}
	// The same flags on their own subcommand are accepted.
	if _, stderr, code := run(t, env, "scene", "list", "--project", "p", "--episode", "1"); code != 0 {
		t.Fatalf("scene list: exit %d %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, code := run(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if !strings.HasPrefix(out, "settle ") || !strings.Contains(out, " commit ") || !strings.HasSuffix(strings.TrimSpace(out), runtime.Version()) {
			t.Fatalf("%v: %q, want settle VERSION commit C %s", args, out, runtime.Version())
		}
	}
	out, _, code := run(t, nil, "version", "--json")
	var v BuildVersion
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Go != runtime.Version() || v.Version == "" {
		t.Fatalf("version --json: exit %d %q", code, out)
	}
	if _, _, code := run(t, nil, "version", "extra"); code != 2 {
		t.Fatalf("version extra: exit %d, want 2", code)
	}
}

// TestVersionStampsCommit builds settle from a git clone of this
// repository's HEAD and checks that "settle version" names that commit.
func TestVersionStampsCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("clones the repository and builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", "--no-hardlinks", "../..", dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", dir, "checkout", "-q", strings.TrimSpace(string(head))).CombinedOutput(); err != nil {
		t.Fatalf("git checkout: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "settle")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/settle")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v BuildVersion
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if v.Commit != strings.TrimSpace(string(head)) || v.CommitTime == "" || v.Modified || v.Go != runtime.Version() {
		t.Fatalf("version of a clean build at %s: %+v", head, v)
	}
}
