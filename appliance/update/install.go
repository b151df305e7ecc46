package update

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"postroom/internal/atomicfile"
)

// Target is the inactive root partition: on the board the block device
// (/dev/mmcblk0p3), in tests a span of an image file.
type Target struct {
	W    io.WriterAt
	R    io.ReaderAt
	Size int64
	// Sync, if set, makes what was written durable (fsync of the device).
	Sync func() error
}

// Install writes a checked update to the inactive root: it verifies every
// payload against the signed hashes (nothing is written if one differs),
// writes the root in 1 MiB pieces, makes it durable, reads it back and
// compares the hash again, and stages the boot files on the boot
// partition (StagedDir), where Keep takes them from. Memory stays bounded
// by one buffer whatever the update's size.
func Install(ctx context.Context, o *Opened, t Target, b BootFS) error {
	if o.Manifest.Root.Size > t.Size {
		return fmt.Errorf("%w: %d MB for %d MB", ErrTooBig, o.Manifest.Root.Size>>20, t.Size>>20)
	}
	if err := o.Verify(); err != nil {
		return err
	}
	buf := make([]byte, copyBuf)
	root := o.Root()
	for off := int64(0); off < o.Manifest.Root.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := root.ReadAt(buf[:min(int64(len(buf)), o.Manifest.Root.Size-off)], off)
		if err != nil && err != io.EOF {
			return fmt.Errorf("update: read: %w", err)
		}
		if _, err := t.W.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("update: write the new root: %w", err)
		}
		off += int64(n)
	}
	if t.Sync != nil {
		if err := t.Sync(); err != nil {
			return fmt.Errorf("update: write the new root: %w", err)
		}
	}
	if err := checkHash(io.NewSectionReader(t.R, 0, o.Manifest.Root.Size), o.Manifest.Root, buf); err != nil {
		return fmt.Errorf("update: the new root reads back wrong (a failing SD card?): %w", err)
	}
	var names []string
	for i, f := range o.Manifest.Boot {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := b.Create(StagedDir + "/" + f.Name)
		if err != nil {
			return fmt.Errorf("update: stage %s: %w", f.Name, err)
		}
		err = stage(out, o.BootFile(i), f, buf)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("update: stage %s: %w", f.Name, err)
		}
		names = append(names, f.Name)
	}
	idx, _ := json.Marshal(names)
	if err := b.WriteFile(StagedDir+"/index.json", idx); err != nil {
		return fmt.Errorf("update: stage boot files: %w", err)
	}
	return nil
}

// DirBoot is the boot partition mounted as a folder (/boot on the board).
type DirBoot string

func (d DirBoot) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

func (d DirBoot) ReadFile(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

func (d DirBoot) WriteFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(d.path(name)), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(d.path(name), data, 0o644); err != nil {
		return err
	}
	return syncRenamed(d.path(name))
}

// syncRenamed makes a file renamed into place on the FAT boot partition
// durable under its new name. Linux's vfat writes the new directory entry
// of a rename with no size and no first cluster, and fills them in only
// when the file's inode is written back: a power cut after the rename and
// the folder's fsync, but before that write-back, left an empty file under
// the new name (seen under qemu: an empty update state; an empty
// cmdline.txt would leave a Pi that cannot find its root). The file's own
// fsync writes the entry.
func syncRenamed(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

func (d DirBoot) Open(name string) (io.ReadCloser, error) { return os.Open(d.path(name)) }

// Create writes to a temporary file that Close syncs and renames into
// place: a power cut leaves the old file or the new, never half of one
// (vfat renames within a folder are a single directory-entry write).
func (d DirBoot) Create(name string) (io.WriteCloser, error) {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(p + ".new")
	if err != nil {
		return nil, err
	}
	return &renameOnClose{f: f, to: p}, nil
}

type renameOnClose struct {
	f  *os.File
	to string
}

func (r *renameOnClose) Write(p []byte) (int, error) { return r.f.Write(p) }

func (r *renameOnClose) Close() error {
	err := r.f.Sync()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(r.f.Name())
		return err
	}
	if err := os.Rename(r.f.Name(), r.to); err != nil {
		return err
	}
	return syncRenamed(r.to)
}

// stage copies one boot file's payload (Verify has checked its hash) to
// out, uncompressing it if need be, at most MaxBootFile bytes.
func stage(out io.Writer, payload io.Reader, f File, buf []byte) error {
	h := sha256.New()
	in := io.TeeReader(payload, h)
	if f.Gzip {
		z, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		in = z
	}
	n, err := io.CopyBuffer(out, io.LimitReader(in, MaxBootFile+1), buf)
	if err != nil {
		return err
	}
	if n > MaxBootFile {
		return fmt.Errorf("%w: over %d MB uncompressed", ErrDamaged, MaxBootFile>>20)
	}
	io.CopyBuffer(io.Discard, payload, buf) // the hash covers every byte
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return ErrDamaged
	}
	return nil
}
