package sdimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBootGrowsData boots a copy of the test image on a disk 96 MiB bigger
// than the image, as when the image is written to a bigger SD card: the
// init must extend the data partition to the end of the disk in the MBR,
// grow the mounted ext4 to fill it, and the appliance must run on it.
// The host then reads the new table and the file system's size back.
func TestBootGrowsData(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine")
	}
	img, o := sharedImage(t)
	big := filepath.Join(t.TempDir(), "big.img")
	copySparse(t, img, big)
	fi, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, fi.Size()+96<<20); err != nil {
		t.Fatal(err)
	}
	spans, _, _ := testLayout.spans()
	data := spans[PartData-1]
	wantSize := (fi.Size()+96<<20)&^4095 - data.start
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := startVMWith(t, ctx, big, o.KernelDir, o.DiskID, PartRootA, "", false)
	v.waitFor(t,
		fmt.Sprintf("postroom-init: data partition grown from %d to %d MiB", data.size>>20, wantSize>>20),
		"postroom-init: data disk /dev/vda4 (SD card) mounted on /data",
		fmt.Sprintf("postroom-init: data file system grown from %d to %d MiB", data.size>>20, wantSize>>20),
		"fake-appliance: restarted after a crash",
	)
	v.cmd.Process.Kill()
	v.cmd.Wait()

	f, err := os.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start, size, err := PartitionSpan(f, PartData)
	if err != nil || start != data.start || size != wantSize {
		t.Errorf("partition 4 after the boot: %d bytes at %d (%v), want %d at %d", size, start, err, wantSize, data.start)
	}
	for n := PartBoot; n < PartData; n++ {
		if s, l, _ := PartitionSpan(f, n); s != spans[n-1].start || l != spans[n-1].size {
			t.Errorf("partition %d moved: %d bytes at %d", n, l, s)
		}
	}
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, data.start+1024); err != nil {
		t.Fatal(err)
	}
	// s_blocks_count_lo and s_log_block_size (4 KiB blocks, under 16 TiB).
	blocks, logSize := binary.LittleEndian.Uint32(sb[4:]), binary.LittleEndian.Uint32(sb[24:])
	if got := int64(blocks) << (10 + logSize); got != wantSize {
		t.Errorf("the data file system has %d bytes, want %d", got, wantSize)
	}
}
