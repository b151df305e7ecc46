package boot

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestParseRoot(t *testing.T) {
	cases := []struct {
		cmdline string
		want    Root
		ok      bool
	}{
		{"console=serial0,115200 root=PARTUUID=50727231-02 rootfstype=squashfs ro\n", Root{0x50727231, 2}, true},
		{"root=PARTUUID=ABCDEF01-03", Root{0xabcdef01, 3}, true},
		{"console=ttyAMA0 root=/dev/mmcblk0p2 ro", Root{}, false},
		{"noroot=PARTUUID=50727231-02", Root{}, false},
		{"root=PARTUUID=5072723-02", Root{}, false},
		{"", Root{}, false},
	}
	for _, c := range cases {
		got, err := ParseRoot(c.cmdline)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRoot(%q) = %+v, %v; want %+v, ok %v", c.cmdline, got, err, c.want, c.ok)
		}
	}
}

// fakeBlock is a fake /sys and /dev: disks as sysfs symlinks into
// /sys/devices (a USB disk's path goes through usbN), partitions with their
// "partition" files, and device files holding just the bytes ChooseData
// reads.
type fakeBlock struct {
	t        *testing.T
	sys, dev string
}

func newFakeBlock(t *testing.T) *fakeBlock {
	root := t.TempDir()
	f := &fakeBlock{t: t, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev")}
	for _, d := range []string{filepath.Join(f.sys, "block"), f.dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// disk adds a disk whose sysfs device lives under bus (e.g.
// "platform/emmc2bus/mmc0" or "platform/scb/usb2/2-1"), with an MBR
// signature if id != 0, and partitions 1..n named name+sep+number.
func (f *fakeBlock) disk(name, bus string, id uint32, parts int, sep string) {
	f.t.Helper()
	devdir := filepath.Join(f.sys, "devices", bus, "block", name)
	for i := 1; i <= parts; i++ {
		p := filepath.Join(devdir, name+sep+strconv.Itoa(i))
		f.write(filepath.Join(p, "partition"), []byte(strconv.Itoa(i)+"\n"))
	}
	if err := os.MkdirAll(devdir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Join(f.sys, "block"), devdir)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(f.sys, "block", name)); err != nil {
		f.t.Fatal(err)
	}
	mbr := make([]byte, 4096)
	if id != 0 {
		binary.LittleEndian.PutUint32(mbr[440:], id)
		mbr[510], mbr[511] = 0x55, 0xaa
	}
	f.write(filepath.Join(f.dev, name), mbr)
}

// ext4 makes a device file look like an ext file system with a label.
func (f *fakeBlock) ext4(name, label string) {
	f.t.Helper()
	sb := make([]byte, 4096)
	binary.LittleEndian.PutUint16(sb[1024+56:], 0xef53)
	copy(sb[1024+120:1024+136], label)
	f.write(filepath.Join(f.dev, name), sb)
}

// zero makes a device file all zeros (an unformatted partition).
func (f *fakeBlock) zero(name string) {
	f.write(filepath.Join(f.dev, name), make([]byte, 8192))
}

func (f *fakeBlock) write(path string, b []byte) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

const (
	sdID  = 0x50727231
	sdBus = "platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
	usb1  = "platform/scb/fd500000.pcie/pci0000:00/0000:01:00.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0"
	usb2  = "platform/scb/fd500000.pcie/pci0000:00/0000:01:00.0/usb2/2-2/2-2:1.0/host1/target1:0:0/1:0:0:0"
)

// sdCard adds the booted SD card with its four partitions; p4 formatted
// for Postroom when formatted is true.
func (f *fakeBlock) sdCard(formatted bool) {
	f.disk("mmcblk0", sdBus, sdID, 4, "p")
	if formatted {
		f.ext4("mmcblk0p4", DataLabel)
	} else {
		f.zero("mmcblk0p4")
	}
}

func TestChooseData(t *testing.T) {
	root := Root{DiskID: sdID, Partition: 2}
	cases := []struct {
		name    string
		setup   func(f *fakeBlock)
		want    DataChoice // paths relative to the fake /dev
		wantErr error
	}{
		{
			name:  "SD card only",
			setup: func(f *fakeBlock) { f.sdCard(true) },
			want:  DataChoice{Device: "mmcblk0p4"},
		},
		{
			name: "labelled USB disk wins over the SD card",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("sda", usb1, 0x1234, 1, "")
				f.ext4("sda1", DataLabel)
			},
			want: DataChoice{Device: "sda1", USB: true, Others: []string{"mmcblk0p4"}},
		},
		{
			name: "USB disk with another label is left alone",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("sda", usb1, 0x1234, 1, "")
				f.ext4("sda1", "holiday-photos")
			},
			want: DataChoice{Device: "mmcblk0p4"},
		},
		{
			name: "blank USB disk is reported, never chosen",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("sda", usb1, 0, 0, "")
			},
			want: DataChoice{Device: "mmcblk0p4", BlankUSB: []string{"sda"}},
		},
		{
			name: "file system on a whole USB disk",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("sda", usb1, 0, 0, "")
				f.ext4("sda", DataLabel)
			},
			want: DataChoice{Device: "sda", USB: true, Others: []string{"mmcblk0p4"}},
		},
		{
			name: "two labelled USB disks: the first by name",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("sdb", usb2, 0x2, 1, "")
				f.ext4("sdb1", DataLabel)
				f.disk("sda", usb1, 0x1, 1, "")
				f.ext4("sda1", DataLabel)
			},
			want: DataChoice{Device: "sda1", USB: true, Others: []string{"sdb1", "mmcblk0p4"}},
		},
		{
			name: "a non-USB disk with the label does not count as USB",
			setup: func(f *fakeBlock) {
				f.sdCard(true)
				f.disk("nvme0n1", "platform/scb/pcie/nvme0", 0x9, 1, "p")
				f.ext4("nvme0n1p1", DataLabel)
			},
			want: DataChoice{Device: "mmcblk0p4"},
		},
		{
			name: "a Pi booted from a USB disk uses its own p4",
			setup: func(f *fakeBlock) {
				f.disk("sda", usb1, sdID, 4, "")
				f.ext4("sda4", DataLabel)
			},
			want: DataChoice{Device: "sda4", USB: true},
		},
		{
			name:    "unformatted data partition is an error, not a format",
			setup:   func(f *fakeBlock) { f.sdCard(false) },
			wantErr: ErrDataUnformatted,
		},
		{
			name: "boot disk not found",
			setup: func(f *fakeBlock) {
				f.disk("mmcblk0", sdBus, 0xdead, 4, "p")
				f.ext4("mmcblk0p4", DataLabel)
			},
			wantErr: ErrNoDataDisk,
		},
		{
			name: "boot disk without a fourth partition",
			setup: func(f *fakeBlock) {
				f.disk("mmcblk0", sdBus, sdID, 2, "p")
			},
			wantErr: ErrNoDataDisk,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeBlock(t)
			f.disk("loop0", "virtual/block", 0, 0, "") // ignored
			c.setup(f)
			got, err := ChooseData(filepath.Join(f.sys, "block"), f.dev, root)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			want.Device = filepath.Join(f.dev, want.Device)
			abs := func(names []string) []string {
				var out []string
				for _, n := range names {
					out = append(out, filepath.Join(f.dev, n))
				}
				return out
			}
			want.BlankUSB, want.Others = abs(want.BlankUSB), abs(want.Others)
			if got.Device != want.Device || got.USB != want.USB ||
				!slices.Equal(got.BlankUSB, want.BlankUSB) || !slices.Equal(got.Others, want.Others) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestChooseDataNoSysfs(t *testing.T) {
	if _, err := ChooseData(filepath.Join(t.TempDir(), "missing"), t.TempDir(), Root{DiskID: 1}); err == nil {
		t.Fatal("no error without /sys/block")
	}
}
