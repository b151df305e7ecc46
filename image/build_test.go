package sdimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// testLayout keeps test images small: the boot partition cannot shrink
// (the kernel alone is 46 MB, and see DefaultLayout), the others can.
var testLayout = Layout{BootMiB: 320, RootMiB: 16, DataMiB: 32}

const testDiskID = 0x7e570001

// testTime is a fixed instant far from any test run's date.
var testTime = time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC)

// moduleDirs finds the pinned firmware and kernel in the module cache,
// downloading them if needed (make deps does that too).
func moduleDirs(t testing.TB) (firmware, kernel string) {
	t.Helper()
	ctx := context.Background()
	fw, err := ModuleDir(ctx, "go", FirmwareModule)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ModuleDir(ctx, "go", KernelModule)
	if err != nil {
		t.Fatal(err)
	}
	return fw, k
}

// checkedBootFiles are files of p1 the tests compare with the modules': the
// kernel, a DTB for each supported board, an overlay, and the firmware of
// the Pi 3 (and Zero 2 W) and Pi 4. (The Pi 5 boots from its EEPROM.)
var checkedBootFiles = []string{
	"vmlinuz",
	"bcm2710-rpi-3-b.dtb", "bcm2710-rpi-3-b-plus.dtb", "bcm2710-rpi-zero-2-w.dtb",
	"bcm2711-rpi-4-b.dtb", "bcm2712-rpi-5-b.dtb",
	"overlays/i2c-rtc.dtbo",
	"bootcode.bin", "start.elf", "fixup.dat", "start_cd.elf", "fixup_cd.dat",
	"start4.elf", "fixup4.dat", "start4cd.elf", "fixup4cd.dat",
}

func moduleOf(o Options, name string) string {
	if strings.HasPrefix(name, "start") || strings.HasPrefix(name, "fixup") || name == "bootcode.bin" {
		return o.FirmwareDir
	}
	return o.KernelDir
}

// testOptions describes the test image: the real init and a stand-in
// appliance (so TestBootUnderQemu can boot it), and a file of one word
// repeated, which compresses to almost nothing.
func testOptions(t testing.TB, out string) Options {
	fw, k := moduleDirs(t)
	bins := testBinaries(t)
	return Options{
		Output:      out,
		DiskID:      testDiskID,
		Time:        testTime,
		Layout:      testLayout,
		FirmwareDir: fw,
		KernelDir:   k,
		Root: []File{
			{Path: "init", Mode: 0o755, Src: filepath.Join(bins, "init")},
			{Path: "bin/postroom", Mode: 0o755, Src: filepath.Join(bins, "fakeappliance")},
			{Path: "etc/repeated", Data: bytes.Repeat([]byte("postroom "), 50000)},
		},
	}
}

// binaries are the arm64 programs of the test image, built once per run.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

