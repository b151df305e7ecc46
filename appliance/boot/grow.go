package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Growing the data partition (grow_linux.go does it on the box): the
// image is written to SD cards of any size, and its data partition (p4)
// is only as big as the image made it. At boot, when p4 is the last
// partition and the card has room after it, the init extends p4 in the MBR
// to the end of the card, tells the kernel, and grows the ext4 online once
// it is mounted. Anything unexpected in the partition table (another
// layout, a disk that is not ours, partitions out of order, a table that
// ends past the disk) leaves the card as it is: a box with a small data
// partition works; a box with a damaged partition table does not.

// ErrNoGrow says there is nothing to grow: the card has less than
// growMinSectors after the data partition.
var ErrNoGrow = errors.New("nothing to grow")

// growMinSectors is the least growth worth a write to the partition table:
// 16 MiB.
const growMinSectors = 16 << 20 / 512

// mbrMaxSectors is the end an MBR can name (32-bit sector numbers: 2 TiB).
const mbrMaxSectors = 1<<32 - 1

// GrowPlan is the data partition's place, in 512-byte sectors, and the
// size it can have.
type GrowPlan struct {
	Start, Sectors, NewSectors uint64
}

// mbrPart is one of the MBR's four primary entries.
type mbrPart struct {
	typ            byte
	start, sectors uint64
}

func mbrParts(mbr []byte) [4]mbrPart {
	var p [4]mbrPart
	for i := range p {
		e := mbr[446+16*i:]
		p[i] = mbrPart{typ: e[4], start: uint64(binary.LittleEndian.Uint32(e[8:])), sectors: uint64(binary.LittleEndian.Uint32(e[12:]))}
	}
	return p
}

// PlanGrow looks at the boot disk's first sector (mbr) and its size: it
// returns how far partition 4 can grow, ErrNoGrow when it cannot grow by
// growMinSectors, or an error saying what looks unexpected.
func PlanGrow(mbr []byte, diskID uint32, diskSectors uint64) (GrowPlan, error) {
	if len(mbr) < 512 || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return GrowPlan{}, errors.New("no MBR partition table")
	}
	if id := binary.LittleEndian.Uint32(mbr[440:]); id != diskID {
		return GrowPlan{}, fmt.Errorf("disk signature %08x, not the boot disk's %08x", id, diskID)
	}
	parts := mbrParts(mbr)
	wantTypes := [4][]byte{{0x0b, 0x0c}, {0x83}, {0x83}, {0x83}} // FAT32, then Linux
	var end uint64
	for i, p := range parts {
		ok := false
		for _, t := range wantTypes[i] {
			ok = ok || p.typ == t
		}
		if !ok {
			return GrowPlan{}, fmt.Errorf("partition %d has type %#02x, not Postroom's layout", i+1, p.typ)
		}
		if p.sectors == 0 || p.start == 0 || p.start < end {
			return GrowPlan{}, fmt.Errorf("partition %d is empty or overlaps the one before", i+1)
		}
		end = p.start + p.sectors
	}
	if end > diskSectors {
		return GrowPlan{}, fmt.Errorf("partition 4 ends at sector %d, past the end of the disk (%d)", end, diskSectors)
	}
	p4 := parts[3]
	newEnd := min(diskSectors, mbrMaxSectors) &^ 7 // whole 4 KiB blocks
	if newEnd < end+growMinSectors {
		return GrowPlan{Start: p4.start, Sectors: p4.sectors, NewSectors: p4.sectors}, ErrNoGrow
	}
	return GrowPlan{Start: p4.start, Sectors: p4.sectors, NewSectors: newEnd - p4.start}, nil
}

// apply writes the plan's size into partition 4's entry of mbr. The CHS
// end becomes the "beyond CHS" marker, as for any partition this large.
func (g GrowPlan) apply(mbr []byte) {
	e := mbr[446+16*3:]
	e[5], e[6], e[7] = 0xfe, 0xff, 0xff
	binary.LittleEndian.PutUint32(e[12:], uint32(g.NewSectors))
}

// sectorFile is the boot disk, or a file standing in for it in a test.
type sectorFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// growMBR reads the first sector of disk (diskSectors long, signature
// diskID), plans partition 4's growth, and writes the changed sector back
// and syncs it. The error is PlanGrow's (ErrNoGrow with the plan when
// there is nothing to do) or the disk's; nothing is written unless the plan
// is sound. Only partition 4's CHS end and size change: the boot code, the
// signature and the other entries are written back as they were read.
func growMBR(disk sectorFile, diskID uint32, diskSectors uint64) (GrowPlan, error) {
	mbr := make([]byte, 512)
	if _, err := disk.ReadAt(mbr, 0); err != nil {
		return GrowPlan{}, fmt.Errorf("read the partition table: %w", err)
	}
	plan, err := PlanGrow(mbr, diskID, diskSectors)
	if err != nil {
		return plan, err
	}
	plan.apply(mbr)
	if _, err := disk.WriteAt(mbr, 0); err != nil {
		return GrowPlan{}, fmt.Errorf("write the partition table: %w", err)
	}
	// The new entry must be on the card before the kernel or the file
	// system is told: a power cut after this leaves a partition bigger than
	// its file system, which the next start grows.
	if err := disk.Sync(); err != nil {
		return GrowPlan{}, fmt.Errorf("write the partition table: %w", err)
	}
	return plan, nil
}

// ext4Blocks reads an ext4 superblock (the 1024 bytes at offset 1024 of
// the file system): its size in blocks, and the block size.
func ext4Blocks(sb []byte) (blocks uint64, blockSize uint64, err error) {
	if len(sb) < 0x158 || binary.LittleEndian.Uint16(sb[0x38:]) != 0xef53 {
		return 0, 0, errors.New("not an ext4 superblock")
	}
	blocks = uint64(binary.LittleEndian.Uint32(sb[0x04:]))
	if binary.LittleEndian.Uint32(sb[0x60:])&0x80 != 0 { // INCOMPAT_64BIT
		blocks |= uint64(binary.LittleEndian.Uint32(sb[0x150:])) << 32
	}
	logSize := binary.LittleEndian.Uint32(sb[0x18:])
	if logSize > 6 {
		return 0, 0, fmt.Errorf("ext4 block size 2^%d", 10+logSize)
	}
	return blocks, 1024 << logSize, nil
}
