package admin

// USB disks (appliance/usbdisk): which ones the box sees, and formatting a
// blank one for backups or for the mail. Formatting erases a disk, so it
// is refused unless the disk is blank, on USB, holds no mail, is mounted
// nowhere, still is the very disk the page showed (its fingerprint), and
// the administrator typed its size as shown: the confirmation an office
// manager understands ("type 32.0 GB to format the 32.0 GB disk").

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"postroom/appliance/usbdisk"
)

// USBDisk is a disk as the page shows it.
type USBDisk struct {
	usbdisk.Disk
	Title       string `json:"title"`       // "SanDisk Cruzer Blade"
	SizeWords   string `json:"size_words"`  // "32.0 GB": what the confirmation asks to type
	Fingerprint string `json:"fingerprint"` // sent back with a format request
	Data        bool   `json:"data"`        // the mail lives on it
}

// USBDisks is the answer to ListUSBDisks.
type USBDisks struct {
	// Sees: this box looks at USB disks (the board); false on a
	// developer's machine, whose own disks are never offered.
	Sees  bool      `json:"sees"`
	Disks []USBDisk `json:"disks,omitempty"`
}

// ListUSBDisks lists the USB disks plugged in.
type ListUSBDisks struct{}

func (ListUSBDisks) OpName() string { return "usb.list" }
func (ListUSBDisks) readOnly()      {}

// The uses of FormatUSB.
const (
	UseBackup = "backup" // ext4 labelled postroom-backup
	UseData   = "data"   // ext4 labelled postroom-data: the mail's disk from the next start
)

// FormatUSB formats the blank USB disk Disk ("sda") for Use, once the
// administrator typed its size (Confirm) as the page showed it.
type FormatUSB struct {
	Disk        string `json:"disk"`
	Fingerprint string `json:"fingerprint"`
	Use         string `json:"use"`
	Confirm     string `json:"confirm"`
}

func (FormatUSB) OpName() string { return "usb.format" }

// FormatUSBResult is the new file system and what happens next.
type FormatUSBResult struct {
	FS   usbdisk.FS `json:"fs"`
	Note string     `json:"note"`
}

// errNoUSB is the answer of a box that sees no USB disks.
func errNoUSB() *Error {
	return errorf(CodeConflict, "disk", "this box does not look at USB disks here (development mode)")
}

func (a *Admin) usbDisks() ([]USBDisk, error) {
	disks, err := a.o.USB.USB()
	if err != nil {
		return nil, internal("listing the USB disks", err)
	}
	out := make([]USBDisk, 0, len(disks))
	for _, d := range disks {
		out = append(out, USBDisk{Disk: d, Title: d.Label(), SizeWords: usbdisk.SizeWords(d.Size), Fingerprint: usbdisk.Fingerprint(d), Data: d.Data()})
	}
	return out, nil
}

func (a *Admin) ListUSBDisks(ctx context.Context, by Actor, req ListUSBDisks) (USBDisks, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListUSBDisks) (USBDisks, string, error) {
		if a.o.USB == nil {
			return USBDisks{}, "", nil
		}
		disks, err := a.usbDisks()
		return USBDisks{Sees: true, Disks: disks}, "", err
	})
}

