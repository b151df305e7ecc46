package boot

// Moving the mail to a new data disk (issue #14). The Backups page
// formats a blank USB disk for the mail and leaves a marker on it
// (usbdisk.MoveMarker) naming the data file system it replaces. ChooseData
// prefers that disk at the next start; before the appliance runs on it,
// the init copies everything from the SD card's data partition onto it:
//
//  1. clear what a cut-short copy left (everything but the marker and
//     lost+found): while the marker is there the disk holds no mail of its
//     own, so a power cut at any moment means "start over";
//  2. check that the files fit;
//  3. copy every file, folder and symbolic link, each file and folder
//     fsynced, a SHA-256 of every file taken as it is read;
//  4. read every copied file back (from the disk, not the page cache,
//     where the kernel allows) and compare size and SHA-256;
//  5. remove the marker and fsync the root folder: from that moment the
//     disk is the mail's, and the appliance starts on it.
//
// The source is mounted read-only and never written; the SD card keeps
// its copy until someone removes it. The check is a byte-for-byte one
// rather than opening the copied store (storage.Check): the source is a
// stopped store, so an identical copy is exactly as sound as it, and the
// init stays free of the store's code.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"postroom/appliance/usbdisk"
)

// Refusals of a move. The box then runs from the SD card as before.
var (
	ErrMoveTooSmall    = errors.New("the USB disk is too small for the mail")
	ErrMoveOtherSource = errors.New("the USB disk was prepared to take the mail of another data disk")
	ErrMoveNoSource    = errors.New("the data disk the mail is to be copied from is not there")
)

// moveSlack is room the new disk must have beyond the copy: the mail
// keeps arriving after the move.
const moveSlack = 64 << 20

// Mover copies the data file system mounted on Src onto the new one
// mounted on Dst, which holds a move marker.
type Mover struct {
	Src, Dst string
	// Say writes a line on the console (Config.Say).
	Say func(format string, args ...any)
	// Free returns the bytes free on a file system (nil: statfs).
	Free func(dir string) (int64, error)
	// AfterFile, if set, is called after each file copied, with the
	// count so far; an error stops the copy there (tests cut it short
	// as a power cut would).
	AfterFile func(n int) error
}

// moveEntry is one thing to copy.
type moveEntry struct {
	rel  string // path relative to the root, "/"-separated
	mode fs.FileMode
	size int64
	mod  time.Time
	link string   // a symbolic link's target
	sum  [32]byte // a file's SHA-256, taken as it is copied
}

// Run does the move (the package comment's five steps). It returns the
// bytes copied.
func (m *Mover) Run(ctx context.Context) (int64, error) {
	say := m.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	if _, ok, err := usbdisk.ReadMoveMarker(m.Dst); err != nil || !ok {
		return 0, fmt.Errorf("no move marker on %s: %v", m.Dst, err)
	}
	if err := clearPartial(m.Dst); err != nil {
		return 0, fmt.Errorf("clearing what an earlier copy left: %w", err)
	}
	entries, skipped, total, err := listTree(m.Src)
	if err != nil {
		return 0, fmt.Errorf("reading the mail's data disk: %w", err)
	}
	for _, s := range skipped {
		say("not copied (neither file, folder nor link): %s", s)
	}
	free := m.Free
	if free == nil {
		free = freeBytes
	}
	avail, err := free(m.Dst)
	if err != nil {
		return 0, fmt.Errorf("free space on the new disk: %w", err)
	}
	need := diskUse(entries) + moveSlack
	if avail < need {
		return 0, fmt.Errorf("%w: the mail and settings need %s, the disk has %s free", ErrMoveTooSmall, usbdisk.SizeWords(need), usbdisk.SizeWords(avail))
	}
	say("copying the mail and settings to the new disk: %d files, %s, about %s", countFiles(entries), usbdisk.SizeWords(total), usbdisk.MinutesWords(usbdisk.MoveMinutes(total)))
	var done int64
	files, nextTenth := 0, int64(1)
	for i := range entries {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		e := &entries[i]
		if err := copyEntry(m.Src, m.Dst, e); err != nil {
			return done, err
		}
		if !e.mode.IsRegular() {
			continue
		}
		files++
		done += e.size
		// One line per tenth reached (a large file may pass several).
		if tenth := done * 10 / max(total, 1); total > 0 && tenth >= nextTenth {
			say("copied %d%% (%s of %s)", tenth*10, usbdisk.SizeWords(done), usbdisk.SizeWords(total))
			nextTenth = tenth + 1
		}
		if m.AfterFile != nil {
			if err := m.AfterFile(files); err != nil {
				return done, err
			}
		}
	}
	// Folders last, deepest first: their times and modes once nothing
	// more is written in them, then each is fsynced.
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !e.mode.IsDir() {
			continue
		}
		p := filepath.Join(m.Dst, filepath.FromSlash(e.rel))
		if e.rel != "." {
			if err := os.Chmod(p, e.mode.Perm()); err != nil {
				return done, err
			}
			os.Chtimes(p, e.mod, e.mod)
		}
		if err := syncPath(p); err != nil {
			return done, fmt.Errorf("sync folder %s: %w", p, err)
		}
	}
	say("checking the copy")
	if err := verifyTree(m.Dst, entries); err != nil {
		return done, err
	}
	if err := os.Remove(filepath.Join(m.Dst, usbdisk.MoveFile)); err != nil {
		return done, fmt.Errorf("removing the move marker: %w", err)
	}
	if err := syncPath(m.Dst); err != nil {
		return done, fmt.Errorf("sync folder %s: %w", m.Dst, err)
	}
	say("the mail and settings are on the new disk (%s checked)", usbdisk.SizeWords(done))
	return done, nil
}

