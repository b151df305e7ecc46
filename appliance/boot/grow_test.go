package boot

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testMBR is a boot sector with signature id and the four entries.
func testMBR(id uint32, parts [4]mbrPart) []byte {
	mbr := make([]byte, 512)
	binary.LittleEndian.PutUint32(mbr[440:], id)
	for i, p := range parts {
		e := mbr[446+16*i:]
		e[4] = p.typ
		binary.LittleEndian.PutUint32(e[8:], uint32(p.start))
		binary.LittleEndian.PutUint32(e[12:], uint32(p.sectors))
	}
	mbr[510], mbr[511] = 0x55, 0xaa
	return mbr
}

// TestPlanGrow: the data partition grows to the end of a bigger card (in
// whole 4 KiB blocks, at most 2 TiB), not for a few MiB, and never when
// the table is not the image's own layout.
func TestPlanGrow(t *testing.T) {
	const id = 0x50727231
	const mib = 2048 // sectors
	image := [4]mbrPart{{0x0c, 8192, 320 * mib}, {0x83, 8192 + 320*mib, 256 * mib}, {0x83, 8192 + 576*mib, 256 * mib}, {0x83, 8192 + 832*mib, 1024 * mib}}
	imageEnd := uint64(8192 + 1856*mib)
	with := func(f func(p *[4]mbrPart)) [4]mbrPart { p := image; f(&p); return p }
	cases := []struct {
		name    string
		mbr     []byte
		disk    uint64
		want    uint64 // new size of p4, sectors
		err     error
		errText string
	}{
		{"a 32 GB card", testMBR(id, image), 62333952, 62333952 - image[3].start, nil, ""},
		{"an odd size: whole 4 KiB blocks", testMBR(id, image), imageEnd + 100*mib + 5, 1124 * mib, nil, ""},
		{"a 4 TB disk: the MBR's 2 TiB", testMBR(id, image), 8 << 30, (1<<32 - 8) - image[3].start, nil, ""},
		{"the image's own size", testMBR(id, image), imageEnd, 0, ErrNoGrow, ""},
		{"8 MiB more", testMBR(id, image), imageEnd + 8*mib, 0, ErrNoGrow, ""},
		{"another disk's signature", testMBR(0x12345678, image), 62333952, 0, nil, "signature"},
		{"no 55 AA", testMBR(id, image)[:510], 62333952, 0, nil, "no MBR"},
		{"p4 not Linux", testMBR(id, with(func(p *[4]mbrPart) { p[3].typ = 0x07 })), 62333952, 0, nil, "type 0x07"},
		{"an extended partition", testMBR(id, with(func(p *[4]mbrPart) { p[2].typ = 0x05 })), 62333952, 0, nil, "type 0x05"},
		{"p4 before p3", testMBR(id, with(func(p *[4]mbrPart) { p[3].start = p[2].start })), 62333952, 0, nil, "overlaps"},
		{"no p4", testMBR(id, with(func(p *[4]mbrPart) { p[3] = mbrPart{0x83, 0, 0} })), 62333952, 0, nil, "empty"},
		{"a table past the disk", testMBR(id, image), imageEnd - 1, 0, nil, "past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := PlanGrow(c.mbr, id, c.disk)
			switch {
			case c.errText != "":
				if err == nil || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("got %+v, %v; want an error with %q", plan, err, c.errText)
				}
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Fatalf("got %+v, %v; want %v", plan, err, c.err)
				}
			default:
				if err != nil || plan.NewSectors != c.want || plan.Start != image[3].start || plan.Sectors != image[3].sectors {
					t.Fatalf("got %+v, %v; want a new size of %d sectors", plan, err, c.want)
				}
				mbr := append([]byte(nil), c.mbr...)
				plan.apply(mbr)
				after, before := mbrParts(mbr), mbrParts(c.mbr)
				if after[3].sectors != c.want || after[3].start != image[3].start || [3]mbrPart(after[:3]) != [3]mbrPart(before[:3]) ||
					string(mbr[:446]) != string(c.mbr[:446]) || string(mbr[510:]) != string(c.mbr[510:]) {
					t.Errorf("the table after: %+v", after)
				}
				if _, err := PlanGrow(mbr, id, c.disk); !errors.Is(err, ErrNoGrow) {
					t.Errorf("planned again after growing: %v", err)
				}
			}
		})
	}
}

// TestExt4Blocks reads the size of a file system made by mke2fs.
func TestExt4Blocks(t *testing.T) {
	prog, err := exec.LookPath("mke2fs")
	if err != nil {
		if prog, err = exec.LookPath("/sbin/mke2fs"); err != nil {
			t.Skip("no mke2fs (make deps installs e2fsprogs)")
		}
	}
	img := filepath.Join(t.TempDir(), "fs")
	if out, err := exec.Command(prog, "-q", "-F", "-t", "ext4", "-b", "4096", img, "40M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	blocks, size, err := ext4Blocks(b[1024:2048])
	if err != nil || blocks != 10240 || size != 4096 {
		t.Errorf("got %d blocks of %d, %v; want 10240 of 4096", blocks, size, err)
	}
	if _, _, err := ext4Blocks(make([]byte, 1024)); err == nil {
		t.Error("zeros read as ext4")
	}
}
