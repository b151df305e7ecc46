package main

import "testing"

// TestRestartNeedsTheRunningBox: restart on a stopped box's data folder
// says there is nothing running to restart, and takes no arguments. The
// restart itself (box.restart over the control socket) is tested on a
// running appliance in appliance/run_restart_test.go.
func TestRestartNeedsTheRunningBox(t *testing.T) {
	data := newData(t)
	runCtl(t, data, "", "restart").check(t, exitFailed, nil, []string{"postroomctl: restart: the appliance is not running here"})
	runCtl(t, data, "", "restart", "now").check(t, exitUsage, nil, []string{"restart"})
}
