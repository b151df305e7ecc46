// Package usbdisktest builds a fake /sys/block and /dev for tests of
// usbdisk and its users: disks are sysfs folders linked from /sys/block
// (a USB disk's link goes through ".../usb2/..."), and their "devices" in
// the fake /dev are plain (sparse) files, or symbolic links to a real
// loop device when a test must mount one (Loop).
package usbdisktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"postroom/appliance/usbdisk"
)

// Tree is a fake host.
type Tree struct {
	t    testing.TB
	Root string
	h    *usbdisk.Host
}

// Bus paths of the fake disks, as a Raspberry Pi 4 shows them.
const (
	sdBus  = "platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
	usbBus = "platform/scb/fd500000.pcie/pci0000:00/0000:01:00.0/usb2/2-%d/2-%d:1.0/host%d/target%d:0:0/%d:0:0:0"
)

// New makes an empty tree in a temporary folder.
func New(t testing.TB) *Tree {
	root := t.TempDir()
	tr := &Tree{t: t, Root: root}
	tr.h = &usbdisk.Host{
		SysBlock: filepath.Join(root, "sys", "block"),
		Dev:      filepath.Join(root, "dev"),
		Mounts:   filepath.Join(root, "mounts"),
		RunDir:   filepath.Join(root, "run"),
		DataDir:  "/data",
	}
	for _, d := range []string{tr.h.SysBlock, tr.h.Dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr.write(tr.h.Mounts, nil)
	return tr
}

// Host is the tree's Host.
func (tr *Tree) Host() *usbdisk.Host { return tr.h }

// Disk adds a disk of size bytes, on USB or on the SD card's bus, with
// partitions of the given sizes (none: the whole disk is one device).
// Its device files are sparse files of their sizes, all zero.
func (tr *Tree) Disk(name string, usb bool, size int64, vendor, model string, parts ...int64) {
	tr.t.Helper()
	bus := sdBus
	if usb {
		n := 1
		if ents, err := os.ReadDir(tr.h.SysBlock); err == nil {
			n = len(ents) + 1
		}
		bus = strings.ReplaceAll(usbBus, "%d", strconv.Itoa(n))
	}
	devdir := filepath.Join(tr.Root, "sys", "devices", bus, "block", name)
	tr.write(filepath.Join(devdir, "size"), []byte(strconv.FormatInt(size/512, 10)+"\n"))
	tr.write(filepath.Join(devdir, "device", "vendor"), []byte(vendor+"\n"))
	tr.write(filepath.Join(devdir, "device", "model"), []byte(model+"\n"))
	tr.write(filepath.Join(devdir, "diskseq"), []byte("1\n"))
	sep := ""
	if name[len(name)-1] >= '0' && name[len(name)-1] <= '9' {
		sep = "p"
	}
	for i, psize := range parts {
		p := name + sep + strconv.Itoa(i+1)
		tr.write(filepath.Join(devdir, p, "partition"), []byte(strconv.Itoa(i+1)+"\n"))
		tr.write(filepath.Join(devdir, p, "size"), []byte(strconv.FormatInt(psize/512, 10)+"\n"))
		tr.sparse(p, psize)
	}
	rel, err := filepath.Rel(tr.h.SysBlock, devdir)
	if err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(tr.h.SysBlock, name)); err != nil {
		tr.t.Fatal(err)
	}
	tr.sparse(name, size)
}

// Seq sets a disk's sequence number (a disk plugged in again gets a new one).
func (tr *Tree) Seq(name string, seq uint64) {
	tr.t.Helper()
	real, err := filepath.EvalSymlinks(filepath.Join(tr.h.SysBlock, name))
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.write(filepath.Join(real, "diskseq"), []byte(strconv.FormatUint(seq, 10)+"\n"))
}

// Unplug removes a disk.
func (tr *Tree) Unplug(name string) {
	os.Remove(filepath.Join(tr.h.SysBlock, name))
}

// Path is the fake device file of a disk or partition.
func (tr *Tree) Path(dev string) string { return filepath.Join(tr.h.Dev, dev) }

// WriteAt writes b into a device file at off.
func (tr *Tree) WriteAt(dev string, b []byte, off int64) {
	tr.t.Helper()
	f, err := os.OpenFile(tr.Path(dev), os.O_RDWR, 0)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		tr.t.Fatal(err)
	}
}

// Mounted adds a line to the fake mount table.
func (tr *Tree) Mounted(dev, dir string) {
	tr.t.Helper()
	f, err := os.OpenFile(tr.h.Mounts, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(tr.Path(dev) + " " + dir + " ext4 rw,noatime 0 0\n")
}

// Mkfs runs a Debian mkfs program on a device file (args before the
// file), skipping the test when the program is not installed (make deps).
func (tr *Tree) Mkfs(dev, prog string, args ...string) {
	tr.t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if p, err = exec.LookPath("/usr/sbin/" + prog); err != nil {
			tr.t.Skipf("%s not installed (make deps)", prog)
		}
	}
	out, err := exec.Command(p, append(args, tr.Path(dev))...).CombinedOutput()
	if err != nil {
		tr.t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
}

// Loop attaches a disk's device file to a free loop device and puts a
// link to it in its place, so that the disk can really be mounted (a test
// running as root on Linux; others skip). The loop device is detached
// when the test ends.
func (tr *Tree) Loop(dev string) {
	tr.t.Helper()
	if os.Geteuid() != 0 {
		tr.t.Skip("mounting a disk needs root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		tr.t.Skip("no loop devices here")
	}
	img := tr.Path(dev) + ".img"
	if err := os.Rename(tr.Path(dev), img); err != nil {
		tr.t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		tr.t.Skipf("losetup: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	tr.t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	if err := os.Symlink(loop, tr.Path(dev)); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *Tree) sparse(dev string, size int64) {
	tr.t.Helper()
	f, err := os.Create(tr.Path(dev))
	if err != nil {
		tr.t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *Tree) write(path string, b []byte) {
	tr.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tr.t.Fatal(err)
	}
}
