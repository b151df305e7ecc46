package sdimage

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/diskfs/go-diskfs/filesystem"
)

// ConfigTxt is the Pi firmware's config.txt. The firmware reads it from p1
// before anything of ours runs.
const ConfigTxt = `# Postroom boot configuration, written by cmd/mkimage (image/boot.go).
# Boot the kernel in 64-bit mode: Postroom is built for arm64 only.
arm_64bit=1
kernel=vmlinuz
# The front panel's display sits on the ARM I2C bus (GPIO 2 and 3).
dtparam=i2c_arm=on
# The serial console (GPIO 14 and 15) shows the boot log, the address
# and the set-up code.
enable_uart=1
# The box has no screen: give the GPU the least memory.
gpu_mem=16
`

// Cmdline is the kernel command line for a root on partition rootPart of
// disk diskID. init=/init because the kernel would otherwise look for
// /sbin/init; panic=10 reboots a box whose init died rather than hang.
func Cmdline(diskID uint32, rootPart int) string {
	return fmt.Sprintf("console=serial0,115200 console=tty1 root=PARTUUID=%s rootfstype=squashfs ro rootwait init=/init panic=10 oops=panic\n",
		PartUUID(diskID, rootPart))
}

// Overlays are the device-tree overlays copied to p1's overlays/ folder:
// the name map the Pi 5's firmware reads, and the few a box may add to
// config.txt (a real-time clock on I2C, the PL011 UART freed from
// Bluetooth for a steadier serial console). The kernel module has 357; each
// file costs build time (go-diskfs rewrites the allocation table per file),
// so add a name here when config.txt grows a dtoverlay line.
var Overlays = []string{
	"overlay_map.dtb",
	"disable-bt.dtbo", "disable-bt-pi5.dtbo",
	"i2c-rtc.dtbo",
}

// bootFile is one file of p1: its path there and where its bytes come from.
type bootFile struct {
	name string // slash-separated, relative to p1's root
	src  string // a file on this machine, or "" for data
	data []byte
}

// bootFiles lists p1's contents, sorted by name: the firmware's bootloader
// stages and its licence, the kernel, every DTB and overlay, and our two
// text files.
func bootFiles(firmwareDir, kernelDir string, diskID uint32) ([]bootFile, error) {
	var files []bootFile
	fw, err := globFiles(firmwareDir, "bootcode.bin", "start*.elf", "fixup*.dat", "LICENSE.broadcom")
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	files = append(files, fw...)
	k, err := globFiles(kernelDir, "vmlinuz", "*.dtb")
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	files = append(files, k...)
	overlays := make([]string, len(Overlays))
	for i, o := range Overlays {
		overlays[i] = "overlays/" + o
	}
	ov, err := globFiles(kernelDir, overlays...)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	files = append(files, ov...)
	files = append(files,
		bootFile{name: "config.txt", data: []byte(ConfigTxt)},
		bootFile{name: "cmdline.txt", data: []byte(Cmdline(diskID, PartRootA))},
	)
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// globFiles returns the files of dir matching each pattern; a pattern that
// matches nothing is an error, so a module missing a file fails the build
// rather than the boot.
func globFiles(dir string, patterns ...string) ([]bootFile, error) {
	var out []bootFile
	for _, p := range patterns {
		matches, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no %s in %s", p, dir)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(dir, m)
			if err != nil {
				return nil, err
			}
			out = append(out, bootFile{name: filepath.ToSlash(rel), src: m})
		}
	}
	return out, nil
}

// writeBoot copies files into the FAT file system, creating directories on
// the way. Files must be sorted so directory entries are in the same order
// in every build.
func writeBoot(fsys filesystem.FileSystem, files []bootFile) error {
	made := map[string]bool{"": true, ".": true}
	for _, f := range files {
		if dir := path.Dir(f.name); !made[dir] {
			if err := fsys.Mkdir("/" + dir); err != nil {
				return fmt.Errorf("boot: mkdir %s: %w", dir, err)
			}
			made[dir] = true
		}
		if err := writeFATFile(fsys, f); err != nil {
			return fmt.Errorf("boot: %s: %w", f.name, err)
		}
	}
	return nil
}

// writeFATFile writes f with a single Write: go-diskfs rewrites the whole
// allocation table on every Write that grows a file, so copying in small
// chunks costs seconds per megabyte.
func writeFATFile(fsys filesystem.FileSystem, f bootFile) error {
	data := f.data
	if f.src != "" {
		var err error
		if data, err = os.ReadFile(f.src); err != nil {
			return err
		}
	}
	out, err := fsys.OpenFile("/"+f.name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
