package main

import "golang.org/x/sys/unix"

func reboot() {
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {} // PID 1 must not return, even if reboot failed
}
