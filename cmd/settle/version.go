package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionAbout = `Prints settle's version, the commit it was built from and the Go version,
as recorded in the binary's build information. A binary built without VCS
stamping (go run, -buildvcs=false, outside a git checkout or in a linked git
worktree) has no commit; one built from a tree with uncommitted changes says
so.`

// BuildVersion is what "settle version" prints.
type BuildVersion struct {
	// Version is the module version ("(devel)" for a build from a checkout
	// without a tag).
	Version string `json:"version"`
	// Commit is the VCS revision, empty when unknown.
	Commit string `json:"commit"`
	// CommitTime is the revision's commit time (RFC 3339), empty when unknown.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the tree had uncommitted changes.
	Modified bool `json:"modified"`
	// Go is the Go version the binary was built with.
	Go string `json:"go"`
}

// buildVersion reads the version from the binary's build information.
func buildVersion() BuildVersion {
	v := BuildVersion{Version: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one-line form: "settle VERSION commit C (TIME, modified) GO".
func (v BuildVersion) String() string {
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	}
	extra := v.CommitTime
	if v.Modified {
		if extra != "" {
			extra += ", "
		}
		extra += "modified"
	}
	if extra != "" {
		commit += " (" + extra + ")"
	}
	return fmt.Sprintf("settle %s commit %s %s", v.Version, commit, v.Go)
}

func runVersion(ctx context.Context, m *Main, args []string) error {
	var g globalFlags
	fs := m.newFlagSet("version", "version [--json]", versionAbout, &g)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("version: no arguments expected")
	}
	v := buildVersion()
	if g.json {
		return m.printJSON(v)
	}
	_, err := fmt.Fprintln(m.Stdout, v.String())
	return err
}
