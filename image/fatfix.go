package sdimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// fixFAT32 corrects two things go-diskfs v1.9.4 writes in a FAT32 that
// fsck.fat reports (and that strict firmware could trip on):
//
//   - the ".." entry of a folder in the root points at the root's cluster;
//     FAT requires 0 there (Microsoft's FAT specification, "FAT Directory
//     Structure": ".." of a folder whose parent is the root is cluster 0);
//   - the FSInfo sector's free cluster count is left "unknown" (0xFFFFFFFF);
//     it is set to the count of free entries in the table.
//
// The file system starts at byte start of rw.
func fixFAT32(rw interface {
	io.ReaderAt
	io.WriterAt
}, start int64) error {
	bs := make([]byte, 512)
	if _, err := rw.ReadAt(bs, start); err != nil {
		return fmt.Errorf("boot sector: %w", err)
	}
	var (
		bps        = int64(binary.LittleEndian.Uint16(bs[11:13]))
		spc        = int64(bs[13])
		reserved   = int64(binary.LittleEndian.Uint16(bs[14:16]))
		fats       = int64(bs[16])
		total      = int64(binary.LittleEndian.Uint32(bs[32:36]))
		fatSectors = int64(binary.LittleEndian.Uint32(bs[36:40]))
		rootClus   = binary.LittleEndian.Uint32(bs[44:48])
		fsinfo     = int64(binary.LittleEndian.Uint16(bs[48:50]))
		backup     = int64(binary.LittleEndian.Uint16(bs[50:52]))
	)
	if bps == 0 || spc == 0 || fats == 0 || bs[510] != 0x55 || bs[511] != 0xaa {
		return errors.New("boot sector: not a FAT32 file system")
	}
	fat := make([]byte, fatSectors*bps)
	if _, err := rw.ReadAt(fat, start+reserved*bps); err != nil {
		return fmt.Errorf("allocation table: %w", err)
	}
	dataStart := start + (reserved+fats*fatSectors)*bps
	clusterBytes := spc * bps
	clusters := (total - reserved - fats*fatSectors) / spc
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fat[4*c:]) & 0x0fffffff }
	offset := func(c uint32) int64 { return dataStart + int64(c-2)*clusterBytes }

	// Walk the root folder's chain of clusters for sub-folders.
	var subdirs []uint32
	buf := make([]byte, clusterBytes)
	for c, n := rootClus, 0; c >= 2 && c < 0x0ffffff8; c, n = next(c), n+1 {
		if n > int(clusters) {
			return errors.New("root folder: cluster chain loops")
		}
		if _, err := rw.ReadAt(buf, offset(c)); err != nil {
			return fmt.Errorf("root folder: %w", err)
		}
		for e := 0; e+32 <= len(buf); e += 32 {
			ent := buf[e : e+32]
			attr := ent[11]
			if ent[0] == 0 {
				break
			}
			if ent[0] == 0xe5 || attr == 0x0f || attr&0x10 == 0 || ent[0] == '.' {
				continue
			}
			subdirs = append(subdirs, uint32(binary.LittleEndian.Uint16(ent[20:22]))<<16|uint32(binary.LittleEndian.Uint16(ent[26:28])))
		}
	}
	for _, c := range subdirs {
		dotdot := make([]byte, 32)
		if _, err := rw.ReadAt(dotdot, offset(c)+32); err != nil {
			return err
		}
		if string(dotdot[:11]) != "..         " {
			return fmt.Errorf("folder at cluster %d: second entry is not ..", c)
		}
		clear(dotdot[20:22])
		clear(dotdot[26:28])
		if _, err := rw.WriteAt(dotdot, offset(c)+32); err != nil {
			return err
		}
	}

	var free uint32
	for c := int64(2); c < clusters+2; c++ {
		if next(uint32(c)) == 0 {
			free++
		}
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], free)
	// FSInfo's free count is at byte 488, in the FSInfo sector and in its
	// copy beside the backup boot sector (when there is one: "RRaA" first).
	for _, sector := range []int64{fsinfo, backup + fsinfo} {
		sig := make([]byte, 4)
		if _, err := rw.ReadAt(sig, start+sector*bps); err != nil {
			return fmt.Errorf("fsinfo: %w", err)
		}
		if string(sig) != "RRaA" {
			continue
		}
		if _, err := rw.WriteAt(b[:], start+sector*bps+488); err != nil {
			return fmt.Errorf("fsinfo: %w", err)
		}
	}
	return nil
}