// clearPartial removes everything at dst's root but the marker and
// lost+found (ext4's own), and syncs the root.
func clearPartial(dst string) error {
	des, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.Name() == usbdisk.MoveFile || de.Name() == "lost+found" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dst, de.Name())); err != nil {
			return err
		}
	}
	return syncPath(dst)
}

// listTree lists src: folders before what they hold, in lexical order.
// lost+found at the root is not the mail's; sockets, pipes and devices
// (a control socket left by the appliance) are skipped and named.
func listTree(src string) (entries []moveEntry, skipped []string, total int64, err error) {
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "lost+found" || rel == usbdisk.MoveFile {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := moveEntry{rel: rel, mode: info.Mode(), size: info.Size(), mod: info.ModTime()}
		switch {
		case e.mode.IsDir():
			e.size = 0
		case e.mode.IsRegular():
			total += e.size
		case e.mode&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
			e.size = 0
		default:
			skipped = append(skipped, rel)
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	return entries, skipped, total, err
}

// diskUse is what the entries take on an ext4 with 4 KiB blocks.
func diskUse(entries []moveEntry) int64 {
	var n int64
	for _, e := range entries {
		n += (e.size+4095)/4096*4096 + 4096
	}
	return n
}

func countFiles(entries []moveEntry) int {
	n := 0
	for _, e := range entries {
		if e.mode.IsRegular() {
			n++
		}
	}
	return n
}

// copyEntry makes e under dst: a folder (its mode and time are set
// later), a symbolic link, or a file copied, its SHA-256 noted, fsynced.
func copyEntry(src, dst string, e *moveEntry) error {
	from := filepath.Join(src, filepath.FromSlash(e.rel))
	to := filepath.Join(dst, filepath.FromSlash(e.rel))
	switch {
	case e.mode.IsDir():
		if e.rel == "." {
			return nil
		}
		if err := os.Mkdir(to, 0o700); err != nil {
			return fmt.Errorf("copy %s: %w", e.rel, err)
		}
		return nil
	case e.mode&fs.ModeSymlink != 0:
		if err := os.Symlink(e.link, to); err != nil {
			return fmt.Errorf("copy %s: %w", e.rel, err)
		}
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", e.rel, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.mode.Perm())
	if err != nil {
		return fmt.Errorf("copy %s: %w", e.rel, err)
	}
	h := sha256.New()
	n, err := io.Copy(out, io.TeeReader(in, h))
	if err == nil && n != e.size {
		err = fmt.Errorf("it changed while being copied (%d bytes, %d listed)", n, e.size)
	}
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		dropCache(out) // the check reads it back from the disk
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", e.rel, err)
	}
	copy(e.sum[:], h.Sum(nil))
	os.Chtimes(to, e.mod, e.mod)
	return nil
}

// verifyTree reads every copied file back and compares its size and
// SHA-256 with the source's; links must point where theirs did.
func verifyTree(dst string, entries []moveEntry) error {
	for _, e := range entries {
		p := filepath.Join(dst, filepath.FromSlash(e.rel))
		switch {
		case e.mode.IsDir():
			if st, err := os.Lstat(p); err != nil || !st.IsDir() {
				return fmt.Errorf("the copy has no folder %s: %v", e.rel, err)
			}
		case e.mode&fs.ModeSymlink != 0:
			if l, err := os.Readlink(p); err != nil || l != e.link {
				return fmt.Errorf("the copy of the link %s differs (%q, %v)", e.rel, l, err)
			}
		default:
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("checking the copy of %s: %w", e.rel, err)
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("checking the copy of %s: %w", e.rel, err)
			}
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			if n != e.size || sum != e.sum {
				return fmt.Errorf("the copy of %s differs from the original (%d bytes, %d expected)", e.rel, n, e.size)
			}
		}
	}
	return nil
}

// syncPath fsyncs a folder (or file) by name.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
