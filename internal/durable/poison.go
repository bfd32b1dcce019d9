package durable

import (
	"fmt"
	"os"
	"sync/atomic"

	settle "github.com/settlehq/settle"
)

// Poison is the state of an appender after a failed write or fsync: the
// file's tail is unknown (an fsync error may have dropped pages the kernel
// reported written), so the store refuses further appends until it is
// reopened and has re-read the file. The zero value is not poisoned. Set
// and Err are guarded by the owner's lock; Poisoned may be read anywhere.
type Poison struct {
	err      error
	poisoned atomic.Bool
}

// Set records err (the first one is kept).
func (p *Poison) Set(err error) {
	if p.err == nil {
		p.err = err
		p.poisoned.Store(true)
	}
}

// Err is the recorded error, or nil.
func (p *Poison) Err() error { return p.err }

// Poisoned reports whether an error was recorded.
func (p *Poison) Poisoned() bool { return p.poisoned.Load() }

// AfterAppend records a failed append to f that started at offset pre
// and cuts f back to pre (best effort: nothing after pre was
// acknowledged). It returns the error of that rollback, for the log. The
// caller holds f's exclusive lock.
func (p *Poison) AfterAppend(f *os.File, err error, pre int64) (rollback error) {
	p.Set(err)
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > pre {
		if err := f.Truncate(pre); err != nil {
			return err
		}
		return f.Sync()
	}
	return nil
}

// TornTail is a repaired torn last line.
type TornTail struct {
	Offset  int64  // where the file now ends
	Bytes   int64  // bytes cut
	Sidecar string // the file holding them
	Torn    []byte // the bytes cut
}

// RepairTorn cuts f (at path) back to end, the end of its last complete
// line, after saving the bytes from end to size to a new sidecar
// "<path>.torn-<end>" (".N" appended if taken), and fsyncs f. The caller
// holds f's exclusive lock. An fsync failure poisons p (UNAVAILABLE);
// other failures are INTERNAL and leave f as it was or merely cut.
func RepairTorn(f *os.File, path string, end, size int64, p *Poison) (TornTail, error) {
	torn := make([]byte, size-end)
	if _, err := f.ReadAt(torn, end); err != nil {
		return TornTail{}, settle.Wrap(settle.Internal, err, "read torn tail of %s", path)
	}
	base := fmt.Sprintf("%s.torn-%d", path, end)
	sidecar := ""
	for i := 0; sidecar == ""; i++ {
		if i == 1000 {
			return TornTail{}, settle.Errorf(settle.Internal, "too many sidecars named %s", base)
		}
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s.%d", base, i)
		}
		created, err := CreateFile(name, torn, 0o644)
		if err != nil {
			return TornTail{}, settle.Wrap(settle.Internal, err, "save torn tail of %s", path)
		}
		if created {
			sidecar = name
		}
	}
	if err := f.Truncate(end); err != nil {
		return TornTail{}, settle.Wrap(settle.Internal, err, "truncate torn tail of %s", path)
	}
	if err := f.Sync(); err != nil {
		p.Set(err)
		return TornTail{}, settle.Wrap(settle.Unavailable, err, "fsync %s after torn tail repair", path)
	}
	return TornTail{Offset: end, Bytes: int64(len(torn)), Sidecar: sidecar, Torn: torn}, nil
}
