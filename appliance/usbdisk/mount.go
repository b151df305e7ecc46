package usbdisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrNotUsable: the file system is one the box cannot write (NTFS, or
// none it knows).
var ErrNotUsable = errors.New("the box cannot write to this disk's file system")

// active are the mount points this process holds now: a mount under
// RunDir that is not one of them was left by an appliance that crashed.
var active struct {
	sync.Mutex
	dirs map[string]bool
}

// Mounted is a file system mounted for a while.
type Mounted struct {
	Dir string // where it is mounted
	FS  FS
	h   *Host
}

// Mount mounts f read-write under the host's RunDir, with nosuid, nodev
// and noexec (a stick brings data, never programs or device files) and
// noatime. A mount of the same device left under RunDir by a crash is
// taken away first (never one this process holds: a backup and a look
// at the page may have the disk mounted at the same time, each on its
// own mount point). Unmount when done.
func (h *Host) Mount(f FS) (*Mounted, error) {
	if !f.Usable() {
		return nil, fmt.Errorf("%s (%s): %w", f.Device, typeWords(f.Type), ErrNotUsable)
	}
	if h.RunDir == "" {
		return nil, errors.New("usbdisk: no RunDir to mount disks in")
	}
	if err := os.MkdirAll(h.RunDir, 0o700); err != nil {
		return nil, fmt.Errorf("making %s: %w", h.RunDir, err)
	}
	name := filepath.Base(f.Device)
	if real, err := filepath.EvalSymlinks(f.Device); err == nil {
		name = filepath.Base(real) // as the mount table names it
	}
	active.Lock()
	defer active.Unlock()
	for _, m := range h.mounted() {
		if m.dev == name && strings.HasPrefix(m.dir, h.RunDir+"/") && !active.dirs[m.dir] {
			unmount(m.dir)
		}
	}
	dir, err := os.MkdirTemp(h.RunDir, "disk-")
	if err != nil {
		return nil, err
	}
	fstype, data := f.Type, ""
	switch f.Type {
	case "ext2", "ext3":
		fstype = "ext4" // the ext4 driver mounts them all
	case "vfat":
		// flush: write a file's data when it is closed, not later: a
		// stick may be pulled out soon after a backup.
		data = "flush"
	}
	if err := mount(f.Device, dir, fstype, data); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mounting the USB disk %s (%s): %w", f.Device, f.Type, err)
	}
	if active.dirs == nil {
		active.dirs = map[string]bool{}
	}
	active.dirs[dir] = true
	return &Mounted{Dir: dir, FS: f, h: h}, nil
}

// Unmount writes everything out and unmounts, so the disk may be pulled
// out afterwards. A busy mount is tried again for a few seconds.
func (m *Mounted) Unmount() error {
	if m == nil || m.Dir == "" {
		return nil
	}
	err := unmount(m.Dir)
	if err == nil {
		active.Lock()
		delete(active.dirs, m.Dir)
		active.Unlock()
		m.Dir = ""
	}
	return err
}

func unmount(dir string) error {
	syncFS(dir)
	var err error
	for i := 0; i < 20; i++ {
		if err = unmountOnce(dir); err == nil || !isBusy(err) {
			break
		}
		time.Sleep(250 * time.Millisecond) // a file still being closed; bounded at 5 s
	}
	if err != nil {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	os.Remove(dir)
	return nil
}

// typeWords names a file system type for people.
func typeWords(t string) string {
	switch t {
	case "":
		return "no file system the box knows"
	case "ntfs":
		return "NTFS, which the box can read on no board"
	case "vfat":
		return "FAT"
	}
	return t
}
