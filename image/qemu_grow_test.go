package sdimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBootGrowsData boots a copy of the test image on a disk 96 MiB bigger
// than the image, as when the image is written to a bigger SD card: the
// init must extend the data partition to the end of the disk in the MBR,
// grow the mounted ext4 to fill it, and the appliance must run on it.
// The host then reads the new table and the file system's size back, and
// e2fsck finds the grown file system clean. A second start plays a power
// cut between the table's write and the file system's growth.
//
// To measure a first start on a real card's size, name the room after the
// image in MiB; the test then builds an image whose data partition is the
// real one's (DefaultLayout, 1 GiB), and the console lines' times show how
// long the growth took:
//
//	POSTROOM_GROW_MIB=30000 go test -run TestBootGrowsData -v ./image
func TestBootGrowsData(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine")
	}
	extra, layout, bound := int64(96), testLayout, 3*time.Minute
	img, o := "", Options{}
	if s := os.Getenv("POSTROOM_GROW_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 16 {
			t.Fatalf("POSTROOM_GROW_MIB=%q: want MiB, at least 16", s)
		}
		extra, layout.DataMiB, bound = n, DefaultLayout.DataMiB, 15*time.Minute
		img = filepath.Join(t.TempDir(), "postroom.img")
		o = testOptions(t, img)
		o.Layout = layout
		buildImage(t, o)
	} else {
		img, o = sharedImage(t)
	}
	big := filepath.Join(t.TempDir(), "big.img")
	copySparse(t, img, big)
	fi, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, fi.Size()+extra<<20); err != nil {
		t.Fatal(err)
	}
	spans, _, _ := layout.spans()
	data := spans[PartData-1]
	wantSize := (fi.Size()+extra<<20)&^4095 - data.start
	ctx, cancel := context.WithTimeout(context.Background(), bound)
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
	checkGrownFS(t, big, data.start, wantSize)
	if extra != 96 {
		return // a measurement
	}

	// The power goes between the table's write and the file system's
	// growth: here, on a card 64 MiB bigger again whose p4 entry already
	// reaches the end, as the init writes it. The next start must write no
	// table, grow the file system to the partition, and find the mail.
	f.Close()
	if err := os.Truncate(big, fi.Size()+(extra+64)<<20); err != nil {
		t.Fatal(err)
	}
	cutSize := (fi.Size()+(extra+64)<<20)&^4095 - data.start
	var entry [4]byte
	binary.LittleEndian.PutUint32(entry[:], uint32(cutSize/512))
	if err := writeAt(big, entry[:], 446+16*3+12); err != nil {
		t.Fatal(err)
	}
	v = startVMWith(t, ctx, big, o.KernelDir, o.DiskID, PartRootA, "", false)
	v.waitForWithin(t, 2*time.Minute,
		"postroom-init: data disk /dev/vda4 (SD card) mounted on /data",
		fmt.Sprintf("postroom-init: data file system grown from %d to %d MiB", wantSize>>20, cutSize>>20),
		"fake-appliance: restarted after a crash",
	)
	v.cmd.Process.Kill()
	v.cmd.Wait()
	if strings.Contains(v.tail(1<<20), "data partition grown") {
		t.Errorf("the start after the power cut wrote the table again:\n%s", v.tail(60))
	}
	checkGrownFS(t, big, data.start, cutSize)
}

// writeAt writes b at offset off of the file at path.
func writeAt(path string, b []byte, off int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkGrownFS runs e2fsck on a copy of the data partition (size bytes at
// start of img). The machine was stopped as by a power cut, so the journal
// is replayed first, as the kernel would at the next mount (on a copy:
// e2fsck cannot reopen an offset into a file after replaying); then the
// read-only check must find nothing to fix.
func checkGrownFS(t *testing.T, img string, start, size int64) {
	t.Helper()
	prog, err := exec.LookPath("e2fsck")
	if err != nil {
		if prog, err = exec.LookPath("/sbin/e2fsck"); err != nil {
			t.Skip("no e2fsck (make deps installs e2fsprogs)")
		}
	}
	part := filepath.Join(t.TempDir(), "p4")
	copySpanSparse(t, img, part, start, size)
	// Exit 0 or 1: nothing to replay, or the journal replayed.
	out, err := exec.Command(prog, "-y", "-E", "journal_only", part).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() > 1) {
		t.Fatalf("e2fsck -E journal_only: %v\n%s", err, out)
	}
	out, err = exec.Command(prog, "-f", "-n", part).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn on the grown data partition: %v\n%s", err, out)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	t.Logf("e2fsck -fn: %s", lines[len(lines)-1])
}
