// Package usbdisk knows the disks plugged into the box: it lists them from
// /sys/block and /dev (which disk is on USB, its size and name, the file
// systems on it with their type, label and UUID, which one holds the mail,
// which ones are blank), mounts one on demand and unmounts it afterwards,
// and formats a blank one (format.go) once an administrator confirmed it.
// The init (appliance/boot) chooses the data disk from the same listing;
// the backup target "usb" (appliance/backup) mounts its disk for each
// backup, so that a stick can be pulled out between two backups.
//
// The map:
//
//	usbdisk.go  Host, Disk, FS; List: the disks of /sys/block
//	probe.go    what a device holds: ext2/3/4, FAT, exFAT, NTFS, blank
//	mount.go    Mount, with nosuid, nodev, noexec; Unmount after a sync
//	format.go   Format: ext4 on a whole blank disk (go-diskfs)
//
// Everything reads paths from a Host, so that the tests (and a developer's
// machine) use a fake tree of /sys/block and /dev whose "devices" are
// plain files. On a developer's machine the real /sys is never read: the
// runner hands the appliance a Host only on the board.
//
// File systems the board can mount: the gokrazy kernel.rpi kernel
// (6.12.47-v8, pinned in go.mod) has ext4, vfat (with codepage 437 and the
// "ascii" character set, its default), exfat (UTF-8) and f2fs built in,
// with usb-storage, uas and the xhci host drivers; it has no NTFS (checked
// in its built-in module list and its embedded config, see image/modules.go
// for where the module lives). An NTFS disk is listed, but cannot be used.
package usbdisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The labels of Postroom's own file systems.
const (
	// DataLabel: the mail's data file system (the SD card's fourth
	// partition, or a USB disk the mail moved to).
	DataLabel = "postroom-data"
	// BackupLabel: a disk the box formatted for its backups.
	BackupLabel = "postroom-backup"
)

// Host is where the disks are looked for and mounted. Board returns the
// board's; a test builds one over a fake tree.
type Host struct {
	SysBlock string // /sys/block
	Dev      string // /dev
	// Mounts is a mount table in /proc/mounts' format; "": nothing is
	// known to be mounted.
	Mounts string
	// RunDir is where disks are mounted for a while (a folder on a
	// tmpfs: a mount point left by a crash goes with the next start).
	RunDir string
	// DataDir is where the mail's data disk is mounted ("/data"): the
	// file system mounted there is the data disk, whatever its label.
	DataDir string
}

// Board is the board's Host: the real /sys, /dev and mount table, disks
// mounted under /tmp (a tmpfs on the board), the mail on /data.
func Board() *Host {
	return &Host{SysBlock: "/sys/block", Dev: "/dev", Mounts: "/proc/self/mounts", RunDir: "/tmp/postroom-usb", DataDir: "/data"}
}

// Disk is one disk of /sys/block.
type Disk struct {
	Name   string `json:"name"`   // "sda"
	Device string `json:"device"` // "/dev/sda"
	USB    bool   `json:"usb"`    // on a USB bus
	Size   int64  `json:"size"`   // bytes
	Vendor string `json:"vendor,omitempty"`
	Model  string `json:"model,omitempty"`
	// Parts are the partitions by number (none: the disk holds one file
	// system on the whole of it, or nothing: FS).
	Parts map[int]string `json:"-"`
	// FS are the file systems found: one per partition, or one for the
	// whole disk.
	FS []FS `json:"fs,omitempty"`
	// Blank: no partition table, no file system, nothing in the first
	// and the last MiB; the only kind of disk the box ever formats.
	Blank bool `json:"blank,omitempty"`
	// Seq is the kernel's disk sequence number (/sys/block/X/diskseq):
	// it grows each time a disk is plugged in, so a disk pulled out and
	// another put in its place under the same name differ.
	Seq uint64 `json:"seq,omitempty"`
}

// FS is a file system (or an unknown or empty partition) on a disk.
type FS struct {
	Device string `json:"device"` // "/dev/sda1", or the disk itself
	Type   string `json:"type"`   // "ext4", "ext3", "ext2", "vfat", "exfat", "ntfs", "" unknown or empty
	Label  string `json:"label,omitempty"`
	UUID   string `json:"uuid,omitempty"` // as blkid writes it
	Size   int64  `json:"size"`
	// MountedOn is where it is mounted now, if anywhere.
	MountedOn string `json:"mounted_on,omitempty"`
	// Data: the mail's data disk (mounted on Host.DataDir, or labelled
	// DataLabel): never a backup target, never formatted.
	Data bool `json:"data,omitempty"`
}

// IsDataFS reports whether a device holds a Postroom data file system:
// an ext2/3/4 labelled DataLabel.
func IsDataFS(path string) bool { return Probe(path).postroomData() }

func (f FS) postroomData() bool { return strings.HasPrefix(f.Type, "ext") && f.Label == DataLabel }

// Usable says whether the box can mount and write the file system.
func (f FS) Usable() bool {
	switch f.Type {
	case "ext2", "ext3", "ext4", "vfat", "exfat":
		return true
	}
	return false
}

// Name is how the page names a disk: vendor and model, else its device.
func (d Disk) Label() string {
	if n := strings.TrimSpace(d.Vendor + " " + d.Model); n != "" {
		return n
	}
	return d.Device
}

