package sdimage

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Partition numbers, as the kernel names them (/dev/mmcblk0p1 ...) and as
// PARTUUID suffixes (-01 ...).
const (
	PartBoot  = 1
	PartRootA = 2
	PartRootB = 3
	PartData  = 4
)

// DataLabel is the ext4 label of the data partition. The board's init looks
// for it, on a USB disk first and then on the SD card.
const DataLabel = "postroom-data"

// BootLabel is the FAT volume label of the boot partition.
const BootLabel = "POSTROOM"

// align is where p1 starts and what every partition size is a multiple of:
// 4 MiB matches the erase blocks of SD cards, as the Pi's own images do.
const align = 4 << 20

const sectorSize = 512

// Layout gives each partition's size in MiB; each must be a multiple of 4.
// The zero value is not useful: start from DefaultLayout.
type Layout struct {
	BootMiB int64 // FAT32: firmware, kernel and DTBs take about 75 MB (see DefaultLayout)
	RootMiB int64 // each of root A and root B: the compressed squashfs
	DataMiB int64 // ext4 for the mail store (a USB disk is the place for more)
}

// DefaultLayout leaves room for a kernel twice today's size on p1 and for
// roots several times today's (about 15 MB); the data partition is small
// so the image writes quickly: a box that needs room uses a USB disk.
//
// The boot partition is 320 MiB, not 256: go-diskfs gives a FAT32 of up
// to 260 MiB 512-byte clusters, whose 2 MB allocation table it rewrites on
// every file written (seconds per build); above that it takes 4 KiB
// clusters, and 320 MiB of them is still over FAT32's minimum of 65525.
var DefaultLayout = Layout{BootMiB: 320, RootMiB: 256, DataMiB: 1024}

// span is one partition's place on the disk, in bytes.
type span struct {
	start, size int64
}

// spans returns p1..p4 in order, and the size of the whole disk.
func (l Layout) spans() ([]span, int64, error) {
	sizes := []int64{l.BootMiB, l.RootMiB, l.RootMiB, l.DataMiB}
	out := make([]span, 0, len(sizes))
	at := int64(align)
	for i, mib := range sizes {
		if mib <= 0 || (mib<<20)%align != 0 {
			return nil, 0, fmt.Errorf("partition %d: size %d MiB is not a positive multiple of 4 MiB", i+1, mib)
		}
		out = append(out, span{start: at, size: mib << 20})
		at += mib << 20
	}
	return out, at, nil
}

// PartUUID is the PARTUUID the kernel gives partition n of a disk whose MBR
// signature is diskID: cmdline.txt names the root by it.
func PartUUID(diskID uint32, n int) string {
	return fmt.Sprintf("%08x-%02x", diskID, n)
}

// errNoDiskID: a zero signature makes the kernel invent nothing, but some
// tools treat 0 as "unset"; a fixed non-zero one keeps PARTUUIDs meaningful.
var errNoDiskID = errors.New("sdimage: DiskID must not be zero")

// derivedUUID turns the disk id and a purpose into an RFC 4122 version 4
// style UUID, so that identifiers a file system would draw at random are
// the same in every build of the same disk.
func derivedUUID(diskID uint32, purpose string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "postroom %08x %s", diskID, purpose))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
