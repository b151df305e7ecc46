package sdimage

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

// File is one file of the root file system.
type File struct {
	Path string      // slash-separated, relative to /: "init", "bin/postroom"
	Mode fs.FileMode // permission bits: 0o755 for programs
	Src  string      // a file on this machine to copy, or "" to use Data
	Data []byte
}

// MountPoints are the empty directories of the read-only root that the init
// mounts over: /proc, /sys, /dev, /tmp, the data partition on /data and the
// boot partition on /boot (where an update rewrites cmdline.txt).
var MountPoints = []string{"boot", "data", "dev", "proc", "sys", "tmp"}

// squashfsBlock is mksquashfs's default block size. (go-diskfs's disk-level
// CreateFilesystem passes the 512-byte sector size instead, which squashfs
// refuses: FIRMWARE.md.)
const squashfsBlock = 128 << 10

// writeRoot writes a compressed squashfs holding files and MountPoints into
// the span of the disk behind b, owned by root, every time set to t.
func writeRoot(b backend.Storage, sp span, files []File, t time.Time) error {
	sq, err := squashfs.Create(b, sp.size, sp.start, squashfsBlock)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	// go-diskfs stages the tree in a temporary folder and forgets it at
	// Finalize: remove it ourselves.
	ws := sq.Workspace()
	defer os.RemoveAll(ws)
	if err := stageRoot(ws, files, t); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	var zero uint32
	err = sq.Finalize(squashfs.FinalizeOptions{
		// Without a compressor go-diskfs stores the data uncompressed.
		// gzip (zlib) is the one the Pi kernel always has: CONFIG_SQUASHFS_ZLIB
		// defaults to y, and kernel.rpi's config adds no other.
		// Level 6, zlib's default: level 9 takes twice the time for a
		// root about 1% smaller.
		Compression: &squashfs.CompressorGzip{
			CompressionLevel: 6,
			WindowSize:       15,
			Strategies:       map[squashfs.GzipStrategy]bool{squashfs.GzipDefault: true},
		},
		FileUID: &zero,
		FileGID: &zero,
	})
	if err != nil {
		return fmt.Errorf("root: finalize: %w", err)
	}
	return stampSquashfs(b, sp.start, t)
}

// stampSquashfs sets the superblock's modification time (a little-endian
// uint32 at byte 8), which go-diskfs v1.9.4 always takes from time.Now:
// without it no two builds would be the same.
func stampSquashfs(b backend.Storage, start int64, t time.Time) error {
	w, err := b.Writable()
	if err != nil {
		return err
	}
	var buf [4]byte
	binary.LittleEndian.PutUint32(buf[:], uint32(t.Unix()))
	if _, err := w.WriteAt(buf[:], start+8); err != nil {
		return fmt.Errorf("root: stamp superblock: %w", err)
	}
	return nil
}

// stageRoot lays the tree out in dir the way squashfs.Finalize reads it:
// modes, times and the root's own mode (a temporary folder is 0700) all set
// explicitly, since Finalize copies them from the folder.
func stageRoot(dir string, files []File, t time.Time) error {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	dirs := map[string]bool{}
	for _, m := range MountPoints {
		dirs[m] = true
	}
	for _, f := range sorted {
		clean := path.Clean(f.Path)
		for d := path.Dir(clean); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		if err := stageFile(filepath.Join(dir, filepath.FromSlash(clean)), f); err != nil {
			return err
		}
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return err
		}
	}
	// Times last, once every entry exists: creating an entry changes its
	// folder's time.
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
		}
		return os.Chtimes(p, t, t)
	})
}

// checkRoot refuses a path that is absolute, empty or leaves the root,
// before Build writes anything.
func checkRoot(files []File) error {
	for _, f := range files {
		if !fs.ValidPath(f.Path) || f.Path == "." {
			return fmt.Errorf("sdimage: root file %q: want a clean relative path inside the root", f.Path)
		}
	}
	return nil
}

func stageFile(dst string, f File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	mode := f.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if f.Src != "" {
		in, err := os.Open(f.Src)
		if err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	} else if _, err := out.Write(f.Data); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	// The umask may have cleared bits of the mode: set it exactly.
	return os.Chmod(dst, mode)
}
