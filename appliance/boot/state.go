package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"postroom/internal/atomicfile"
)

// State is what the init keeps on the data disk between boots, one small
// file each in Dir (/data/postroom-init): how many times the box has
// booted, and the last time it knew. A Pi has no real-time clock: it
// starts in 1970 until NTP answers, and a box whose clock never goes
// backwards past the last known time does not judge certificates, DKIM
// signatures or its own queue by a clock decades behind.
type State struct {
	Dir string
}

const (
	bootsFile = "boots"
	clockFile = "clock"
)

// CountBoot adds one to the boot count and returns the new count. A
// missing file counts as no boots yet; a damaged one is an error (the
// count is never silently reset).
func (s State) CountBoot() (int, error) {
	n, err := s.readInt(bootsFile)
	if err != nil {
		return 0, err
	}
	n++
	return int(n), s.writeInt(bootsFile, n)
}

// LastClock returns the last time saved by SaveClock (zero if none).
func (s State) LastClock() (time.Time, error) {
	n, err := s.readInt(clockFile)
	if err != nil || n == 0 {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

// SaveClock records now as the last known time.
func (s State) SaveClock(now time.Time) error {
	return s.writeInt(clockFile, now.Unix())
}

// ClockBehind reports whether the system clock (now) is behind the last
// known time, so the init should set the clock forward to it.
func ClockBehind(now, last time.Time) bool {
	return !last.IsZero() && now.Before(last)
}

func (s State) readInt(name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: damaged: %q", filepath.Join(s.Dir, name), b)
	}
	return n, nil
}

func (s State) writeInt(name string, n int64) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.Dir, name), []byte(strconv.FormatInt(n, 10)+"\n"), 0o644)
}
