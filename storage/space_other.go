//go:build !linux

package storage

import (
	"errors"
	"os"
)

// errNoAllocate: the file system cannot preallocate. Off Linux (the dev
// machine's macOS) nothing is preallocated: the reserve check alone guards
// the disk there.
var errNoAllocate = errors.New("storage: the file system cannot preallocate")

func preallocate(*os.File, int64, bool) error { return errNoAllocate }
