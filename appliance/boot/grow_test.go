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

// TestGrowMBRFile rewrites the table of a disk file the way the init
// rewrites the card's: only partition 4's size and CHS end may change, the
// boot code, signature, other entries and the sectors after stay byte for
// byte; a table that is not the image's own, or a card with no room worth
// growing into, leaves the file exactly as it was.
func TestGrowMBRFile(t *testing.T) {
	const id = 0x50727231
	const mib = 2048 // sectors
	image := [4]mbrPart{{0x0c, 8192, 320 * mib}, {0x83, 8192 + 320*mib, 256 * mib}, {0x83, 8192 + 576*mib, 256 * mib}, {0x83, 8192 + 832*mib, 1024 * mib}}
	imageEnd := uint64(8192 + 1856*mib)
	// sector is a boot sector as the image writer makes it, with boot code,
	// an active first partition and CHS fields, so a rewrite that rebuilt
	// the sector from the entries alone would show.
	sector := func(parts [4]mbrPart) []byte {
		mbr := testMBR(id, parts)
		for i := range 440 {
			mbr[i] = byte(i*7 + 3)
		}
		mbr[444], mbr[445] = 0x5a, 0xa5
		mbr[446] = 0x80
		for i := range 4 {
			e := mbr[446+16*i:]
			e[1], e[2], e[3] = byte(i+1), 0x21, 0x04
			e[5], e[6], e[7] = 0x3f, byte(0xa0+i), 0x10
		}
		return mbr
	}
	with := func(f func(p *[4]mbrPart)) [4]mbrPart { p := image; f(&p); return p }
	gpt := [4]mbrPart{{0xee, 1, 62333951}}
	cases := []struct {
		name  string
		mbr   []byte
		disk  uint64 // sectors
		want  uint64 // p4's new size in sectors; 0: the file stays as it was
		err   error  // want errors.Is
		about string // or an error saying this
	}{
		{"a 32 GB card", sector(image), 62333952, 62333952 - image[3].start, nil, ""},
		{"already the whole card", sector(with(func(p *[4]mbrPart) { p[3].sectors = 62333952 - p[3].start })), 62333952, 0, ErrNoGrow, ""},
		{"the image's own size", sector(image), imageEnd, 0, ErrNoGrow, ""},
		{"a gap of 15 MiB", sector(image), imageEnd + 15*mib, 0, ErrNoGrow, ""},
		{"p4 not the last", sector(with(func(p *[4]mbrPart) { p[2].start, p[3].start = p[3].start, p[2].start+256*mib })), 62333952, 0, nil, "overlaps"},
		{"a GPT protective MBR", sector(gpt), 62333952, 0, nil, "type 0xee"},
		{"p4 of another type", sector(with(func(p *[4]mbrPart) { p[3].typ = 0x8e })), 62333952, 0, nil, "type 0x8e"},
		{"another disk", func() []byte { m := sector(image); m[440] ^= 1; return m }(), 62333952, 0, nil, "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "card")
			after := make([]byte, 4096) // what follows the MBR: the gap before p1
			for i := range after {
				after[i] = byte(i * 13)
			}
			before := append(append([]byte(nil), c.mbr...), after...)
			if err := os.WriteFile(path, before, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := growMBR(f, id, c.disk)
			f.Close()
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			switch {
			case c.about != "" && (err == nil || !strings.Contains(err.Error(), c.about)):
				t.Fatalf("got %+v, %v; want an error about %q", plan, err, c.about)
			case c.err != nil && !errors.Is(err, c.err):
				t.Fatalf("got %+v, %v; want %v", plan, err, c.err)
			case c.want != 0 && (err != nil || plan.NewSectors != c.want):
				t.Fatalf("got %+v, %v; want p4 of %d sectors", plan, err, c.want)
			}
			want := before
			if c.want != 0 {
				want = append([]byte(nil), before...)
				e := want[446+16*3:]
				e[5], e[6], e[7] = 0xfe, 0xff, 0xff
				binary.LittleEndian.PutUint32(e[12:], uint32(c.want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("byte %d of the file is %#02x, want %#02x (len %d, want %d)", i, got[i], want[i], len(got), len(want))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("the file has %d bytes, want %d", len(got), len(want))
			}
			if c.want == 0 {
				return
			}
			// The next start (or one after a power cut) finds nothing to do
			// in the table, and the plan still names the full partition,
			// which the file system is then grown to.
			f, err = os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			again, err := growMBR(f, id, c.disk)
			if !errors.Is(err, ErrNoGrow) || again.Sectors != c.want {
				t.Errorf("the next start: %+v, %v; want ErrNoGrow with %d sectors", again, err, c.want)
			}
		})
	}
}
