//go:build linux

package usbdisk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func mount(dev, dir, fstype, data string) error {
	return unix.Mount(dev, dir, fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOATIME, data)
}

func unmountOnce(dir string) error { return unix.Unmount(dir, 0) }

func isBusy(err error) bool { return errors.Is(err, unix.EBUSY) }

// syncFS writes out the file system mounted on dir (syncfs(2): only that
// one, not every disk of the box).
func syncFS(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		unix.Sync()
		return
	}
	defer f.Close()
	if unix.Syncfs(int(f.Fd())) != nil {
		unix.Sync()
	}
}

// reReadPartitions asks the kernel to read a disk's partition table again
// (BLKRRPART), after a format replaced it; a plain file has none.
func reReadPartitions(f *os.File) {
	unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
}

// usedBytes is what the file system holding dir has in use.
func usedBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks-st.Bfree) * int64(st.Bsize), nil
}
