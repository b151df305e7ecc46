package sdimage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// Options say what Build writes. Every field is required except Layout
// (zero: DefaultLayout).
type Options struct {
	Output      string    // the image file; written whole or not at all
	DiskID      uint32    // MBR disk signature: PARTUUIDs are DiskID-01 ... -04
	Time        time.Time // every timestamp in the image (the commit's time)
	Layout      Layout
	FirmwareDir string // github.com/gokrazy/firmware in the module cache
	KernelDir   string // github.com/gokrazy/kernel.rpi in the module cache
	Root        []File // root A's files; MountPoints are added
}

// Build writes the image. It is not safe to run two Builds at once in one
// process: go-diskfs takes FAT timestamps from the SOURCE_DATE_EPOCH
// environment variable, which Build sets for its duration.
func Build(ctx context.Context, o Options) error {
	if o.DiskID == 0 {
		return errNoDiskID
	}
	if o.Time.IsZero() || o.Output == "" || o.FirmwareDir == "" || o.KernelDir == "" {
		return errors.New("sdimage: Output, Time, FirmwareDir and KernelDir are required")
	}
	if o.Layout == (Layout{}) {
		o.Layout = DefaultLayout
	}
	spans, size, err := o.Layout.spans()
	if err != nil {
		return err
	}
	if err := checkRoot(o.Root); err != nil {
		return err
	}
	boot, err := bootFiles(o.FirmwareDir, o.KernelDir, o.DiskID)
	if err != nil {
		return err
	}

	tmp := o.Output + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	d, err := diskfs.Create(tmp, size, diskfs.SectorSize512)
	if err != nil {
		return fmt.Errorf("sdimage: %w", err)
	}
	err = writeDisk(d, spans, boot, o)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeData(ctx, tmp, spans[PartData-1], o.DiskID, o.Time); err != nil {
		return err
	}
	if err := os.Chtimes(tmp, o.Time, o.Time); err != nil {
		return err
	}
	if err := os.Rename(tmp, o.Output); err != nil {
		return err
	}
	ok = true
	return nil
}

// writeDisk writes the partition table, the disk signature, p1 and p2.
// p3 stays zero until the first update; p4 is mke2fs's (data.go).
func writeDisk(d *disk.Disk, spans []span, boot []bootFile, o Options) error {
	table := &mbr.Table{LogicalSectorSize: sectorSize, PhysicalSectorSize: sectorSize}
	types := []mbr.Type{mbr.Fat32LBA, mbr.Linux, mbr.Linux, mbr.Linux}
	for i, sp := range spans {
		table.Partitions = append(table.Partitions, &mbr.Partition{
			Index: i + 1,
			Type:  types[i],
			Start: uint32(sp.start / sectorSize),
			Size:  uint32(sp.size / sectorSize),
		})
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("sdimage: partition table: %w", err)
	}
	if err := writeDiskID(d, o.DiskID); err != nil {
		return err
	}

	restore := setEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(o.Time.Unix(), 10))
	defer restore()
	fat, err := d.CreateFilesystem(disk.FilesystemSpec{
		Partition:    PartBoot,
		FSType:       filesystem.TypeFat32,
		VolumeLabel:  BootLabel,
		Reproducible: true, // volume id 0 instead of one from the clock
	})
	if err != nil {
		return fmt.Errorf("sdimage: boot: %w", err)
	}
	if err := writeBoot(fat, boot); err != nil {
		return err
	}
	w, err := d.Backend.Writable()
	if err != nil {
		return err
	}
	if err := fixFAT32(w, spans[PartBoot-1].start); err != nil {
		return fmt.Errorf("sdimage: boot: %w", err)
	}
	return writeRoot(d.Backend, spans[PartRootA-1], o.Root, o.Time)
}

// writeDiskID sets the MBR's 32-bit disk signature (bytes 440-443), which
// go-diskfs leaves zero; the kernel builds PARTUUIDs from it.
func writeDiskID(d *disk.Disk, id uint32) error {
	w, err := d.Backend.Writable()
	if err != nil {
		return err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], id)
	if _, err := w.WriteAt(b[:], 440); err != nil {
		return fmt.Errorf("sdimage: disk signature: %w", err)
	}
	return nil
}

// setEnv sets an environment variable and returns what puts it back.
func setEnv(key, value string) (restore func()) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	return func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	}
}
