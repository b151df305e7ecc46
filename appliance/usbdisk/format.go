package usbdisk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
)

// Formatting happens on the board, which has no mke2fs (its root holds
// our programs only): the ext4 is written by go-diskfs, whose output
// e2fsck accepts (format_test.go runs e2fsck -fn on it). The image builder
// uses mke2fs only because it must give the same bytes twice; a disk
// formatted here needs a fresh UUID, not reproducibility.
//
// The ext4 takes the whole disk, with no partition table: nothing to
// re-read, one file system for the kernel to find (ChooseData and List
// look at whole disks too). One inode per MiB: backups and the mail store
// (Badger) are a few large files.

// Refusals of Format, each in words for the page.
var (
	ErrGone     = errors.New("the disk is no longer plugged in")
	ErrChanged  = errors.New("the disk changed since the page showed it (another disk in its place, or it was plugged in again): look at the list again")
	ErrNotBlank = errors.New("the disk is not blank: the box formats only a blank disk, never one that holds something")
	ErrNotUSB   = errors.New("the box formats only USB disks")
	ErrInUse    = errors.New("the disk holds the mail or is in use")
)

// minFormatSize: smaller disks are not worth a backup (nor the journal).
const minFormatSize = 256 << 20

// Fingerprint names a disk as it was seen: its name, the kernel's
// sequence number for this plugging-in, size, maker and model, and
// whether it was blank. The page sends it back with a confirmation, and
// Format refuses when the disk it finds has another.
func Fingerprint(d Disk) string {
	s := sha256.Sum256([]byte(strings.Join([]string{d.Name, strconv.FormatUint(d.Seq, 10), strconv.FormatInt(d.Size, 10),
		d.Vendor, d.Model, strconv.FormatBool(d.Blank)}, "\x00")))
	return hex.EncodeToString(s[:12])
}

// SizeWords is a disk's size as the page shows it and asks to type it
// back: "32.0 GB", "500 GB", "2.0 TB" (decimal units, as printed on the
// disk's box).
func SizeWords(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	case n >= 100e9:
		return fmt.Sprintf("%.0f GB", float64(n)/1e9)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	default:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
}

// SameSize says whether typed is size's words, as a person may type
// them: case, spaces and a decimal comma do not matter.
func SameSize(typed string, size int64) bool {
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(strings.Join(strings.Fields(s), "")), ",", "."), "gib", "gb")
	}
	return typed != "" && norm(typed) == norm(SizeWords(size))
}

// Format writes an empty ext4 file system labelled label (BackupLabel or
// DataLabel) over the whole of the blank USB disk name, which must still
// have the fingerprint the page showed. It refuses anything else: a disk
// that is gone, changed, not blank, not on USB, holding the mail or
// mounted. It returns the new file system (with its UUID).
func (h *Host) Format(name, fingerprint, label string) (FS, error) {
	if label != BackupLabel && label != DataLabel {
		return FS{}, fmt.Errorf("usbdisk: no such label %q", label)
	}
	disks, err := h.List()
	if err != nil {
		return FS{}, err
	}
	var d Disk
	found := false
	for _, x := range disks {
		if x.Name == name {
			d, found = x, true
		}
	}
	switch {
	case !found:
		return FS{}, ErrGone
	case !d.USB:
		return FS{}, ErrNotUSB
	case d.Data() || len(d.FS) > 0 && d.FS[0].MountedOn != "":
		return FS{}, ErrInUse
	case Fingerprint(d) != fingerprint:
		return FS{}, ErrChanged
	case !d.Blank || len(d.Parts) > 0 || len(d.FS) > 0:
		return FS{}, ErrNotBlank
	case d.Size < minFormatSize:
		return FS{}, fmt.Errorf("the disk is too small (%s): use one of at least %s", SizeWords(d.Size), SizeWords(minFormatSize))
	}
	// O_EXCL on a block device: the kernel refuses while anything holds
	// it (a mount), the last guard against formatting a disk in use.
	f, err := os.OpenFile(d.Device, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return FS{}, fmt.Errorf("opening %s to format it: %w", d.Device, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil && size < d.Size {
		err = fmt.Errorf("%s holds %d bytes, not the %d the kernel said", d.Device, size, d.Size)
	}
	if err == nil {
		// Blank once more, on the very file about to be written.
		if !IsBlank(d.Device) {
			err = ErrNotBlank
		}
	}
	if err == nil {
		// 4 KiB blocks always: go-diskfs's default for a disk under
		// about 512 MB is 1 KiB blocks, whose 8 MiB groups get 8 inodes
		// at this ratio, fewer than ext4's 11 reserved ones in group 0:
		// e2fsck finds it damaged, and the kernel refuses the first file
		// written (EFSCORRUPTED).
		_, err = ext4.Create(file.New(f, false), d.Size, 0, 512, &ext4.Params{VolumeName: label, InodeRatio: 1 << 20, SectorsPerBlock: 8})
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		reReadPartitions(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrNotBlank) {
			return FS{}, err
		}
		return FS{}, fmt.Errorf("formatting %s: %w", d.Device, err)
	}
	fs := Probe(d.Device)
	fs.Size = d.Size
	if fs.Type != "ext4" || fs.Label != label {
		return fs, fmt.Errorf("formatting %s: it reads back as %q labelled %q", d.Device, fs.Type, fs.Label)
	}
	return fs, nil
}
