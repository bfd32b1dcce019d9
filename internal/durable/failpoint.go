package durable

import (
	"errors"
	"os"
	"sync"
)

// ErrFailpoint is returned by an armed failpoint.
var ErrFailpoint = errors.New("durable: failpoint")

var (
	fpMu    sync.Mutex
	fpArmed map[string]func() error
)

// SetFailpoint arms a failpoint (tests only): fn runs when the named step is
// reached; a non-nil error aborts the write there. Steps: "tmp-created",
// "before-fsync", "before-rename", "before-dir-fsync", "before-append",
// "before-remove", and "group-overlap" (a GroupCommitter stages a group
// while an earlier one is not yet synced).
// fn nil disarms it. The environment variable SETTLE_FAILPOINT=<step> makes
// a process exit(137) at that step, for crash tests of child processes.
func SetFailpoint(step string, fn func() error) {
	fpMu.Lock()
	defer fpMu.Unlock()
	if fpArmed == nil {
		fpArmed = map[string]func() error{}
	}
	if fn == nil {
		delete(fpArmed, step)
		return
	}
	fpArmed[step] = fn
}

var envFailpoint = os.Getenv("SETTLE_FAILPOINT")

func hit(step string) error {
	if envFailpoint != "" && envFailpoint == step {
		os.Exit(137)
	}
	fpMu.Lock()
	fn := fpArmed[step]
	fpMu.Unlock()
	if fn != nil {
		return fn()
	}
	return nil
}
