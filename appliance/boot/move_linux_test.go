//go:build linux

package boot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// ext4Loop makes an ext4 of sizeMiB on a loop device (as root; others
// skip) and returns the device and its image file.
func ext4Loop(t *testing.T, sizeMiB int, uuid string) (dev, img string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting disks needs root")
	}
	mkfs, err := exec.LookPath("mke2fs")
	if err != nil {
		mkfs = "/usr/sbin/mke2fs"
	}
	img = filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-t", "ext4", "-L", DataLabel, "-U", uuid, img).CombinedOutput(); err != nil {
		t.Skipf("mke2fs: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev, img
}

// mountAt mounts dev on dir until the test ends (or the code under test
// unmounts it).
func mountAt(t *testing.T, dev, dir string) {
	t.Helper()
	if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestMoveData runs the init's step on real ext4 file systems (loop
// devices): the copy from the SD card's data partition, mounted
// read-only (its image is the same bytes afterwards), and each refusal,
// after which the SD card's file system is on the data folder and the
// note says why.
func TestMoveData(t *testing.T) {
	const sdUUID = "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f"
	moveFromDir = filepath.Join(t.TempDir(), "from")
	sd, sdImg := ext4Loop(t, 256, sdUUID)
	fill := t.TempDir()
	mountAt(t, sd, fill)
	for name, size := range map[string]int{"postroom/config.json": 40, "postroom/store/000001.vlog": 40 << 20, "postroom/store/RESERVE": 160 << 20, "postroom/tls/key.pem": 200, "postroom-init/boots": 3} {
		p := filepath.Join(fill, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i * 7)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Unmount(fill, 0); err != nil {
		t.Fatal(err)
	}
	var sdSum [32]byte
	marker := func(from string) usbdisk.MoveMarker {
		return usbdisk.MoveMarker{FromUUID: from, FromDevice: "/dev/mmcblk0p4", At: time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC), By: "anna"}
	}
	cases := []struct {
		name    string
		usbMiB  int
		from    string
		noSD    bool
		moved   bool
		wantErr string
		note    string
	}{
		{name: "moved", usbMiB: 400, from: sdUUID, moved: true},
		{name: "another source", usbMiB: 256, from: "11111111-2222-3333-4444-555555555555",
			note: "The mail was not moved to the USB disk %[1]s: the USB disk was prepared to take the mail of another data disk (UUID 11111111-2222-3333-4444-555555555555; the SD card's data partition %[2]s is UUID " + sdUUID + ")."},
		{name: "too small", usbMiB: 260, from: strings.ToUpper(sdUUID), note: "The mail was not moved to the USB disk %[1]s: the USB disk is too small for the mail: the mail and settings need "},
		{name: "source missing", usbMiB: 256, from: sdUUID, noSD: true, wantErr: "the mail was not moved to the USB disk %s: the data disk the mail is to be copied from is not there (/dev/mmcblk0p4, UUID " + sdUUID + "): put back the SD card"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The USB disk as the page formats it (go-diskfs, not mke2fs),
			// with its marker.
			tr := usbdisktest.New(t)
			tr.Disk("sda", true, int64(tc.usbMiB)<<20, "Samsung", "T7")
			tr.Loop("sda")
			h := tr.Host()
			disks, err := h.List()
			if err != nil || len(disks) != 1 {
				t.Fatalf("List: %+v %v", disks, err)
			}
			f, err := h.FormatForMail("sda", usbdisk.Fingerprint(disks[0]), marker(tc.from))
			if err != nil {
				t.Fatal(err)
			}
			usb, err := filepath.EvalSymlinks(f.Device)
			if err != nil {
				t.Fatal(err)
			}
			data := t.TempDir()
			mountAt(t, usb, data)
			var console strings.Builder
			cfg := Config{DataDir: data, Console: &console}
			choice := DataChoice{Device: usb, USB: true, SD: sd, Others: []string{sd}}
			if tc.noSD {
				choice.SD, choice.Others = "", nil
			}
			sdSum = fileSum(t, sdImg)
			got, err := moveData(context.Background(), cfg, choice)
			t.Log(console.String())
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf(tc.wantErr, usb)) {
					t.Fatalf("moveData: %v", err)
				}
				if _, err := os.Stat(filepath.Join(data, usbdisk.MoveFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the USB disk is still mounted: %v", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.moved:
				if got.Device != usb || !got.USB || got.Note != "" {
					t.Errorf("choice: %+v", got)
				}
				if _, ok, err := usbdisk.ReadMoveMarker(data); ok || err != nil {
					t.Errorf("the marker is still there: %v", err)
				}
				if !strings.Contains(console.String(), "the mail is on the USB disk "+usb+" from now on") {
					t.Errorf("console:\n%s", console.String())
				}
			default:
				if got.Device != sd || got.USB || !strings.HasPrefix(got.Note, fmt.Sprintf(tc.note, usb, sd)) || !strings.Contains(strings.Join(got.Others, " "), usb) {
					t.Errorf("choice: %+v", got)
				}
				if !strings.Contains(console.String(), "the box runs from the SD card as before. The mail was not moved") {
					t.Errorf("console:\n%s", console.String())
				}
			}
			// Whatever is mounted on the data folder now holds the mail.
			if b, err := os.ReadFile(filepath.Join(data, "postroom", "store", "000001.vlog")); err != nil || len(b) != 40<<20 || b[1] != 7 {
				t.Errorf("the mail on the data folder: %d bytes, %v", len(b), err)
			}
			if err := unix.Unmount(data, 0); err != nil {
				t.Fatal(err)
			}
			if tc.moved {
				// The kernel wrote the copy on the file system go-diskfs
				// made: e2fsck finds nothing wrong with it.
				if out, err := exec.Command(e2fsck(), "-fn", usb).CombinedOutput(); err != nil {
					t.Errorf("e2fsck -fn of the USB disk: %v\n%s", err, out)
				}
			} else {
				// The USB disk keeps its marker: the next start tries again.
				mountAt(t, usb, data)
				if _, ok, err := usbdisk.ReadMoveMarker(data); !ok || err != nil {
					t.Errorf("the marker went: %v", err)
				}
				unix.Unmount(data, 0)
			}
			if tc.moved && fileSum(t, sdImg) != sdSum {
				t.Error("the SD card's data file system was written")
			}
			sdSum = fileSum(t, sdImg) // the box ran from it
		})
	}
}

func e2fsck() string {
	if p, err := exec.LookPath("e2fsck"); err == nil {
		return p
	}
	return "/usr/sbin/e2fsck"
}
