//go:build linux

package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"postroom/appliance/usbdisk"
)

// ext4ResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): grow a
// mounted ext4 to the given number of blocks.
const ext4ResizeFS = 0x40086610

// growDataPartition extends partition 4 of the boot disk to the end of
// the card (grow.go says when), when the data disk is that partition. It
// returns the partition's size in bytes (0 when unknown) for growDataFS.
func growDataPartition(cfg Config, root Root, data DataChoice) int64 {
	if data.USB {
		return 0
	}
	disk, err := bootDisk(root)
	if err != nil {
		cfg.Say("data partition not grown: %v", err)
		return 0
	}
	if p := filepath.Join("/dev", disk.Parts[DataPartition]); p != data.Device {
		cfg.Say("data partition not grown: partition %d of the boot disk is %s, not the data disk %s", DataPartition, p, data.Device)
		return 0
	}
	sectors := uint64(disk.Size) / 512
	f, err := os.OpenFile(filepath.Join("/dev", disk.Name), os.O_RDWR, 0)
	if err != nil {
		cfg.Say("data partition not grown: %v", err)
		return 0
	}
	defer f.Close()
	plan, err := growMBR(f, root.DiskID, sectors)
	if err == ErrNoGrow {
		return int64(plan.Sectors) * 512
	}
	if err != nil {
		cfg.Say("data partition left as it is: %v", err)
		return 0
	}
	// Tell the kernel the new size now (BLKRRPART would refuse: the roots
	// are in use); if it cannot, the next boot reads the new table.
	part := unix.BlkpgPartition{Start: int64(plan.Start) * 512, Length: int64(plan.NewSectors) * 512, Pno: DataPartition}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		cfg.Say("data partition grown from %d to %d MiB on the card; the kernel sees it at the next start (%v)", plan.Sectors>>11, plan.NewSectors>>11, errno)
		return 0
	}
	cfg.Say("data partition grown from %d to %d MiB (the SD card is bigger than the image)", plan.Sectors>>11, plan.NewSectors>>11)
	return int64(plan.NewSectors) * 512
}

// bootDisk is the disk whose MBR signature is root.DiskID.
func bootDisk(root Root) (usbdisk.Disk, error) {
	disks, err := usbdisk.ListDisks("/sys/block")
	if err != nil {
		return usbdisk.Disk{}, err
	}
	for _, d := range disks {
		if id, ok := usbdisk.DiskSignature(filepath.Join("/dev", d.Name)); ok && id == root.DiskID {
			return d, nil
		}
	}
	return usbdisk.Disk{}, fmt.Errorf("no disk with signature %08x", root.DiskID)
}

// dataFSBlocks reads the data file system's size before it is mounted.
func dataFSBlocks(device string) (blocks, blockSize uint64, err error) {
	f, err := os.Open(device)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, 0, err
	}
	return ext4Blocks(sb)
}

// growDataFS grows the ext4 mounted on dir to fill its partition
// (partBytes), online, when the partition has at least growMinSectors
// more than the file system (it was grown now, or at a start the power
// cut short).
func growDataFS(cfg Config, dir string, partBytes int64, blocks, blockSize uint64) {
	if partBytes <= 0 || blockSize == 0 {
		return
	}
	want := uint64(partBytes) / blockSize
	if want < blocks+growMinSectors*512/blockSize {
		return
	}
	f, err := os.Open(dir)
	if err != nil {
		cfg.Say("data file system not grown: %v", err)
		return
	}
	defer f.Close()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ext4ResizeFS, uintptr(unsafe.Pointer(&want))); errno != 0 {
		cfg.Say("data file system not grown: %v", errno)
		return
	}
	cfg.Say("data file system grown from %d to %d MiB", blocks*blockSize>>20, want*blockSize>>20)
}
