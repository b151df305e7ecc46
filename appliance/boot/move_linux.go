//go:build linux

package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"postroom/appliance/usbdisk"
)

// moveFromDir is where the init mounts the SD card's data partition,
// read-only, to copy the mail from it.
var moveFromDir = "/tmp/postroom-move-from" // a variable for the tests

// moveData runs right after choice.Device is mounted on cfg.DataDir and
// before anything writes there. A USB data disk with a move marker gets
// the mail first (move.go). When the move cannot be done (the marker names
// another file system, the disk is too small, the copy failed), the USB
// disk is unmounted, the SD card's data partition is mounted in its
// place, and the returned choice says why (Note): the box runs as before,
// and the next start tries again while the marker is there. An error
// means neither disk can be used: the mail's own disk is missing.
func moveData(ctx context.Context, cfg Config, choice DataChoice) (DataChoice, error) {
	if !choice.USB {
		return choice, nil
	}
	m, ok, err := usbdisk.ReadMoveMarker(cfg.DataDir)
	if err == nil && !ok {
		return choice, nil
	}
	usb := choice.Device
	var why error
	switch {
	case err != nil:
		why = err
	case choice.SD == "":
		why = fmt.Errorf("%w (%s, UUID %s)", ErrMoveNoSource, m.FromDevice, m.FromUUID)
	default:
		if src := usbdisk.Probe(choice.SD); !strings.EqualFold(src.UUID, m.FromUUID) {
			why = fmt.Errorf("%w (UUID %s; the SD card's data partition %s is UUID %s)", ErrMoveOtherSource, m.FromUUID, choice.SD, src.UUID)
			break
		}
		cfg.Say("moving the mail from the SD card (%s) to the USB disk %s, as an administrator asked on %s", choice.SD, usb, m.At.UTC().Format("2 January 2006 15:04 UTC"))
		why = copyFrom(ctx, cfg, choice.SD)
	}
	if why == nil {
		cfg.Say("the mail is on the USB disk %s from now on; the SD card keeps its copy until you remove it", usb)
		return choice, nil
	}
	unix.Sync()
	if err := unix.Unmount(cfg.DataDir, 0); err != nil {
		return choice, fmt.Errorf("unmount %s: %w", cfg.DataDir, err)
	}
	if ctx.Err() != nil {
		return choice, ctx.Err()
	}
	if choice.SD == "" {
		return choice, fmt.Errorf("the mail was not moved to the USB disk %s: %v: put back the SD card the mail is on, or unplug the USB disk, and restart the box", usb, why)
	}
	again := ""
	if !errors.Is(why, ErrMoveOtherSource) && !errors.Is(why, ErrMoveTooSmall) {
		again = "; the next start tries again"
	}
	note := fmt.Sprintf("The mail was not moved to the USB disk %s: %v%s.", usb, why, again)
	cfg.Say("the box runs from the SD card as before. %s", note)
	if err := unix.Mount(choice.SD, cfg.DataDir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return choice, fmt.Errorf("mount %s on %s: %w", choice.SD, cfg.DataDir, err)
	}
	sd := DataChoice{Device: choice.SD, BlankUSB: choice.BlankUSB, Note: note}
	for _, o := range choice.Others {
		if o != choice.SD {
			sd.Others = append(sd.Others, o)
		}
	}
	if !slices.Contains(sd.Others, usb) {
		sd.Others = append(sd.Others, usb)
	}
	return sd, nil
}

// copyFrom mounts the SD card's data partition read-only and copies it
// onto the USB disk mounted on cfg.DataDir (Mover). A source that was not
// unmounted cleanly has its journal replayed by the kernel as it mounts:
// that finishes the source's own last writes, and is the only write it
// ever sees.
func copyFrom(ctx context.Context, cfg Config, sd string) error {
	if err := os.MkdirAll(moveFromDir, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(sd, moveFromDir, "ext4", unix.MS_RDONLY|unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s read-only: %w", sd, err)
	}
	mv := &Mover{Src: moveFromDir, Dst: cfg.DataDir, Say: cfg.Say}
	_, err := mv.Run(ctx)
	if uerr := unix.Unmount(moveFromDir, 0); uerr != nil && err == nil {
		cfg.Say("unmount %s: %v", moveFromDir, uerr)
	}
	return err
}

// freeBytes is what an unprivileged writer may still put on the file
// system holding dir.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// dropCache asks the kernel to forget f's cached pages (after fsync), so
// that the check reads the copy back from the disk itself.
func dropCache(f *os.File) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
