package boot

import (
	"fmt"
	"path/filepath"
	"strconv"

	"postroom/appliance/usbdisk"
)

// What the init tells the appliance about the box, in its environment
// (the appliance reads them in appliance/run_update.go): where the boot
// partition is mounted, which root runs, the device of the other root (an
// update writes it), whether this start is a trial, the boot count, the
// data disk, and the supervisor's crashes in a row.
const (
	EnvBootDir   = "POSTROOM_BOOT_DIR"
	EnvRoot      = "POSTROOM_ROOT"
	EnvOtherRoot = "POSTROOM_OTHER_ROOT_DEV"
	EnvTrial     = "POSTROOM_TRIAL"
	EnvBoots     = "POSTROOM_BOOTS"
	EnvDataDisk  = "POSTROOM_DATA_DISK"
	EnvCrashes   = "POSTROOM_CRASHES"
)

// TrialCrashes is how many crashes in a row end a trial boot: the new
// version cannot keep its services up, and the old one comes back.
const TrialCrashes = 3

// BootDiskPart returns the device of partition n of the disk the box
// booted from (its MBR signature is root.DiskID): p1 is the boot
// partition, p2 and p3 the roots.
func BootDiskPart(sysBlock, dev string, root Root, n int) (string, error) {
	disks, err := usbdisk.ListDisks(sysBlock)
	if err != nil {
		return "", err
	}
	for _, d := range disks {
		if id, ok := usbdisk.DiskSignature(filepath.Join(dev, d.Name)); ok && id == root.DiskID {
			if name, ok := d.Parts[n]; ok {
				return filepath.Join(dev, name), nil
			}
			return "", fmt.Errorf("the boot disk %s has no partition %d", d.Name, n)
		}
	}
	return "", fmt.Errorf("no disk with signature %08x", root.DiskID)
}

// UpdateEnv is the environment the init gives the appliance.
type UpdateEnv struct {
	BootDir   string // "" when the boot partition could not be mounted
	Root      int
	OtherRoot string
	Trial     bool
	Boots     int
	DataDisk  string
	Crashes   int
}

// Environ returns e as NAME=value lines for the appliance's environment.
func (e UpdateEnv) Environ() []string {
	out := []string{
		EnvRoot + "=" + strconv.Itoa(e.Root),
		EnvBoots + "=" + strconv.Itoa(e.Boots),
		EnvDataDisk + "=" + e.DataDisk,
		EnvCrashes + "=" + strconv.Itoa(e.Crashes),
	}
	if e.BootDir != "" {
		out = append(out, EnvBootDir+"="+e.BootDir, EnvOtherRoot+"="+e.OtherRoot)
	}
	if e.Trial {
		out = append(out, EnvTrial+"=1")
	}
	return out
}
