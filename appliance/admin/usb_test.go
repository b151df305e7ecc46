package admin

import (
	"testing"

	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// TestUSBOps: the USB disks as the page sees them; formatting a blank one
// only with its size typed, only while it is the disk that was shown, and
// never one that holds something; choosing a disk as the backup target by
// its UUID (not the mail's disk, not NTFS, not one that is not there).
func TestUSBOps(t *testing.T) {
	e := newEnv(t)
	e.run(t, []step{
		{op: ListUSBDisks{}, check: func(t *testing.T, e *env, res any) {
			if v := res.(USBDisks); v.Sees || len(v.Disks) != 0 {
				t.Errorf("a box without a USB host: %+v", v)
			}
		}},
		{op: FormatUSB{Disk: "sda", Use: UseBackup, Confirm: "1.0 GB"}, code: CodeConflict, field: "disk", want: "development mode"},
		{op: SetBackup{Target: "usb", USBUUID: "1234-ABCD", NewKey: true}, code: CodeConflict, field: "target", want: "choose a folder"},
	})
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 1e9, "Kingston", "DataTraveler")
	tr.Disk("sdb", true, 64<<20, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sdb", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "OFFICE", "-U", "aaaaaaaa-1111-2222-3333-444444444444")
	tr.Disk("sdc", true, 64<<20, "WD", "Elements")
	tr.Mkfs("sdc", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "dddddddd-1111-2222-3333-444444444444")
	tr.Disk("sdd", true, 32<<20, "Seagate", "Basic")
	ntfs := make([]byte, 512)
	copy(ntfs[3:], "NTFS    ")
	tr.WriteAt("sdd", ntfs, 0)
	e.a.o.USB = tr.Host()
	var blank USBDisk
	var formatted string
	e.run(t, []step{
		{op: ListUSBDisks{}, check: func(t *testing.T, e *env, res any) {
			v := res.(USBDisks)
			if !v.Sees || len(v.Disks) != 4 {
				t.Fatalf("USB disks: %+v", v)
			}
			blank = v.Disks[0]
			if !blank.Blank || blank.SizeWords != "1.0 GB" || blank.Title != "Kingston DataTraveler" || blank.Fingerprint == "" || !v.Disks[2].Data {
				t.Errorf("USB disks: %+v", v.Disks)
			}
		}},
	})
	e.run(t, []step{
		{op: FormatUSB{Disk: "sda", Fingerprint: blank.Fingerprint, Use: "music", Confirm: "1.0 GB"}, code: CodeInvalid, field: "use", want: "backups or the mail"},
		{op: FormatUSB{Disk: "sda", Fingerprint: blank.Fingerprint, Use: UseBackup}, code: CodeInvalid, field: "confirm", want: "type the disk's size exactly as shown (1.0 GB)"},
		{op: FormatUSB{Disk: "sda", Fingerprint: blank.Fingerprint, Use: UseBackup, Confirm: "1 GB"}, code: CodeInvalid, field: "confirm", want: "(1.0 GB)"},
		{op: FormatUSB{Disk: "sdx", Fingerprint: blank.Fingerprint, Use: UseBackup, Confirm: "1.0 GB"}, code: CodeNotFound, field: "disk", want: "no longer plugged in"},
		{op: FormatUSB{Disk: "sda", Fingerprint: "0123", Use: UseBackup, Confirm: "1.0 GB"}, code: CodeConflict, field: "disk", want: "nothing was erased: the disk changed since the page showed it"},
		{op: FormatUSB{Disk: "sdb", Fingerprint: usbdisk.Fingerprint(mustDisk(t, e, "sdb")), Use: UseBackup, Confirm: "67 MB"}, code: CodeConflict, field: "disk", want: "not blank"},
		{op: FormatUSB{Disk: "sdc", Fingerprint: usbdisk.Fingerprint(mustDisk(t, e, "sdc")), Use: UseData, Confirm: "67 MB"}, code: CodeConflict, field: "disk", want: "holds the mail"},
		{op: FormatUSB{Disk: "sda", Fingerprint: blank.Fingerprint, Use: UseData, Confirm: "1.0 GB"}, code: CodeConflict, field: "disk", want: "nothing was erased: the box cannot tell which disk the mail is on now"},
		{op: FormatUSB{Disk: "sda", Fingerprint: blank.Fingerprint, Use: UseBackup, Confirm: " 1,0 gb"},
			want: "formatted the blank USB disk " + tr.Path("sda") + " (Kingston DataTraveler, 1.0 GB) for backups: ext4 postroom-backup", check: func(t *testing.T, e *env, res any) {
				r := res.(FormatUSBResult)
				formatted = r.FS.UUID
				if r.FS.Label != usbdisk.BackupLabel || len(formatted) != 36 || r.Note != "The disk is ready for backups." {
					t.Errorf("format: %+v", r)
				}
			}},
	})
	e.run(t, []step{
		{op: SetBackup{Target: "usb", NewKey: true}, code: CodeInvalid, field: "usb_uuid", want: "choose the USB disk"},
		{op: SetBackup{Target: "usb", USBUUID: "0000-0000", NewKey: true}, code: CodeNotFound, field: "usb_uuid", want: "not plugged in"},
		{op: SetBackup{Target: "usb", USBUUID: "dddddddd-1111-2222-3333-444444444444", NewKey: true}, code: CodeConflict, field: "usb_uuid", want: "holds the mail"},
		{op: SetBackup{Target: "usb", USBUUID: formatted, NewKey: true}, want: "backup settings: target USB disk postroom-backup (" + formatted + "), a new recovery key", check: func(t *testing.T, e *env, res any) {
			r := res.(SetBackupResult)
			c := loadConfig(t, e)
			if r.Target != "usb" || r.USBUUID != formatted || c.Backup.USB.Name != "Kingston DataTraveler" || c.Backup.USB.Label != usbdisk.BackupLabel {
				t.Errorf("after choosing the stick: %+v; config %+v", r.BackupView, c.Backup.USB)
			}
		}},
	})
	// Pulled out: a new key is still made, the disk is kept.
	tr.Unplug("sda")
	e.run(t, []step{
		{op: SetBackup{Target: "usb", NewKey: true}, check: func(t *testing.T, e *env, res any) {
			if c := loadConfig(t, e); c.Backup.USB.UUID != formatted {
				t.Errorf("the disk was forgotten: %+v", c.Backup.USB)
			}
		}},
		{op: ListBackups{}, code: CodeConflict, field: "target", want: "plug in the USB disk labelled postroom-backup (Kingston DataTraveler)"},
	})
}

func mustDisk(t *testing.T, e *env, name string) usbdisk.Disk {
	t.Helper()
	disks, err := e.a.o.USB.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no disk %s", name)
	return usbdisk.Disk{}
}
