//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "io/fs"

// dirLocked cannot test the lock here; storage.Open's error still tells.
func dirLocked(dir string) (bool, error) { return false, nil }

func allocated(fi fs.FileInfo) int64 { return fi.Size() }

// lockDir cannot lock here.
func lockDir(dir string) (unlock func(), held bool, err error) { return func() {}, false, nil }
