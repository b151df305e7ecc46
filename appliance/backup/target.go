package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Target is where backup files go: a folder (a USB disk) or an SFTP
// server. Files appear whole or not at all: Create writes a hidden
// partial file, and only Commit gives it its name, so a kill, a power cut
// or a pulled disk mid-backup leaves every earlier backup as it was.
type Target interface {
	// String names the target for people and for the state ("folder
	// /media/usb"): a new name starts a new chain with a full backup.
	String() string
	// List returns the backup files (names ending in Ext), oldest first.
	List(ctx context.Context) ([]Entry, error)
	Create(ctx context.Context, name string) (Upload, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Remove(ctx context.Context, name string) error
	// Free is the space left for backups, or -1 when the target cannot say.
	Free(ctx context.Context) (int64, error)
	Close() error
}

// Entry is one backup file on a target.
type Entry struct {
	Name string
	Size int64
}

// Upload is a file being written.
type Upload interface {
	io.Writer
	// Commit makes the file durable and gives it its name.
	Commit() error
	// Abort removes what was written.
	Abort()
}

// ErrTargetFull: the target has no room left.
var ErrTargetFull = errors.New("the backup disk is full")

func partialName(name string) string { return "." + name + ".partial" }

// stalePartial says whether file is a partial file a killed backup of the
// same box as name left behind (names are postroom-HOST-TIME-KIND.pbk).
func stalePartial(file, name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i > 0 {
		i = strings.LastIndexByte(name[:i], '-')
	}
	return i > 0 && strings.HasPrefix(file, "."+name[:i+1]) && strings.HasSuffix(file, Ext+".partial")
}

// noSpace says whether err is a full disk, in whatever form the target
// reports it.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrTargetFull)
}

// gone says whether err is a disk pulled out or a mount that went away.
func gone(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ESTALE) || errors.Is(err, fs.ErrNotExist)
}

// Folder is a target on a mounted file system.
type Folder struct{ Dir string }

func (f Folder) String() string { return "folder " + f.Dir }

// check makes sure the folder is there: the box never creates the folder
// of a disk that is not mounted, which would fill the box's own card.
func (f Folder) check() error {
	fi, err := os.Stat(f.Dir)
	if err != nil {
		return fmt.Errorf("the backup folder %s is not there: is the USB disk plugged in? (%v)", f.Dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("the backup folder %s is not a folder", f.Dir)
	}
	return nil
}

func (f Folder) List(ctx context.Context) ([]Entry, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(f.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading the backup folder: %w", err)
	}
	var out []Entry
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), Ext) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Entry{Name: e.Name(), Size: fi.Size()})
	}
	sortEntries(out)
	return out, nil
}

func (f Folder) Create(ctx context.Context, name string) (Upload, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(f.Dir); err == nil {
		for _, e := range ents {
			if stalePartial(e.Name(), name) { // left by a backup that was killed
				os.Remove(filepath.Join(f.Dir, e.Name()))
			}
		}
	}
	p := filepath.Join(f.Dir, partialName(name))
	file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writing to the backup folder: %w", err)
	}
	return &folderUpload{f: file, final: filepath.Join(f.Dir, name)}, nil
}

type folderUpload struct {
	f     *os.File
	final string
}

func (u *folderUpload) Write(b []byte) (int, error) { return u.f.Write(b) }

func (u *folderUpload) Commit() error {
	err := u.f.Sync()
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if _, serr := os.Stat(u.final); serr == nil {
			err = fmt.Errorf("%s exists already", filepath.Base(u.final))
		} else {
			err = os.Rename(u.f.Name(), u.final)
		}
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(u.final)); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		os.Remove(u.f.Name())
		return fmt.Errorf("finishing the backup file: %w", err)
	}
	return nil
}

func (u *folderUpload) Abort() {
	u.f.Close()
	os.Remove(u.f.Name())
}

func (f Folder) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if name != filepath.Base(name) {
		return nil, fmt.Errorf("%q is not a backup file name", name)
	}
	r, err := os.Open(filepath.Join(f.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("opening the backup: %w", err)
	}
	return r, nil
}

func (f Folder) Remove(ctx context.Context, name string) error {
	if name != filepath.Base(name) {
		return fmt.Errorf("%q is not a backup file name", name)
	}
	err := os.Remove(filepath.Join(f.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (f Folder) Close() error { return nil }

func sortEntries(e []Entry) { sort.Slice(e, func(i, j int) bool { return e[i].Name < e[j].Name }) }
