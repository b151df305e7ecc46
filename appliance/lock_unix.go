//go:build unix

package appliance

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errInUse is returned when another process runs on the same data folder.
var errInUse = errors.New("is in use by another Postroom process (stop it first, or give another -data folder)")

// lockDataDir takes a non-blocking exclusive flock on the data folder
// itself, held until unlock. flock locks belong to an open file, so a
// second Run in the same process is refused too. The lock goes away with
// the process, whatever way it ends: no stale lock file after a crash.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data folder %s %w", dir, errInUse)
		}
		return nil, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
