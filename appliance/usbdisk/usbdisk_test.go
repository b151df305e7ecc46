package usbdisk_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

const (
	mb = int64(1) << 20
	gb = int64(1e9)
)

// box is a board with an SD card, a FAT stick, an exFAT stick, a USB disk
// that holds the mail (ext4 labelled postroom-data on its first
// partition), an NTFS disk, and a blank disk: each formatted by the
// Debian program an office's computer would use.
func box(t *testing.T) *usbdisktest.Tree {
	tr := usbdisktest.New(t)
	tr.Disk("mmcblk0", false, 64*mb, "", "SD32G", 16*mb, 16*mb, 16*mb, 16*mb)
	tr.Mkfs("mmcblk0p4", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f")
	tr.Mounted("mmcblk0p4", "/data")
	tr.Disk("sda", true, 64*mb, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sda", "mkfs.vfat", "-n", "OFFICE", "-i", "1234ABCD")
	tr.Disk("sdb", true, 64*mb, "Samsung", "Flash Drive")
	tr.Mkfs("sdb", "mkfs.exfat", "-L", "Büro")
	tr.Disk("sdc", true, 96*mb, "WD", "Elements", 64*mb, 32*mb)
	tr.Mkfs("sdc1", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "11111111-2222-3333-4444-555555555555")
	tr.Disk("sdd", true, 32*mb, "Seagate", "Basic")
	ntfs := make([]byte, 512)
	copy(ntfs[3:], "NTFS    ")
	ntfs[510], ntfs[511] = 0x55, 0xaa
	tr.WriteAt("sdd", ntfs, 0)
	tr.Disk("sde", true, 2*gb, "Kingston", "DataTraveler")
	return tr
}

func TestList(t *testing.T) {
	tr := box(t)
	disks, err := tr.Host().List()
	if err != nil {
		t.Fatal(err)
	}
	type fsWant struct{ dev, typ, label, uuid, mounted string }
	want := []struct {
		name  string
		usb   bool
		blank bool
		data  bool
		label string
		fs    []fsWant
	}{
		{"mmcblk0", false, false, true, "SD32G", []fsWant{{"mmcblk0p1", "", "", "", ""}, {"mmcblk0p2", "", "", "", ""}, {"mmcblk0p3", "", "", "", ""},
			{"mmcblk0p4", "ext4", "postroom-data", "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f", "/data"}}},
		{"sda", true, false, false, "SanDisk Cruzer Blade", []fsWant{{"sda", "vfat", "OFFICE", "1234-ABCD", ""}}},
		{"sdb", true, false, false, "Samsung Flash Drive", []fsWant{{"sdb", "exfat", "Büro", blkid(t, tr.Path("sdb"), "UUID"), ""}}},
		{"sdc", true, false, true, "WD Elements", []fsWant{{"sdc1", "ext4", "postroom-data", "11111111-2222-3333-4444-555555555555", ""}, {"sdc2", "", "", "", ""}}},
		{"sdd", true, false, false, "Seagate Basic", []fsWant{{"sdd", "ntfs", "", "", ""}}},
		{"sde", true, true, false, "Kingston DataTraveler", nil},
	}
	if len(disks) != len(want) {
		t.Fatalf("%d disks, want %d: %+v", len(disks), len(want), disks)
	}
	for i, w := range want {
		d := disks[i]
		if d.Name != w.name || d.USB != w.usb || d.Blank != w.blank || d.Data() != w.data || d.Label() != w.label || d.Device != tr.Path(w.name) || d.Seq != 1 {
			t.Errorf("disk %d = %s usb %v blank %v data %v %q %s seq %d; want %+v", i, d.Name, d.USB, d.Blank, d.Data(), d.Label(), d.Device, d.Seq, w)
		}
		if len(d.FS) != len(w.fs) {
			t.Errorf("%s: file systems %+v, want %+v", d.Name, d.FS, w.fs)
			continue
		}
		for j, wf := range w.fs {
			f := d.FS[j]
			if f.Device != tr.Path(wf.dev) || f.Type != wf.typ || f.Label != wf.label || f.UUID != wf.uuid || f.MountedOn != wf.mounted || f.Size <= 0 {
				t.Errorf("%s: fs %d = %+v, want %+v", d.Name, j, f, wf)
			}
		}
	}
	if disks[5].Size != 2*gb || usbdisk.SizeWords(disks[5].Size) != "2.0 GB" {
		t.Errorf("sde size %d (%s)", disks[5].Size, usbdisk.SizeWords(disks[5].Size))
	}
	usb, err := tr.Host().USB()
	if err != nil || len(usb) != 5 {
		t.Errorf("USB() = %d disks, %v; want 5", len(usb), err)
	}
	if d, f, ok := tr.Host().ByUUID("1234-abcd"); !ok || d.Name != "sda" || f.Type != "vfat" {
		t.Errorf("ByUUID(1234-abcd) = %s %+v %v", d.Name, f, ok)
	}
	if _, _, ok := tr.Host().ByUUID("0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f"); ok {
		t.Error("ByUUID found the SD card's file system: only USB disks count")
	}
}

// TestBlank: a disk counts as blank only when its start and its end are
// zero (a GPT keeps a copy of itself in the last sectors).
func TestBlank(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 8*mb, "", "")
	if !usbdisk.IsBlank(tr.Path("sda")) {
		t.Fatal("an all-zero disk is not blank")
	}
	tr.WriteAt("sda", []byte("EFI PART"), 8*mb-512)
	if usbdisk.IsBlank(tr.Path("sda")) {
		t.Error("a disk with a backup GPT header at its end counts as blank")
	}
	tr.Disk("sdb", true, 8*mb, "", "")
	tr.WriteAt("sdb", []byte{1}, 1<<20-1)
	if usbdisk.IsBlank(tr.Path("sdb")) {
		t.Error("a disk with a byte in its first MiB counts as blank")
	}
	if usbdisk.IsBlank(filepath.Join(tr.Root, "nothing")) {
		t.Error("a missing device counts as blank")
	}
}

func TestSizeWords(t *testing.T) {
	cases := []struct {
		n     int64
		words string
		typed []string
		wrong []string
	}{
		{32017047552, "32.0 GB", []string{"32.0 GB", "32.0gb", " 32,0 GB "}, []string{"32 GB", "32.0", ""}},
		{500107862016, "500 GB", []string{"500 GB", "500gb"}, []string{"500.1 GB", "0.5 TB"}},
		{2000398934016, "2.0 TB", []string{"2.0 TB", "2.0tb"}, []string{"2 TB"}},
		{268435456, "268 MB", []string{"268 MB"}, []string{"256 MB"}},
	}
	for _, c := range cases {
		if got := usbdisk.SizeWords(c.n); got != c.words {
			t.Errorf("SizeWords(%d) = %q, want %q", c.n, got, c.words)
		}
		for _, s := range c.typed {
			if !usbdisk.SameSize(s, c.n) {
				t.Errorf("SameSize(%q, %d) = false", s, c.n)
			}
		}
		for _, s := range c.wrong {
			if usbdisk.SameSize(s, c.n) {
				t.Errorf("SameSize(%q, %d) = true", s, c.n)
			}
		}
	}
}

// TestFormatRefuses: the box formats only the blank USB disk the page
// showed, and says why it will not format anything else.
func TestFormatRefuses(t *testing.T) {
	tr := box(t)
	h := tr.Host()
	fp := func(name string) string {
		disks, err := h.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range disks {
			if d.Name == name {
				return usbdisk.Fingerprint(d)
			}
		}
		t.Fatalf("no disk %s", name)
		return ""
	}
	blank := fp("sde")
	cases := []struct {
		name        string
		disk, print string
		label       string
		before      func()
		want        error
	}{
		{"the SD card", "mmcblk0", fp("mmcblk0"), usbdisk.BackupLabel, nil, usbdisk.ErrNotUSB},
		{"the disk with the mail", "sdc", fp("sdc"), usbdisk.BackupLabel, nil, usbdisk.ErrInUse},
		{"a stick with files", "sda", fp("sda"), usbdisk.BackupLabel, nil, usbdisk.ErrNotBlank},
		{"an NTFS disk", "sdd", fp("sdd"), usbdisk.DataLabel, nil, usbdisk.ErrNotBlank},
		{"a disk that is gone", "sdz", blank, usbdisk.BackupLabel, nil, usbdisk.ErrGone},
		{"another disk's fingerprint", "sde", fp("sda"), usbdisk.BackupLabel, nil, usbdisk.ErrChanged},
		{"plugged in again", "sde", blank, usbdisk.BackupLabel, func() { tr.Seq("sde", 2) }, usbdisk.ErrChanged},
		{"written to since it was shown", "sde", fp("sde"), usbdisk.BackupLabel, func() { tr.WriteAt("sde", []byte("hello"), 4096) }, usbdisk.ErrChanged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			before := ends(tr.Path(c.disk))
			_, err := h.Format(c.disk, c.print, c.label)
			if !errors.Is(err, c.want) {
				t.Fatalf("Format(%s) = %v, want %v", c.disk, err, c.want)
			}
			if after := ends(tr.Path(c.disk)); before != after {
				t.Errorf("Format(%s) wrote to the disk it refused", c.disk)
			}
		})
	}
	if _, err := h.Format("sde", blank, "my-label"); err == nil {
		t.Error("Format took a label of its own")
	}
}

