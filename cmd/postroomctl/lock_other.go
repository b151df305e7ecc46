//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// dirLocked cannot test the lock here; storage.Open's error still tells.
func dirLocked(dir string) (bool, error) { return false, nil }