// Data says whether the mail lives on the disk.
func (d Disk) Data() bool {
	for _, f := range d.FS {
		if f.Data {
			return true
		}
	}
	return false
}

// PartNames returns the disk's partitions' names in partition order.
func (d Disk) PartNames() []string {
	nums := make([]int, 0, len(d.Parts))
	for n := range d.Parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	names := make([]string, len(nums))
	for i, n := range nums {
		names[i] = d.Parts[n]
	}
	return names
}

// List returns every disk of the host (not loop, RAM or zram devices),
// sorted by name, with its file systems probed.
func (h *Host) List() ([]Disk, error) {
	disks, err := ListDisks(h.SysBlock)
	if err != nil {
		return nil, err
	}
	mounts := map[string]string{}
	for _, m := range h.mounted() {
		if _, ok := mounts[m.dev]; !ok {
			mounts[m.dev] = m.dir
		}
	}
	for i := range disks {
		d := &disks[i]
		d.Device = filepath.Join(h.Dev, d.Name)
		devs := []string{d.Name}
		if len(d.Parts) > 0 {
			devs = d.PartNames()
		}
		for _, name := range devs {
			p := filepath.Join(h.Dev, name)
			f := Probe(p)
			f.Size = sysSize(filepath.Join(h.SysBlock, d.Name, name))
			if name == d.Name {
				f.Size = d.Size
			}
			f.MountedOn = mounts[name]
			f.Data = f.postroomData() || (h.DataDir != "" && f.MountedOn == h.DataDir)
			if name == d.Name && f.Type == "" {
				// A disk with nothing on it has no file system to list.
				d.Blank = IsBlank(p)
				if d.Blank || f.MountedOn == "" {
					continue
				}
			}
			d.FS = append(d.FS, f)
		}
	}
	return disks, nil
}

// USB returns the disks on USB.
func (h *Host) USB() ([]Disk, error) {
	all, err := h.List()
	if err != nil {
		return nil, err
	}
	var out []Disk
	for _, d := range all {
		if d.USB {
			out = append(out, d)
		}
	}
	return out, nil
}

// ByUUID finds a usable file system on a USB disk by its UUID.
func (h *Host) ByUUID(uuid string) (Disk, FS, bool) {
	disks, err := h.USB()
	if err != nil {
		return Disk{}, FS{}, false
	}
	for _, d := range disks {
		for _, f := range d.FS {
			if f.UUID != "" && strings.EqualFold(f.UUID, uuid) {
				return d, f, true
			}
		}
	}
	return Disk{}, FS{}, false
}

// ListDisks reads a /sys/block: each entry is a disk, a symbolic link
// into /sys/devices whose path shows the bus (".../usb1/..." for USB); its
// partitions are the sub-folders that hold a "partition" file. Only what
// sysfs says is filled in (not Device or FS: List does that).
func ListDisks(sysBlock string) ([]Disk, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var disks []Disk
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
		d := Disk{Name: name, USB: strings.Contains(real, "/usb"), Parts: map[int]string{}, Size: sysSize(dir),
			Vendor: sysString(filepath.Join(dir, "device", "vendor")), Model: sysString(filepath.Join(dir, "device", "model"))}
		d.Seq, _ = strconv.ParseUint(sysString(filepath.Join(dir, "diskseq")), 10, 64)
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
				d.Parts[n] = s.Name()
			}
		}
		disks = append(disks, d)
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].Name < disks[j].Name })
	return disks, nil
}

// sysString reads a one-line sysfs attribute; "" if there is none.
func sysString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sysSize is a sysfs block device's "size" (in 512-byte sectors, whatever
// the disk's own sector size) in bytes.
func sysSize(dir string) int64 {
	n, err := strconv.ParseInt(sysString(filepath.Join(dir, "size")), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n * 512
}

// mount is a line of the mount table: a device's name ("sda1") and
// where it is mounted.
type mountLine struct{ dev, dir string }

// mounted reads the mount table.
func (h *Host) mounted() []mountLine {
	var out []mountLine
	if h.Mounts == "" {
		return out
	}
	b, err := os.ReadFile(h.Mounts)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "/") {
			continue
		}
		dev := f[0]
		if real, err := filepath.EvalSymlinks(dev); err == nil {
			dev = real
		}
		// /proc/mounts escapes spaces as \040.
		out = append(out, mountLine{filepath.Base(dev), strings.ReplaceAll(f[1], `\040`, " ")})
	}
	return out
}

// DiskSignature returns the MBR disk signature (bytes 440-443) of a disk
// with a valid MBR (0x55AA at byte 510).
func DiskSignature(path string) (uint32, bool) {
	mbr := make([]byte, 512)
	if !readAt(path, mbr, 0) || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, false
	}
	return binary.LittleEndian.Uint32(mbr[440:444]), true
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

// IsBlank reports whether a device's first and last MiB are all zero: no
// partition table (not even GPT's copy at the end), no file system,
// nothing a person could lose.
func IsBlank(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size <= 0 {
		return false
	}
	b := make([]byte, 1<<20)
	for _, off := range []int64{0, max(0, size-int64(len(b)))} {
		n, err := f.ReadAt(b, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return false
		}
		for _, x := range b[:n] {
			if x != 0 {
				return false
			}
		}
	}
	return true
}
