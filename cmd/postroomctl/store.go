package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"postroom/storage"
)

// errRunning means another process (the appliance) holds the store's lock.
var errRunning = errors.New("the store is in use by another process")

func storeDir(data string) string { return filepath.Join(data, "store") }

// store opens DATA/store on first use; run closes it.
//
// Badger takes an exclusive flock on its directory, so a running appliance
// makes Open fail. We test the lock ourselves first (a non-blocking flock,
// released at once) so the answer does not depend on the wording of Badger's
// error, and still recognise that error in case the lock is taken between the
// two steps or sits in a folder we did not test.
func (c *ctl) store() (*storage.Store, error) {
	if c.st != nil {
		return c.st, nil
	}
	dir := storeDir(c.data)
	if err := checkDataFolder(c.data); err != nil {
		return nil, err
	}
	held, err := storeLocked(dir)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, errRunning
	}
	st, err := storage.Open(storage.Options{
		Dir: dir,
		// Warnings (a swept staged object, a slow open) are worth seeing; the
		// rest is for the appliance's log.
		Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		NoGC:   true, // a short-lived process: no background value-log GC
	})
	if err != nil {
		if isLockError(err) {
			return nil, errRunning
		}
		return nil, fmt.Errorf("opening the store in %s: %w", dir, err)
	}
	c.st = st
	return st, nil
}

// checkDataFolder refuses a folder that is not an appliance's data folder, so
// that a mistyped -data does not quietly create an empty store somewhere.
func checkDataFolder(data string) error {
	fi, err := os.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no data folder at %s (give -data DIR or set POSTROOM_DATA)", data)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder (give -data DIR or set POSTROOM_DATA)", data)
	}
	for _, name := range []string{"store", "config.json"} {
		if _, err := os.Stat(filepath.Join(data, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s does not look like a Postroom data folder: it has neither config.json nor store/ (give -data DIR or set POSTROOM_DATA)", data)
}

// storeLocked reports whether another process holds the Badger lock on dir or
// on a Badger folder directly inside it.
func storeLocked(dir string) (bool, error) {
	dirs := []string{dir}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no store yet: nobody holds it
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "MANIFEST")); err == nil {
			dirs = append(dirs, sub)
		}
	}
	for _, d := range dirs {
		if held, err := dirLocked(d); held || err != nil {
			return held, err
		}
	}
	return false, nil
}

// isLockError recognises Badger's "Cannot acquire directory lock on ...
// Another process is using this Badger database." Badger formats the cause
// with %v, so errors.Is finds the errno only if storage adds its own wrap.
func isLockError(err error) bool {
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "directory lock") || strings.Contains(s, "another process is using")
}