func (a *Admin) FormatUSB(ctx context.Context, by Actor, req FormatUSB) (FormatUSBResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req FormatUSB) (FormatUSBResult, string, error) {
		var res FormatUSBResult
		if a.o.USB == nil {
			return res, "", errNoUSB()
		}
		label := usbdisk.BackupLabel
		switch req.Use {
		case UseBackup:
		case UseData:
			label = usbdisk.DataLabel
		default:
			return res, "", errorf(CodeInvalid, "use", "choose what the disk is for: backups or the mail")
		}
		disks, err := a.usbDisks()
		if err != nil {
			return res, "", err
		}
		var d *USBDisk
		for i := range disks {
			if disks[i].Name == req.Disk {
				d = &disks[i]
			}
		}
		if d == nil {
			return res, "", errorf(CodeNotFound, "disk", "%s: plug it in again and reload the page", usbdisk.ErrGone)
		}
		if !usbdisk.SameSize(req.Confirm, d.Size) {
			return res, "", errorf(CodeInvalid, "confirm", "type the disk's size exactly as shown (%s) to confirm that this disk may be erased", d.SizeWords)
		}
		var fs usbdisk.FS
		if req.Use == UseData && d.Blank && !d.Data {
			// The disk gets a marker naming the mail's file system: the
			// next start copies the mail onto it (appliance/boot/move.go).
			// (A disk that is not blank goes to Format, which refuses it
			// in its own words.)
			from, ferr := a.o.USB.DataFS()
			if ferr != nil {
				return res, "", errorf(CodeConflict, "disk", "nothing was erased: the box cannot tell which disk the mail is on now (%v), so it could not move the mail", ferr)
			}
			if used, uerr := a.o.USB.DataUsed(); uerr == nil && used+moveSlack > d.Size {
				return res, "", errorf(CodeConflict, "disk", "nothing was erased: the disk (%s) is too small for the mail and settings (%s): use a bigger one", d.SizeWords, usbdisk.SizeWords(used))
			}
			fs, err = a.o.USB.FormatForMail(req.Disk, req.Fingerprint, usbdisk.MoveMarker{FromUUID: from.UUID, FromDevice: from.Device, At: a.o.Now(), By: string(by)})
		} else {
			fs, err = a.o.USB.Format(req.Disk, req.Fingerprint, label)
		}
		switch {
		case errors.Is(err, usbdisk.ErrGone):
			return res, "", errorf(CodeNotFound, "disk", "%v: plug it in again and reload the page", err)
		case errors.Is(err, usbdisk.ErrChanged), errors.Is(err, usbdisk.ErrNotBlank), errors.Is(err, usbdisk.ErrInUse), errors.Is(err, usbdisk.ErrNotUSB):
			return res, "", errorf(CodeConflict, "disk", "nothing was erased: %v", err)
		case err != nil:
			return res, "", internal("formatting "+d.Device, err)
		}
		res.FS = fs
		what := fmt.Sprintf("formatted the blank USB disk %s (%s, %s) for %s: ext4 %s, UUID %s", d.Device, d.Title, d.SizeWords, useWords(req.Use), fs.Label, fs.UUID)
		if req.Use == UseData {
			res.Note = moveNote(a.o.USB)
		} else {
			res.Note = "The disk is ready for backups."
		}
		return res, what, nil
	})
}

// moveSlack is room a disk for the mail must have beyond the mail it
// takes (the init asks as much again when it copies).
const moveSlack = 64 << 20

// moveNote says what the next restart does with a disk formatted for the
// mail, with the time it takes when the mail's size is known.
func moveNote(h *usbdisk.Host) string {
	about := ""
	if used, err := h.DataUsed(); err == nil {
		about = fmt.Sprintf(" (about %s for %s)", usbdisk.MinutesWords(usbdisk.MoveMinutes(used)), usbdisk.SizeWords(used))
	}
	return "The disk is ready for the mail. At the next restart the box copies all mail and settings to this disk" + about +
		", checks the copy, then uses it. Mail waits meanwhile; senders try again later, so nothing is lost. " +
		"The SD card keeps its copy until you remove it."
}

func useWords(use string) string {
	if use == UseData {
		return "the mail"
	}
	return "backups"
}

// usbTargetFor checks the USB disk a backup setting names (by its file
// system's UUID) and returns what the config keeps of it.
func (a *Admin) usbTargetFor(uuid string) (label, name string, err error) {
	if a.o.USB == nil {
		return "", "", errorf(CodeConflict, "target", "this box does not look at USB disks here (development mode): choose a folder")
	}
	uuid = strings.TrimSpace(uuid)
	if uuid == "" {
		return "", "", errorf(CodeInvalid, "usb_uuid", "choose one of the USB disks listed")
	}
	d, fs, ok := a.o.USB.ByUUID(uuid)
	switch {
	case !ok:
		return "", "", errorf(CodeNotFound, "usb_uuid", "that USB disk is not plugged in: plug it in and reload the page")
	case fs.Data:
		return "", "", errorf(CodeConflict, "usb_uuid", "that disk holds the mail itself: back up to another disk")
	case !fs.Usable():
		return "", "", errorf(CodeConflict, "usb_uuid", "the box cannot write to that disk (%s): use a disk formatted as FAT, exFAT or ext4, or a blank one the box formats", fs.Type)
	}
	return fs.Label, d.Label(), nil
}
