package backup

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"postroom/appliance/config"
	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// TestUSBTarget walks the USB disk's life as a backup target: a blank
// stick formatted by the box, chosen by its UUID, mounted for the backup
// and unmounted after (the backup file is read from the stick's image
// afterwards with debugfs), listed and restored from, then pulled out: the
// next backup says which disk to plug in. A disk holding the mail is
// never a target.
func TestUSBTarget(t *testing.T) {
	b := newBox(t)
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 300<<20, "Kingston", "DataTraveler")
	h := tr.Host()
	disks, err := h.USB()
	if err != nil || len(disks) != 1 || !disks[0].Blank {
		t.Fatalf("USB disks: %+v, %v", disks, err)
	}
	fs, err := h.Format("sda", usbdisk.Fingerprint(disks[0]), usbdisk.BackupLabel)
	if err != nil {
		t.Fatal(err)
	}
	tr.Loop("sda")
	b.usb = h
	b.cfg.Backup.Target = "usb"
	b.cfg.Backup.USB = config.USBConfig{UUID: fs.UUID, Label: fs.Label, Name: "Kingston DataTraveler"}
	if err := b.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b.fill()
	res := b.backup()
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), h.RunDir) {
		t.Errorf("the stick is still mounted after the backup:\n%s", mounts)
	}
	out, err := exec.Command(sbin("debugfs"), "-R", "ls -l /"+USBFolder, tr.Path("sda")+".img").CombinedOutput()
	if err != nil || !strings.Contains(string(out), res.Name) {
		t.Errorf("debugfs ls /%s: %v\n%s", USBFolder, err, out)
	}
	// The chain goes on under the same name whatever /dev calls the disk.
	if res2 := b.backup(); res2.Kind != KindIncremental {
		t.Errorf("second backup to the stick: %s, want an incremental one", res2.Kind)
	}
	tgt, err := OpenTargetOn(ctx, b.dir, b.cfg.Backup, h)
	if err != nil {
		t.Fatal(err)
	}
	list, err := List(ctx, tgt)
	if err != nil || len(list) != 2 || tgt.String() != "USB disk postroom-backup ("+fs.UUID+")" {
		t.Errorf("List on %s: %d backups, %v", tgt, len(list), err)
	}
	if err := tgt.Close(); err != nil {
		t.Error(err)
	}

	tr.Unplug("sda")
	_, err = b.m.Now(ctx)
	if !errors.Is(err, ErrNotPlugged) || !strings.Contains(err.Error(), "plug in the USB disk labelled postroom-backup (Kingston DataTraveler)") {
		t.Errorf("backup with the stick pulled out: %v", err)
	}
	if last := b.m.Progress().Last; last == nil || !strings.Contains(last.Error, "plug in the USB disk") {
		t.Errorf("the last result does not say to plug the disk in: %+v", last)
	}

	// The disk that holds the mail.
	tr2 := usbdisktest.New(t)
	tr2.Disk("sdb", true, 64<<20, "WD", "Elements")
	tr2.Mkfs("sdb", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel)
	data := usbdisk.Probe(tr2.Path("sdb"))
	_, err = OpenTargetOn(ctx, b.dir, config.BackupConfig{Target: "usb", USB: config.USBConfig{UUID: data.UUID}}, tr2.Host())
	if err == nil || !strings.Contains(err.Error(), "holds the mail itself") {
		t.Errorf("the data disk as a target: %v", err)
	}
	// A box that sees no USB disks.
	if _, err := OpenTarget(ctx, b.dir, b.cfg.Backup); !errors.Is(err, ErrNoUSB) {
		t.Errorf("no USB host: %v", err)
	}
}

// sbin finds a Debian program that lives in /usr/sbin.
func sbin(prog string) string {
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	return "/usr/sbin/" + prog
}
