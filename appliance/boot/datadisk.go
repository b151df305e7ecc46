package boot

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"postroom/appliance/usbdisk"
)

// DataLabel is the ext4 label of a Postroom data file system, on the SD
// card's fourth partition or on a USB disk (image/layout.go writes it).
const DataLabel = usbdisk.DataLabel

// DataPartition is the SD card's data partition number.
const DataPartition = 4

var (
	// ErrNoDataDisk: neither a labelled USB disk nor the boot disk's data
	// partition was found.
	ErrNoDataDisk = errors.New("no data disk")
	// ErrDataUnformatted: the boot disk's data partition holds no Postroom
	// file system. The box says so and never formats it by itself.
	ErrDataUnformatted = errors.New("the data partition holds no Postroom file system")
)

// DataChoice is where the mail lives, and what else was seen.
type DataChoice struct {
	Device string // e.g. /dev/sda1 or /dev/mmcblk0p4
	USB    bool   // on a USB disk rather than the SD card
	// BlankUSB are USB disks with no partition table and no file system:
	// the web page offers to format one, after an administrator confirms.
	BlankUSB []string
	// Others are further labelled file systems that were not chosen.
	Others []string
	// SD is the boot disk's data partition when a USB disk was chosen
	// and it holds a Postroom file system too: the mail to copy when the
	// USB disk is new (move.go).
	SD string
	// Note says, for the status page, why the box runs from the SD card
	// although a USB disk was prepared for the mail (move_linux.go).
	Note string
}

// Root is what the kernel command line says about the root file system.
type Root struct {
	DiskID    uint32 // the MBR disk signature
	Partition int    // 2 for root A, 3 for root B
}

var rootRE = regexp.MustCompile(`(?:^|\s)root=PARTUUID=([0-9a-fA-F]{8})-([0-9a-fA-F]{2})(?:\s|$)`)

// ParseRoot reads root=PARTUUID=XXXXXXXX-NN from a kernel command line
// (/proc/cmdline).
func ParseRoot(cmdline string) (Root, error) {
	m := rootRE.FindStringSubmatch(cmdline)
	if m == nil {
		return Root{}, fmt.Errorf("kernel command line has no root=PARTUUID=DISKID-NN: %q", strings.TrimSpace(cmdline))
	}
	id, _ := strconv.ParseUint(m[1], 16, 32)
	part, _ := strconv.ParseUint(m[2], 16, 8)
	return Root{DiskID: uint32(id), Partition: int(part)}, nil
}

// ChooseData picks the data file system. sysBlock is /sys/block and dev is
// /dev (a test passes a fake tree of both). The rules, in order:
//  1. a USB disk with a file system labelled DataLabel (the mail moved to
//     a bigger, sturdier disk);
//  2. partition 4 of the disk the box booted from (its MBR signature is
//     root.DiskID), which must hold an ext4 labelled DataLabel.
//
// Nothing is ever formatted here: blank USB disks are only reported.
func ChooseData(sysBlock, dev string, root Root) (DataChoice, error) {
	disks, err := usbdisk.ListDisks(sysBlock)
	if err != nil {
		return DataChoice{}, err
	}
	var c DataChoice
	var labelled []string // USB file systems labelled DataLabel
	bootDisk := -1
	for i, d := range disks {
		if d.USB {
			found := false
			for _, name := range d.PartNames() {
				if usbdisk.IsDataFS(filepath.Join(dev, name)) {
					labelled = append(labelled, name)
					found = true
				}
			}
			if len(d.Parts) == 0 && usbdisk.IsDataFS(filepath.Join(dev, d.Name)) {
				labelled = append(labelled, d.Name) // a file system on the whole disk
				found = true
			}
			if !found && len(d.Parts) == 0 && usbdisk.IsBlank(filepath.Join(dev, d.Name)) {
				c.BlankUSB = append(c.BlankUSB, filepath.Join(dev, d.Name))
			}
		}
		if id, ok := usbdisk.DiskSignature(filepath.Join(dev, d.Name)); ok && id == root.DiskID && bootDisk < 0 {
			bootDisk = i
		}
	}
	var candidates []string
	for _, name := range labelled {
		candidates = append(candidates, filepath.Join(dev, name))
	}
	sdData := ""
	if bootDisk >= 0 {
		if name, ok := disks[bootDisk].Parts[DataPartition]; ok {
			sdData = filepath.Join(dev, name)
		}
	}
	switch {
	case len(candidates) > 0:
		c.Device, c.USB = candidates[0], true
		c.Others = candidates[1:]
		// (A Pi that booted from a USB disk finds its own p4 among them.)
		if sdData != "" && sdData != c.Device && !slices.Contains(c.Others, sdData) && usbdisk.IsDataFS(sdData) {
			c.Others = append(c.Others, sdData)
			c.SD = sdData
		}
		return c, nil
	case sdData == "":
		return c, fmt.Errorf("%w: no USB disk labelled %s, and no partition %d on the boot disk %08x",
			ErrNoDataDisk, DataLabel, DataPartition, root.DiskID)
	case !usbdisk.IsDataFS(sdData):
		return c, fmt.Errorf("%s: %w", sdData, ErrDataUnformatted)
	default:
		c.Device = sdData
		return c, nil
	}
}
