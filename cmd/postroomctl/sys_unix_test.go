//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStoreLocked takes the lock Badger takes (an exclusive flock on the
// folder) on the store folder and on a Badger folder inside it.
func TestStoreLocked(t *testing.T) {
	data := t.TempDir()
	dir := storeDir(data)
	sub := filepath.Join(dir, "badger")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "MANIFEST"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if held, err := storeLocked(dir); held || err != nil {
		t.Fatalf("nobody holds it: storeLocked = %v, %v", held, err)
	}
	if held, err := storeLocked(filepath.Join(data, "nothing")); held || err != nil {
		t.Fatalf("no store yet: storeLocked = %v, %v", held, err)
	}
	for _, d := range []string{dir, sub} {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		if held, err := storeLocked(dir); !held || err != nil {
			t.Errorf("%s locked: storeLocked = %v, %v", d, held, err)
		}
		f.Close()
		if held, err := storeLocked(dir); held || err != nil {
			t.Errorf("%s unlocked again: storeLocked = %v, %v", d, held, err)
		}
	}
	// The message, without storage: the data folder has a locked store/.
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, data, "", "fsck")
	r.check(t, exitFailed, nil, []string{"the appliance is running but its control socket " + filepath.Join(data, "control.sock") + " does not answer"})
}

// A user who may not use the control socket is told who may, not to
// "try again".
func TestNoAnswerMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "dial", Path: "/d/control.sock", Err: syscall.EACCES}, "only root and the appliance's own user"},
		{&os.PathError{Op: "dial", Path: "/d/control.sock", Err: syscall.ECONNREFUSED}, "try again in a moment"},
	} {
		if got := (errNoAnswer{"/d/control.sock", tc.err}).Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