// TestFormat formats a blank USB disk (a file) as the page does, then
// checks it with e2fsck and lists it again.
func TestFormat(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 1*gb, "Kingston", "DataTraveler")
	h := tr.Host()
	disks, err := h.List()
	if err != nil || len(disks) != 1 || !disks[0].Blank {
		t.Fatalf("List = %+v, %v", disks, err)
	}
	fs, err := h.Format("sda", usbdisk.Fingerprint(disks[0]), usbdisk.BackupLabel)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Type != "ext4" || fs.Label != usbdisk.BackupLabel || len(fs.UUID) != 36 {
		t.Errorf("formatted: %+v", fs)
	}
	out, err := exec.Command(sbin("e2fsck"), "-fn", tr.Path("sda")).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), usbdisk.BackupLabel+": ") {
		t.Errorf("e2fsck: %s", out)
	}
	disks, err = h.List()
	if err != nil || disks[0].Blank || len(disks[0].FS) != 1 || disks[0].FS[0].UUID != fs.UUID {
		t.Errorf("after the format: %+v, %v", disks, err)
	}
	// Formatting again is refused: it holds a file system now.
	if _, err := h.Format("sda", usbdisk.Fingerprint(disks[0]), usbdisk.BackupLabel); !errors.Is(err, usbdisk.ErrNotBlank) {
		t.Errorf("a second format: %v", err)
	}
}

