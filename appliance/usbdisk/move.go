package usbdisk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"postroom/internal/atomicfile"
)

// Moving the mail to a new data disk. When the page formats a blank USB
// disk for the mail, the admin layer leaves a MoveMarker at the root of
// the new file system, naming the data file system it replaces. At the
// next start the init (appliance/boot/move.go) sees the marker on the USB
// disk it chose, copies everything from the named file system onto it,
// checks the copy, and removes the marker last: while the marker is
// there the disk holds no mail of its own, only a copy in the making.

// MoveFile is the marker's name at the root of the new data file system.
const MoveFile = "postroom-move.json"

// MoveMarker says which data file system a new data disk replaces.
type MoveMarker struct {
	Version int `json:"version"` // 1
	// FromUUID is the ext4 UUID of the file system to copy (the SD
	// card's data partition); the init copies from no other.
	FromUUID   string    `json:"from_uuid"`
	FromDevice string    `json:"from_device"` // "/dev/mmcblk0p4", for people
	At         time.Time `json:"at"`
	By         string    `json:"by"` // who formatted the disk
}

// ErrNoDataFS: the mail's own file system is not among the disks (a
// developer's machine, or a box whose data folder is not a mount).
var ErrNoDataFS = errors.New("the file system the mail is on was not found")

// DataFS returns the file system mounted on the host's DataDir: the one
// a new data disk copies the mail from.
func (h *Host) DataFS() (FS, error) {
	disks, err := h.List()
	if err != nil {
		return FS{}, err
	}
	for _, d := range disks {
		for _, f := range d.FS {
			if h.DataDir != "" && f.MountedOn == h.DataDir {
				return f, nil
			}
		}
	}
	return FS{}, ErrNoDataFS
}

// DataUsed is the bytes in use on the mail's file system (DataDir): what
// a move copies, give or take the file system's own.
func (h *Host) DataUsed() (int64, error) {
	if h.DataDir == "" {
		return 0, ErrNoDataFS
	}
	return usedBytes(h.DataDir)
}

// WriteMoveMarker writes m at the root of the file system mounted on
// dir, synced (file and folder) before it returns.
func WriteMoveMarker(dir string, m MoveMarker) error {
	if m.FromUUID == "" {
		return errors.New("usbdisk: a move marker needs the UUID of the file system to copy")
	}
	m.Version = 1
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, MoveFile), append(b, '\n'), 0o644)
}

// ReadMoveMarker reads the marker at the root of dir; ok is false when
// there is none. A marker that cannot be read is an error, never "none":
// the disk would otherwise be taken for one that holds the mail.
func ReadMoveMarker(dir string) (m MoveMarker, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, MoveFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 || m.FromUUID == "" {
		return m, false, fmt.Errorf("%s is damaged: %q", filepath.Join(dir, MoveFile), b)
	}
	return m, true, nil
}

// MoveMinutes estimates, in whole minutes, a move of n bytes at the next
// start, for the page and the console: an SD card read and a USB disk
// written at about 10 MB/s together, then the copy read back once more.
func MoveMinutes(n int64) int {
	const rate = 10e6 // bytes per second
	m := int((float64(n)*1.5/rate + 59) / 60)
	return max(m, 1)
}

// FormatForMail formats the blank USB disk name for the mail (DataLabel,
// as Format does) and leaves the move marker m on it, so that the next
// start copies the mail onto it before using it. If the marker cannot be
// written, the new file system is wiped again: a data disk without a
// marker would be taken for one that holds the mail, and the box would
// start empty on it.
func (h *Host) FormatForMail(name, fingerprint string, m MoveMarker) (FS, error) {
	if m.FromUUID == "" {
		return FS{}, errors.New("usbdisk: a disk for the mail needs the UUID of the file system to copy")
	}
	f, err := h.Format(name, fingerprint, DataLabel)
	if err != nil {
		return f, err
	}
	mnt, err := h.Mount(f)
	if err == nil {
		err = WriteMoveMarker(mnt.Dir, m)
		if uerr := mnt.Unmount(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		if werr := wipeStart(f.Device); werr != nil {
			return FS{}, fmt.Errorf("writing the move marker on %s: %w (and wiping it again: %v)", f.Device, err, werr)
		}
		return FS{}, fmt.Errorf("writing the move marker on %s (the disk was wiped again): %w", f.Device, err)
	}
	return f, nil
}

// wipeStart zeroes the first MiB of a device this process just formatted:
// the ext4 superblock goes, and nothing takes the disk for the mail's.
func wipeStart(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	if _, err = f.WriteAt(make([]byte, 1<<20), 0); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MinutesWords is "1 minute", "12 minutes".
func MinutesWords(n int) string {
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}
