package main

import (
	"path/filepath"
	"testing"
)

// TestUpdateNeedsTheBox: off the board (here, a stopped box's store) an
// update is refused in words, and a missing argument is a usage error.
// The install itself is tested on a running appliance in
// appliance/run_update_test.go and under qemu in image/qemu_test.go.
func TestUpdateNeedsTheBox(t *testing.T) {
	data := newData(t)
	runCtl(t, data, "", "update", filepath.Join(t.TempDir(), "postroom.update")).
		check(t, exitFailed, nil, []string{"postroomctl: update: this machine does not install updates"})
	runCtl(t, data, "", "update").check(t, exitUsage, nil, []string{"update"})
}
