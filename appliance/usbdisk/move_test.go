package usbdisk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// TestFormatSmallDisk: the smallest disk the page formats (256 MiB) gets
// an ext4 e2fsck finds sound; with go-diskfs's default 1 KiB blocks it
// had fewer inodes in group 0 than ext4 reserves, and the kernel refused
// the first file written on it.
func TestFormatSmallDisk(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 256<<20, "Kingston", "DataTraveler")
	h := tr.Host()
	disks, err := h.List()
	if err != nil || len(disks) != 1 {
		t.Fatalf("List = %+v, %v", disks, err)
	}
	if _, err := h.Format("sda", usbdisk.Fingerprint(disks[0]), usbdisk.DataLabel); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sbin("e2fsck"), "-fn", tr.Path("sda")).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

// TestMoveMarker: the marker round-trips; a damaged one is an error,
// never "no marker" (the disk would be taken for one holding the mail).
func TestMoveMarker(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := usbdisk.ReadMoveMarker(dir); ok || err != nil {
		t.Fatalf("empty disk: %v %v", ok, err)
	}
	if err := usbdisk.WriteMoveMarker(dir, usbdisk.MoveMarker{}); err == nil {
		t.Error("a marker without a source was written")
	}
	m := usbdisk.MoveMarker{FromUUID: "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f", FromDevice: "/dev/mmcblk0p4", At: time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC), By: "anna"}
	if err := usbdisk.WriteMoveMarker(dir, m); err != nil {
		t.Fatal(err)
	}
	got, ok, err := usbdisk.ReadMoveMarker(dir)
	m.Version = 1
	if !ok || err != nil || got != m {
		t.Errorf("read back %+v %v %v", got, ok, err)
	}
	for _, bad := range []string{"", "{", `{"version": 2, "from_uuid": "x"}`, `{"version": 1}`} {
		os.WriteFile(filepath.Join(dir, usbdisk.MoveFile), []byte(bad), 0o644)
		if _, ok, err := usbdisk.ReadMoveMarker(dir); ok || err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%q: %v %v", bad, ok, err)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "1 minute"}, {3 << 20, "1 minute"}, {1e9, "3 minutes"}, {32e9, "80 minutes"}} {
		if got := usbdisk.MinutesWords(usbdisk.MoveMinutes(c.n)); got != c.want {
			t.Errorf("MoveMinutes(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}
