package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	settle "github.com/settlehq/settle"
)

// readInputFile reads a verdict (or --expect) file. Only a regular file is
// read: a FIFO or a device could block the command forever or never end,
// so it is refused (INVALID_INPUT) before anything is read. The file is
// opened with O_NONBLOCK so that opening a FIFO without a writer does not
// hang either; the mode is then checked on the open file, so a file
// swapped after a check cannot slip through.
func readInputFile(path, what string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, settle.Wrap(settle.ENOTFOUND, err, "read %s", what)
		}
		return nil, settle.Wrap(settle.EINVALID, err, "read %s", what)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "read %s", what)
	}
	if !fi.Mode().IsRegular() {
		return nil, settle.Errorf(settle.EINVALID, "read %s: %s is not a regular file (%s)", what, path, fi.Mode().Type())
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, settle.Wrap(settle.EINVALID, err, "read %s", what)
	}
	return data, nil
}