func testBinaries(t testing.TB) string {
	t.Helper()
	binaries.once.Do(func() {
		if binaries.dir, binaries.err = os.MkdirTemp("", "sdimage-bins"); binaries.err != nil {
			return
		}
		for name, pkg := range map[string]string{"init": "../cmd/postroom-init", "fakeappliance": "./testdata/fakeappliance"} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(binaries.dir, name), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %s for arm64: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.dir
}

// shared is the image TestBuild checks and TestBuildReproducible rebuilds,
// built once per test run: each build takes seconds.
var shared struct {
	once sync.Once
	dir  string
	img  string
	opts Options
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{shared.dir, binaries.dir, boxImage.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

func sharedImage(t testing.TB) (string, Options) {
	t.Helper()
	o := testOptions(t, "") // outside the Once: it may end this test with t.Fatal
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "sdimage-test"); shared.err != nil {
			return
		}
		shared.img = filepath.Join(shared.dir, "postroom.img")
		o.Output = shared.img
		shared.opts = o
		shared.err = Build(context.Background(), o)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.img, shared.opts
}

func buildImage(t *testing.T, o Options) {
	t.Helper()
	if err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestBuild builds one image and reads every partition back with go-diskfs,
// and with Debian's checkers when they are installed (make deps).
func TestBuild(t *testing.T) {
	img, o := sharedImage(t)
	if _, err := os.Stat(img + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	spans, size, _ := testLayout.spans()
	if d.Size != size {
		t.Errorf("image is %d bytes, want %d", d.Size, size)
	}

	t.Run("partition table", func(t *testing.T) {
		table, err := d.GetPartitionTable()
		if err != nil {
			t.Fatal(err)
		}
		mt, ok := table.(*mbr.Table)
		if !ok {
			t.Fatalf("partition table is %T, want MBR", table)
		}
		wantTypes := []mbr.Type{mbr.Fat32LBA, mbr.Linux, mbr.Linux, mbr.Linux}
		if len(mt.Partitions) != 4 {
			t.Fatalf("%d partitions, want 4", len(mt.Partitions))
		}
		for i, p := range mt.Partitions {
			if p.Type != wantTypes[i] || int64(p.Start)*512 != spans[i].start || int64(p.Size)*512 != spans[i].size {
				t.Errorf("p%d: type %#x start %d size %d sectors, want %#x %d %d", i+1, p.Type, p.Start, p.Size,
					wantTypes[i], spans[i].start/512, spans[i].size/512)
			}
		}
		if got := table.UUID(); got != "7e570001" {
			t.Errorf("disk identifier %q, want 7e570001", got)
		}
		if got := mt.Partitions[1].UUID(); got != PartUUID(testDiskID, 2) {
			t.Errorf("root A PARTUUID %q, want %q", got, PartUUID(testDiskID, 2))
		}
	})

	t.Run("boot files", func(t *testing.T) {
		fat, err := d.GetFilesystem(PartBoot)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(fat.Label()); got != BootLabel {
			t.Errorf("boot label %q, want %q", got, BootLabel)
		}
		config := readString(t, fat, "/config.txt")
		for _, line := range []string{"arm_64bit=1", "dtparam=i2c_arm=on", "kernel=vmlinuz"} {
			if !hasLine(config, line) {
				t.Errorf("config.txt has no line %q:\n%s", line, config)
			}
		}
		cmdline := readString(t, fat, "/cmdline.txt")
		if !strings.Contains(cmdline, "root=PARTUUID=7e570001-02 ") || strings.Count(cmdline, "\n") != 1 {
			t.Errorf("cmdline.txt = %q: want one line with root=PARTUUID=7e570001-02", cmdline)
		}
		// Every file the boards need, as in the module: the size, and the
		// bytes of the first MiB (go-diskfs reads slowly, above all under
		// -race; mcopy compares whole files in "debian checkers").
		for _, name := range checkedBootFiles {
			want, err := os.ReadFile(filepath.Join(moduleOf(o, name), name))
			if err != nil {
				t.Fatal(err)
			}
			f, err := fat.Open("/" + name)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(io.LimitReader(f, 1<<20))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != int64(len(want)) {
				t.Errorf("%s: size %d, want %d", name, fi.Size(), len(want))
			}
			// go-diskfs v1.9.4's File.Read may go on past the end of a file
			// to the end of its last cluster (mcopy reads the right size).
			want = want[:min(len(want), 1<<20)]
			if len(got) > len(want) {
				got = got[:len(want)]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: bytes differ from the module's", name)
			}
			// FAT keeps a wall-clock time without a zone: Build writes UTC.
			const wall = "2006-01-02 15:04:05"
			if got, want := fi.ModTime().Format(wall), testTime.Format(wall); got != want {
				t.Errorf("%s: time %s, want %s", name, got, want)
			}
		}
	})

	t.Run("root", func(t *testing.T) {
		// go-diskfs's GetFilesystem tries squashfs with the 512-byte sector
		// as its block size and fails: read it as Build wrote it.
		sq, err := squashfs.Read(d.Backend, spans[1].size, spans[1].start, squashfsBlock)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range o.Root {
			got, err := sq.ReadFile(f.Path) // squashfs paths are relative
			if err != nil {
				t.Errorf("%s: %v", f.Path, err)
				continue
			}
			want := f.Data
			if f.Src != "" {
				if want, err = os.ReadFile(f.Src); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: content differs", f.Path)
			}
			fi, err := sq.Stat(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			wantMode := f.Mode
			if wantMode == 0 {
				wantMode = 0o644
			}
			if fi.Mode().Perm() != wantMode || !fi.ModTime().Equal(testTime) {
				t.Errorf("%s: mode %v time %v, want %v %v", f.Path, fi.Mode(), fi.ModTime(), wantMode, testTime)
			}
		}
		for _, m := range MountPoints {
			fi, err := sq.Stat(m)
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
				t.Errorf("mount point /%s: %v %v", m, fi, err)
			}
		}
		// Compressed, the file system is much smaller than its files: the
		// programs shrink by half and etc/repeated to almost nothing.
		var raw int64
		for _, f := range o.Root {
			raw += int64(len(f.Data))
			if f.Src != "" {
				fi, err := os.Stat(f.Src)
				if err != nil {
					t.Fatal(err)
				}
				raw += fi.Size()
			}
		}
		img, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		sb := make([]byte, 96)
		if _, err := img.ReadAt(sb, spans[1].start); err != nil {
			t.Fatal(err)
		}
		if used := int64(binary.LittleEndian.Uint64(sb[40:48])); used <= 0 || used > raw*7/10 {
			t.Errorf("squashfs uses %d bytes for %d bytes of files: not compressed?", used, raw)
		}
	})

	t.Run("data", func(t *testing.T) {
		ext, err := d.GetFilesystem(PartData)
		if err != nil {
			t.Fatal(err)
		}
		if got := ext.Label(); got != DataLabel {
			t.Errorf("data label %q, want %q", got, DataLabel)
		}
		if _, err := ext.Stat("/lost+found"); err != nil {
			t.Errorf("no lost+found: %v", err)
		}
	})

	t.Run("debian checkers", func(t *testing.T) {
		checks := []struct {
			part int
			tool string
			args []string
		}{
			{PartBoot, "fsck.fat", []string{"-n"}},
			{PartRootA, "unsquashfs", []string{"-s"}},
			{PartData, "e2fsck", []string{"-fn"}},
		}
		for _, c := range checks {
			tool, err := exec.LookPath(c.tool)
			if err != nil {
				if tool, err = exec.LookPath("/usr/sbin/" + c.tool); err != nil {
					tool, err = exec.LookPath("/sbin/" + c.tool)
				}
			}
			if err != nil {
				t.Logf("%s not installed (make deps installs it): skipped", c.tool)
				continue
			}
			part := extract(t, img, c.part)
			out, err := exec.Command(tool, append(c.args, part)...).CombinedOutput()
			if err != nil {
				t.Errorf("%s on p%d: %v\n%s", c.tool, c.part, err, out)
			}
			if c.part == PartBoot {
				compareWithMtools(t, part, o)
			}
		}
	})
}

// TestBuildReproducible builds the same image a second time: the bytes
// must match. (That the times in it are Options.Time, not the clock's, is
// checked file by file in TestBuild.)
func TestBuildReproducible(t *testing.T) {
	img, o := sharedImage(t)
	o.Output = filepath.Join(t.TempDir(), "again.img")
	buildImage(t, o)
	if a, b := fileSum(t, img), fileSum(t, o.Output); a != b {
		t.Errorf("two builds of the same input differ: %x and %x", a, b)
	}
}

func TestBuildRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	good := testOptions(t, filepath.Join(dir, "x.img"))
	cases := []struct {
		name   string
		change func(*Options)
	}{
		{"zero disk id", func(o *Options) { o.DiskID = 0 }},
		{"no time", func(o *Options) { o.Time = time.Time{} }},
		{"odd size", func(o *Options) { o.Layout.DataMiB = 30 }},
		{"missing firmware", func(o *Options) { o.FirmwareDir = dir }},
		{"path outside the root", func(o *Options) { o.Root = append(o.Root, File{Path: "../etc/passwd"}) }},
		{"absolute path", func(o *Options) { o.Root = append(o.Root, File{Path: "/init2"}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := good
			o.Root = append([]File(nil), good.Root...)
			c.change(&o)
			if err := Build(context.Background(), o); err == nil {
				t.Fatal("Build succeeded")
			}
			if _, err := os.Stat(o.Output); !os.IsNotExist(err) {
				t.Errorf("image written despite the error: %v", err)
			}
			if _, err := os.Stat(o.Output + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("temporary file left: %v", err)
			}
		})
	}
}

func TestPartUUIDAndDerivedUUID(t *testing.T) {
	if got := PartUUID(0x0000abcd, 2); got != "0000abcd-02" {
		t.Errorf("PartUUID = %q", got)
	}
	a, b := derivedUUID(1, "data"), derivedUUID(1, "data hash seed")
	if a == b || a != derivedUUID(1, "data") || a == derivedUUID(2, "data") {
		t.Errorf("derived UUIDs not distinct per purpose and disk, or not stable: %s %s", a, b)
	}
	if len(a) != 36 || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("derived UUID %s is not a version 4, variant 1 UUID", a)
	}
}

// compareWithMtools copies whole files out of the FAT with one mcopy.
func compareWithMtools(t *testing.T, part string, o Options) {
	t.Helper()
	if _, err := exec.LookPath("mcopy"); err != nil {
		t.Log("mtools not installed (make deps installs it): whole-file comparison skipped")
		return
	}
	dir := t.TempDir()
	args := []string{"-n", "-i", part}
	for _, name := range checkedBootFiles {
		args = append(args, "::"+name)
	}
	if out, err := exec.Command("mcopy", append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	for _, name := range checkedBootFiles {
		want, err := os.ReadFile(filepath.Join(moduleOf(o, name), name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			t.Errorf("mcopy %s: %v", name, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: mcopy read %d bytes that differ from the module's %d", name, len(got), len(want))
		}
	}
}

func readString(t *testing.T, fsys fs.ReadFileFS, name string) string {
	t.Helper()
	b, err := fsys.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// zeros is compared with whole chunks: bytes.Equal runs at memory speed,
// even under -race, where a loop over the bytes would crawl.
var zeros = make([]byte, 1<<20)

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

// extract copies partition n into its own file for the Debian checkers
// (none of them takes an offset into a disk image).
func extract(t *testing.T, img string, n int) string {
	t.Helper()
	spans, _, _ := testLayout.spans()
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "part")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp := spans[n-1]
	// Copy sparsely: most of a fresh partition is zeros, and writing
	// hundreds of megabytes of them to the temp folder is the slow part.
	buf := make([]byte, 1<<20)
	for off := int64(0); off < sp.size; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), sp.size-off)]
		if _, err := in.ReadAt(chunk, sp.start+off); err != nil {
			t.Fatal(err)
		}
		if !allZero(chunk) {
			if _, err := f.WriteAt(chunk, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Truncate(sp.size); err != nil {
		t.Fatal(err)
	}
	return out
}
