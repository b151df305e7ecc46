package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"postroom/appliance/config"
	"postroom/appliance/usbdisk"
)

// The USB target: a disk plugged into the box, found by its file
// system's UUID (the /dev name depends on the order disks were plugged
// in), mounted for one backup, verification, listing or restore, and
// unmounted (after a sync) when the target is closed, so the office may
// pull the stick out between two backups and take it home.

// USBFolder is the folder on the disk that holds the backups, so that a
// stick the office also uses for other files stays tidy.
const USBFolder = "postroom-backups"

// ErrNotPlugged: the chosen USB disk is not plugged in.
var ErrNotPlugged = errors.New("the USB disk for backups is not plugged in")

// ErrNoUSB: this machine cannot see USB disks (a developer's machine).
var ErrNoUSB = errors.New("this box cannot see USB disks here (development mode): choose a folder instead")

// usbTarget is a Folder on a mounted USB disk.
type usbTarget struct {
	Folder
	name string
	m    *usbdisk.Mounted
}

// USBName names a USB disk in the backup state and on the page: by its
// UUID, so that the chain of backups goes on whatever its /dev name.
func USBName(c config.USBConfig) string {
	if c.Label != "" {
		return "USB disk " + c.Label + " (" + c.UUID + ")"
	}
	return "USB disk " + c.UUID
}

func (u *usbTarget) String() string { return u.name }

// Close unmounts the disk.
func (u *usbTarget) Close() error {
	if err := u.m.Unmount(); err != nil {
		return fmt.Errorf("%s: %w", u.name, err)
	}
	return nil
}

// usbWords is how the page asks for the disk.
func usbWords(c config.USBConfig) string {
	switch {
	case c.Label != "" && c.Name != "":
		return fmt.Sprintf("plug in the USB disk labelled %s (%s)", c.Label, c.Name)
	case c.Label != "":
		return "plug in the USB disk labelled " + c.Label
	case c.Name != "":
		return fmt.Sprintf("plug in the USB disk %s chosen for backups (its file system %s)", c.Name, c.UUID)
	}
	return "plug in the USB disk chosen for backups (its file system " + c.UUID + ")"
}

// openUSB finds and mounts the disk of c on h.
func openUSB(h *usbdisk.Host, c config.USBConfig) (Target, error) {
	if h == nil {
		return nil, ErrNoUSB
	}
	_, fs, ok := h.ByUUID(c.UUID)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotPlugged, usbWords(c))
	}
	if fs.Data {
		return nil, fmt.Errorf("the USB disk %s holds the mail itself: a backup must go to another disk", USBName(c))
	}
	m, err := h.Mount(fs)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.Dir, USBFolder)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		m.Unmount()
		return nil, fmt.Errorf("making the folder %s on %s: %w", USBFolder, USBName(c), err)
	}
	return &usbTarget{Folder: Folder{Dir: dir}, name: USBName(c), m: m}, nil
}

// OpenTargetOn makes the target a backup section names, with the box's
// USB disks on h (nil: none can be seen).
func OpenTargetOn(ctx context.Context, dataDir string, c config.BackupConfig, h *usbdisk.Host) (Target, error) {
	if c.Target == "usb" {
		return openUSB(h, c.USB)
	}
	return OpenTarget(ctx, dataDir, c)
}
