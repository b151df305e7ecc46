package boot

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBootDiskPart finds the boot partition and the spare root on the
// disk the box booted from, not on a USB disk beside it.
func TestBootDiskPart(t *testing.T) {
	f := newFakeBlock(t)
	f.disk("sda", usb1, 0x12345678, 4, "")
	f.sdCard(true)
	root := Root{DiskID: sdID, Partition: 2}
	for n, want := range map[int]string{1: "mmcblk0p1", 3: "mmcblk0p3"} {
		got, err := BootDiskPart(filepath.Join(f.sys, "block"), f.dev, root, n)
		if err != nil || got != filepath.Join(f.dev, want) {
			t.Errorf("partition %d: %q, %v; want %s", n, got, err, want)
		}
	}
	if _, err := BootDiskPart(filepath.Join(f.sys, "block"), f.dev, root, 7); err == nil {
		t.Error("partition 7 was found")
	}
	if _, err := BootDiskPart(filepath.Join(f.sys, "block"), f.dev, Root{DiskID: 1, Partition: 2}, 1); err == nil {
		t.Error("a disk that is not there was found")
	}
}

func TestUpdateEnviron(t *testing.T) {
	cases := []struct {
		env  UpdateEnv
		want []string
		not  []string
	}{
		{UpdateEnv{Root: 2, Boots: 5, DataDisk: "/dev/sda1 (USB disk)"},
			[]string{"POSTROOM_ROOT=2", "POSTROOM_BOOTS=5", "POSTROOM_DATA_DISK=/dev/sda1 (USB disk)", "POSTROOM_CRASHES=0"},
			[]string{"POSTROOM_BOOT_DIR", "POSTROOM_TRIAL"}},
		{UpdateEnv{BootDir: "/boot", Root: 3, OtherRoot: "/dev/mmcblk0p2", Trial: true, Crashes: 2},
			[]string{"POSTROOM_BOOT_DIR=/boot", "POSTROOM_OTHER_ROOT_DEV=/dev/mmcblk0p2", "POSTROOM_TRIAL=1", "POSTROOM_CRASHES=2"},
			nil},
	}
	for _, c := range cases {
		got := c.env.Environ()
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%+v: Environ lacks %s: %q", c.env, w, got)
			}
		}
		for _, n := range c.not {
			for _, g := range got {
				if strings.HasPrefix(g, n) {
					t.Errorf("%+v: Environ has %s", c.env, g)
				}
			}
		}
	}
}
