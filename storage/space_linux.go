package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// errNoAllocate: the file system cannot preallocate (fallocate unsupported).
var errNoAllocate = errors.New("storage: the file system cannot preallocate")

// preallocate allocates the first n bytes of f; keepSize leaves its size
// alone (for Badger's files, whose size Badger manages), otherwise the file
// grows to n.
func preallocate(f *os.File, n int64, keepSize bool) error {
	mode := uint32(0)
	if keepSize {
		mode = unix.FALLOC_FL_KEEP_SIZE
	}
	for {
		err := unix.Fallocate(int(f.Fd()), mode, 0, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return errNoAllocate
		default:
			return err
		}
	}
}
