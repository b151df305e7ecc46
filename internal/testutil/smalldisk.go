package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes on a fresh temp dir and returns
// the dir; the cleanup unmounts it. It skips the test, saying why, where
// the machine does not allow mounting (not Linux, not root, no
// CAP_SYS_ADMIN in a container); CI runs as root, so there it runs.
func SmallDisk(tb testing.TB, size int64) string {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skipf("a full-disk test needs a small tmpfs, which needs Linux (this is %s)", runtime.GOOS)
	}
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		tb.Skipf("a full-disk test needs a small tmpfs, and mounting one failed (run as root to include it): %v", err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount the test disk %s: %v", dir, err)
		}
	})
	return dir
}

// FillDisk writes the file path until the disk holding it is full (ENOSPC),
// as another program filling the disk would, and returns how many bytes it
// wrote. Removing the file frees them again.
func FillDisk(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for step := len(buf); step > 0; {
		k, err := f.Write(buf[:step])
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			step /= 4 // top up the last blocks in smaller writes
			continue
		}
		if err != nil {
			return n, fmt.Errorf("fill %s: %w", filepath.Base(path), err)
		}
	}
	return n, f.Sync()
}
