package usbdisk_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// TestMountTwiceAndStale: a backup and a look at the page may mount the
// same disk at once, each on its own mount point, and neither takes the
// other's away; a mount left under the run-time folder by an appliance
// that crashed is taken away by the next Mount.
func TestMountTwiceAndStale(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 64*mb, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sda", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "OFFICE")
	tr.Loop("sda")
	h := *tr.Host()
	h.Mounts = "/proc/self/mounts" // the loop device's real mounts
	f := usbdisk.Probe(tr.Path("sda"))
	mounted := func(dir string) bool {
		b, _ := os.ReadFile("/proc/self/mounts")
		return strings.Contains(string(b), " "+dir+" ")
	}

	stale := filepath.Join(h.RunDir, "disk-left-by-a-crash")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(tr.Path("sda"), stale, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Skipf("mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(stale, unix.MNT_DETACH) })

	m1, err := h.Mount(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m1.Unmount() })
	if mounted(stale) {
		t.Error("the mount a crash left is still there")
	}
	m2, err := h.Mount(f)
	if err != nil {
		t.Fatal(err)
	}
	if !mounted(m1.Dir) || !mounted(m2.Dir) || m1.Dir == m2.Dir {
		t.Errorf("two mounts at once: %s %v, %s %v", m1.Dir, mounted(m1.Dir), m2.Dir, mounted(m2.Dir))
	}
	d2 := m2.Dir
	if err := m2.Unmount(); err != nil || mounted(d2) || !mounted(m1.Dir) {
		t.Errorf("unmounting the second: %v; first still mounted %v", err, mounted(m1.Dir))
	}
}
