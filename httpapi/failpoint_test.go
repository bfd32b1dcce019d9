package httpapi_test

import (
	"errors"
	"testing"

	"github.com/settlehq/settle/internal/durable"
)

var errInjected = errors.New("injected fsync failure")

// failFsync makes every fsync of this process fail until healFsync.
func failFsync(t *testing.T) {
	t.Helper()
	durable.SetFailpoint("before-fsync", func() error { return errInjected })
	t.Cleanup(func() { durable.SetFailpoint("before-fsync", nil) })
}

func healFsync(t *testing.T) {
	t.Helper()
	durable.SetFailpoint("before-fsync", nil)
}
