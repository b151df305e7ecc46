//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// dirLocked tries the lock Badger takes, a non-blocking exclusive flock on
// the directory itself, and releases it at once. flock locks belong to an open
// file, so this also sees a lock held by the same process (the tests' case).
func dirLocked(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, nil // a file system without flock: let Open decide
	}
	_ = syscall.Flock(fd, syscall.LOCK_UN)
	return false, nil
}

// allocated is the disk space a file takes, as du counts it: Badger sizes
// its value log and memtable files up front, sparsely.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}

// lockDir takes the lock the appliance takes on its data folder (a
// non-blocking exclusive flock) and keeps it until unlock; held reports
// that another process has it.
func lockDir(dir string) (unlock func(), held bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return func() {}, false, nil // a file system without flock
	}
	return func() { f.Close() }, false, nil
}
