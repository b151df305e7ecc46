package usbdisk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Probe reads what a device (a partition, or a whole disk) holds from its
// first sectors, as blkid would: the file system's type, label and UUID.
// Type is "" when it holds none the box knows (or nothing at all).
func Probe(path string) FS {
	f := FS{Device: path}
	head := make([]byte, 4096)
	if !readAt(path, head, 0) {
		return f
	}
	switch {
	case binary.LittleEndian.Uint16(head[1024+56:]) == 0xef53:
		probeExt(&f, head[1024:2048])
	case bytes.Equal(head[3:11], []byte("EXFAT   ")):
		probeExFAT(&f, path, head)
	case bytes.Equal(head[3:11], []byte("NTFS    ")):
		f.Type = "ntfs"
	case head[510] == 0x55 && head[511] == 0xaa && bytes.Equal(head[82:87], []byte("FAT32")):
		f.Type = "vfat"
		f.UUID = fatSerial(head[67:71])
		f.Label = fatLabel(head[71:82])
	case head[510] == 0x55 && head[511] == 0xaa && (bytes.Equal(head[54:59], []byte("FAT12")) || bytes.Equal(head[54:59], []byte("FAT16"))):
		f.Type = "vfat"
		f.UUID = fatSerial(head[39:43])
		f.Label = fatLabel(head[43:54])
	}
	return f
}

// probeExt reads an ext2/3/4 superblock: features decide the name the
// way blkid does (a journal makes ext3; extents, 64-bit or flex_bg make
// ext4).
func probeExt(f *FS, sb []byte) {
	compat := binary.LittleEndian.Uint32(sb[92:])
	incompat := binary.LittleEndian.Uint32(sb[96:])
	switch {
	case incompat&(0x40|0x80|0x200) != 0:
		f.Type = "ext4"
	case compat&0x4 != 0:
		f.Type = "ext3"
	default:
		f.Type = "ext2"
	}
	u := sb[104:120]
	f.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	f.Label = cString(sb[120:136])
}

// fatSerial is a FAT volume's serial number as blkid writes it: "1234-ABCD".
func fatSerial(b []byte) string {
	v := binary.LittleEndian.Uint32(b)
	return fmt.Sprintf("%04X-%04X", v>>16, v&0xffff)
}

// fatLabel is the boot sector's label; "NO NAME" is no label.
func fatLabel(b []byte) string {
	l := strings.TrimRight(cString(b), " ")
	if l == "NO NAME" {
		return ""
	}
	return l
}

// probeExFAT reads an exFAT boot sector, and its label from the volume
// label entry (type 0x83) of the root directory's first cluster.
func probeExFAT(f *FS, path string, boot []byte) {
	f.Type = "exfat"
	f.UUID = fatSerial(boot[100:104])
	sectorShift, clusterShift := boot[108], boot[109]
	if sectorShift < 9 || sectorShift > 12 || clusterShift > 25-sectorShift {
		return
	}
	heap := int64(binary.LittleEndian.Uint32(boot[88:]))
	root := int64(binary.LittleEndian.Uint32(boot[96:]))
	if root < 2 {
		return
	}
	clusterBytes := int64(1) << (sectorShift + clusterShift)
	dir := make([]byte, min(clusterBytes, 64<<10))
	if !readAt(path, dir, heap<<sectorShift+(root-2)*clusterBytes) {
		return
	}
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			return // the end of the directory
		}
		if e[0] == 0x83 {
			n := min(int(e[1]), 11)
			u := make([]uint16, n)
			for j := range u {
				u[j] = binary.LittleEndian.Uint16(e[2+2*j:])
			}
			f.Label = string(utf16.Decode(u))
			return
		}
	}
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
