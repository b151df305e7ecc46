package appliance

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskSpace returns the bytes free to this process and the size of the
// file system holding dir.
func diskSpace(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// kernelClockSynced reads the kernel's NTP state: adjtimex(2) returns
// TIME_ERROR while the clock is not synchronised (STA_UNSYNC set).
func kernelClockSynced() (bool, error) {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}
