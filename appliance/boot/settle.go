package boot

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"
)

// WaitSettled waits until the entries of every folder in dirs are the same
// in two readings interval apart, or until maxWait has passed, and returns
// whether they settled. The init runs it over /sys/bus/usb/devices and
// /sys/block before choosing the data disk: the kernel mounts the root as
// soon as the SD card is there (rootwait), but a USB disk may take a few
// seconds more to show up, and choosing the SD card's partition meanwhile
// would split the mail between two disks. sleep is time.Sleep's stand-in
// (tests pass a fake one); it returns early when ctx ends.
func WaitSettled(ctx context.Context, dirs []string, interval, maxWait time.Duration,
	sleep func(context.Context, time.Duration) error) bool {
	if sleep == nil {
		sleep = realSleep
	}
	prev := snapshotDirs(dirs)
	for waited := time.Duration(0); waited < maxWait; waited += interval {
		if sleep(ctx, interval) != nil {
			return false
		}
		cur := snapshotDirs(dirs)
		if cur == prev {
			return true
		}
		prev = cur
	}
	return false
}

// snapshotDirs lists the entry names of each folder, sorted, as one string
// (a missing folder lists as empty).
func snapshotDirs(dirs []string) string {
	var b strings.Builder
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		b.WriteString(d)
		b.WriteByte(':')
		b.WriteString(strings.Join(names, ","))
		b.WriteByte('\n')
	}
	return b.String()
}
