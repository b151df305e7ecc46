package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DataLabel is the ext4 label of a Postroom data file system, on the SD
// card's fourth partition or on a USB disk (image/layout.go writes it).
const DataLabel = "postroom-data"

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

// blockDev is one disk of /sys/block with its partitions.
type blockDev struct {
	name  string
	usb   bool
	parts map[int]string // partition number -> device name
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
	disks, err := listDisks(sysBlock)
	if err != nil {
		return DataChoice{}, err
	}
	var c DataChoice
	var labelled []string // USB file systems labelled DataLabel
	bootDisk := -1
	for i, d := range disks {
		if d.usb {
			found := false
			for _, name := range d.partNames() {
				if isDataFS(filepath.Join(dev, name)) {
					labelled = append(labelled, name)
					found = true
				}
			}
			if len(d.parts) == 0 && isDataFS(filepath.Join(dev, d.name)) {
				labelled = append(labelled, d.name) // a file system on the whole disk
				found = true
			}
			if !found && len(d.parts) == 0 && isBlank(filepath.Join(dev, d.name)) {
				c.BlankUSB = append(c.BlankUSB, filepath.Join(dev, d.name))
			}
		}
		if id, ok := diskSignature(filepath.Join(dev, d.name)); ok && id == root.DiskID && bootDisk < 0 {
			bootDisk = i
		}
	}
	var candidates []string
	for _, name := range labelled {
		candidates = append(candidates, filepath.Join(dev, name))
	}
	sdData := ""
	if bootDisk >= 0 {
		if name, ok := disks[bootDisk].parts[DataPartition]; ok {
			sdData = filepath.Join(dev, name)
		}
	}
	switch {
	case len(candidates) > 0:
		c.Device, c.USB = candidates[0], true
		c.Others = candidates[1:]
		// (A Pi that booted from a USB disk finds its own p4 among them.)
		if sdData != "" && sdData != c.Device && !slices.Contains(c.Others, sdData) && isDataFS(sdData) {
			c.Others = append(c.Others, sdData)
		}
		return c, nil
	case sdData == "":
		return c, fmt.Errorf("%w: no USB disk labelled %s, and no partition %d on the boot disk %08x",
			ErrNoDataDisk, DataLabel, DataPartition, root.DiskID)
	case !isDataFS(sdData):
		return c, fmt.Errorf("%s: %w", sdData, ErrDataUnformatted)
	default:
		c.Device = sdData
		return c, nil
	}
}

// listDisks reads /sys/block: each entry is a disk, a symbolic link into
// /sys/devices whose path shows the bus (".../usb1/..." for USB); its
// partitions are the sub-folders that hold a "partition" file.
func listDisks(sysBlock string) ([]blockDev, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var disks []blockDev
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		dir := filepath.Join(sysBlock, name)
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue // the disk went away while we looked
		}
		d := blockDev{name: name, usb: strings.Contains(real, "/usb"), parts: map[int]string{}}
		subs, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, s := range subs {
			b, err := os.ReadFile(filepath.Join(dir, s.Name(), "partition"))
			if err != nil {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				d.parts[n] = s.Name()
			}
		}
		disks = append(disks, d)
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].name < disks[j].name })
	return disks, nil
}

func (d blockDev) partNames() []string {
	nums := make([]int, 0, len(d.parts))
	for n := range d.parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	names := make([]string, len(nums))
	for i, n := range nums {
		names[i] = d.parts[n]
	}
	return names
}

// readAt reads len(b) bytes at off of a device; false if it cannot.
func readAt(path string, b []byte, off int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = io.ReadFull(io.NewSectionReader(f, off, int64(len(b))), b)
	return err == nil
}

// isDataFS reports whether the device holds an ext2/3/4 file system (magic
// 0xEF53 at byte 1080) labelled DataLabel (s_volume_name, byte 1144).
func isDataFS(path string) bool {
	sb := make([]byte, 1024)
	if !readAt(path, sb, 1024) {
		return false
	}
	if binary.LittleEndian.Uint16(sb[56:58]) != 0xef53 {
		return false
	}
	label := sb[120:136]
	if i := strings.IndexByte(string(label), 0); i >= 0 {
		label = label[:i]
	}
	return string(label) == DataLabel
}

// diskSignature returns the MBR disk signature (bytes 440-443) of a disk
// with a valid MBR (0x55AA at byte 510).
func diskSignature(path string) (uint32, bool) {
	mbr := make([]byte, 512)
	if !readAt(path, mbr, 0) || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, false
	}
	return binary.LittleEndian.Uint32(mbr[440:444]), true
}

// isBlank reports whether a disk's first MiB is all zero: no partition
// table, no file system, nothing a person could lose.
func isBlank(path string) bool {
	b := make([]byte, 1<<20)
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	for _, x := range b[:n] {
		if x != 0 {
			return false
		}
	}
	return n > 0
}
