package appliance

import (
	"os"

	"postroom/appliance/status"
)

// readMemory reads the appliance's, the init's (when withInit) and the
// machine's memory from /proc; a file that cannot be read leaves its
// fields zero.
func readMemory(withInit bool) status.Memory {
	read := func(path string) string {
		b, _ := os.ReadFile(path) // a kernel file; unreadable only without /proc
		return string(b)
	}
	var initStatus string
	if withInit {
		initStatus = read("/proc/1/status")
	}
	return memoryFrom(read("/proc/self/status"), initStatus, read("/proc/meminfo"))
}