// TestMount mounts a stick (a loop device standing for it) as a backup
// does, writes a file, unmounts, and reads the file back from the stick's
// image with debugfs. (The machines that run the tests have ext4 but not
// always vfat in their kernel; the qemu test mounts a FAT stick on the
// board's kernel.)
func TestMount(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 64*mb, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sda", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "OFFICE")
	tr.Loop("sda")
	h := tr.Host()
	d, f, ok := h.ByUUID(usbdisk.Probe(tr.Path("sda")).UUID)
	if !ok || d.Name != "sda" {
		t.Fatalf("ByUUID: %+v %+v %v", d, f, ok)
	}
	m, err := h.Mount(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
	if !strings.HasPrefix(m.Dir, h.RunDir+"/") {
		t.Errorf("mounted on %s, not under %s", m.Dir, h.RunDir)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "backup.txt"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); !strings.Contains(string(mounts), m.Dir+" ext4 rw,nosuid,nodev,noexec,noatime") {
		t.Errorf("mount options: %s", grepLine(string(mounts), m.Dir))
	}
	dir := m.Dir
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mount point %s is still there: %v", dir, err)
	}
	out, err := exec.Command(sbin("debugfs"), "-R", "cat /backup.txt", tr.Path("sda")+".img").Output()
	if err != nil || string(out) != "kept" {
		t.Errorf("debugfs cat /backup.txt: %q, %v", out, err)
	}
	// An NTFS disk is listed, not mounted.
	if _, err := h.Mount(usbdisk.FS{Device: tr.Path("sda"), Type: "ntfs"}); !errors.Is(err, usbdisk.ErrNotUsable) {
		t.Errorf("mount NTFS: %v", err)
	}
}

// ends is a disk's first 4 MiB and last MiB, where a format writes
// first (reading a whole 2 GB sparse file would take long).
func ends(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, _ := f.Stat()
	a, b := make([]byte, 4<<20), make([]byte, 1<<20)
	f.ReadAt(a, 0)
	f.ReadAt(b, max(0, fi.Size()-int64(len(b))))
	return string(a) + string(b)
}

// sbin finds a Debian program that lives in /usr/sbin.
func sbin(prog string) string {
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	return "/usr/sbin/" + prog
}

// blkid asks util-linux's blkid what a device holds: the oracle for
// Probe's reading of a file system made by another program.
func blkid(t *testing.T, dev, tag string) string {
	t.Helper()
	out, err := exec.Command(sbin("blkid"), "-p", "-o", "value", "-s", tag, dev).Output()
	if err != nil {
		t.Fatalf("blkid %s: %v", dev, err)
	}
	return strings.TrimSpace(string(out))
}

func grepLine(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return "(none)"
}
