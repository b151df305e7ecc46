package sdimage

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"

	"postroom/appliance/update"
)

// Files the image's root carries for updates (cmd/mkimage writes them):
// the version of the root, and the public key updates must be signed with.
const (
	ReleasePath   = update.ReleaseFile   // etc/postroom/release.json
	PublicKeyPath = update.PublicKeyFile // etc/postroom/update.pub
)

// PartitionSpan reads partition n's start and size, in bytes, from the MBR
// of the image file f.
func PartitionSpan(f io.ReaderAt, n int) (start, size int64, err error) {
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return 0, 0, fmt.Errorf("sdimage: read the partition table: %w", err)
	}
	if n < 1 || n > 4 || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, 0, fmt.Errorf("sdimage: no partition %d in the MBR", n)
	}
	e := mbr[446+16*(n-1):]
	start = int64(binary.LittleEndian.Uint32(e[8:12])) * sectorSize
	size = int64(binary.LittleEndian.Uint32(e[12:16])) * sectorSize
	if size == 0 {
		return 0, 0, fmt.Errorf("sdimage: partition %d is empty", n)
	}
	return start, size, nil
}

// RootSquashfs returns the squashfs in root partition part of the image
// file f: the superblock's bytes_used (a little-endian uint64 at byte 40),
// rounded up to 4 KiB as mksquashfs pads it.
func RootSquashfs(f io.ReaderAt, part int) (*io.SectionReader, error) {
	start, size, err := PartitionSpan(f, part)
	if err != nil {
		return nil, err
	}
	sb := make([]byte, 96)
	if _, err := f.ReadAt(sb, start); err != nil {
		return nil, fmt.Errorf("sdimage: root superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return nil, fmt.Errorf("sdimage: partition %d holds no squashfs", part)
	}
	used := int64(binary.LittleEndian.Uint64(sb[40:48]))
	used = (used + 4095) &^ 4095
	if used <= 0 || used > size {
		return nil, fmt.Errorf("sdimage: partition %d: squashfs of %d bytes in %d", part, used, size)
	}
	return io.NewSectionReader(f, start, used), nil
}

// WriteUpdate writes a signed update file from a built image: root A's
// squashfs, and every file of the boot partition but cmdline.txt (the box
// keeps its own, which names the root it chose). m gives the version,
// serial and architecture.
func WriteUpdate(w io.Writer, img string, m update.Manifest, key ed25519.PrivateKey) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	root, err := RootSquashfs(f, PartRootA)
	if err != nil {
		return err
	}
	b, err := OpenBoot(img, false)
	if err != nil {
		return err
	}
	defer b.Close()
	names, err := b.files(".")
	if err != nil {
		return fmt.Errorf("sdimage: boot partition: %w", err)
	}
	var boot []update.Payload
	for _, name := range names {
		if strings.EqualFold(name, "cmdline.txt") {
			continue
		}
		// The boot files are small (the kernel is the largest, about
		// 10 MB): hold them in memory for the signing pass.
		data, err := b.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sdimage: boot partition: %s: %w", name, err)
		}
		// The kernel (about 45 MB, stored uncompressed) and the device
		// trees compress well; the firmware's files less so, but
		// compressing costs nothing at the box.
		boot = append(boot, update.Payload{Name: name, R: bytes.NewReader(data), Size: int64(len(data)), Gzip: true})
	}
	return update.Write(w, m, key, root, boot)
}

// ImageBoot is the boot partition (FAT32) of an image file, read and
// written with go-diskfs: the same operations the box does on its mounted
// /boot, for tests that run the A/B switch on an image without a loop
// device. It implements update.BootFS.
type ImageBoot struct {
	d     *disk.Disk
	fs    filesystem.FileSystem
	start int64
	rw    bool
}

// OpenBoot opens the boot partition of img; writable opens it for writing.
// Close must be called: it also corrects what go-diskfs writes wrongly
// (fixFAT32).
func OpenBoot(img string, writable bool) (*ImageBoot, error) {
	mode := diskfs.ReadOnly
	if writable {
		mode = diskfs.ReadWriteExclusive
	}
	d, err := diskfs.Open(img, diskfs.WithOpenMode(mode))
	if err != nil {
		return nil, fmt.Errorf("sdimage: open %s: %w", img, err)
	}
	fsys, err := d.GetFilesystem(PartBoot)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("sdimage: boot partition of %s: %w", img, err)
	}
	start, _, err := PartitionSpan(d.Backend, PartBoot)
	if err != nil {
		d.Close()
		return nil, err
	}
	return &ImageBoot{d: d, fs: fsys, start: start, rw: writable}, nil
}

// Close writes the corrections and closes the image.
func (b *ImageBoot) Close() error {
	var err error
	if b.rw {
		var w interface {
			io.ReaderAt
			io.WriterAt
		}
		if w, err = b.d.Backend.Writable(); err == nil {
			err = fixFAT32(w, b.start)
		}
	}
	if cerr := b.d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *ImageBoot) ReadFile(name string) ([]byte, error) {
	r, err := b.Open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (b *ImageBoot) Open(name string) (io.ReadCloser, error) {
	// go-diskfs's error for a missing file has no sentinel.
	fi, err := fs.Stat(b.fs, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	f, err := b.fs.Open(name)
	if err != nil {
		return nil, err
	}
	// go-diskfs v1.9.4 reads past the end of some files (1500 bytes
	// written read back as 1728): stop at the size the entry says.
	return limitedFile{io.LimitReader(f, fi.Size()), f}, nil
}

type limitedFile struct {
	io.Reader
	io.Closer
}

func (b *ImageBoot) exists(name string) bool {
	_, err := fs.Stat(b.fs, name)
	return err == nil
}

// WriteFile writes the whole file in one Write (see writeFATFile).
func (b *ImageBoot) WriteFile(name string, data []byte) error {
	w, err := b.Create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Create collects the file and writes it at Close in one Write: go-diskfs
// rewrites the allocation table on every Write that grows a file.
func (b *ImageBoot) Create(name string) (io.WriteCloser, error) {
	if dir := path.Dir(name); dir != "." && !b.exists(dir) {
		if err := b.fs.Mkdir("/" + dir); err != nil {
			return nil, fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	return &fatFile{b: b, name: name}, nil
}

type fatFile struct {
	b    *ImageBoot
	name string
	buf  bytes.Buffer
}

func (f *fatFile) Write(p []byte) (int, error) { return f.buf.Write(p) }

func (f *fatFile) Close() error {
	return writeFATFile(f.b.fs, bootFile{name: f.name, data: f.buf.Bytes()})
}

// files lists every file under dir, slash-separated and sorted.
func (b *ImageBoot) files(dir string) ([]string, error) {
	entries, err := b.fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if name == "." || name == ".." {
			continue
		}
		p := name
		if dir != "." {
			p = dir + "/" + name
		}
		if e.IsDir() {
			sub, err := b.files(p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

var _ update.BootFS = (*ImageBoot)(nil)
