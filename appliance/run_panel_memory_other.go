//go:build !linux

package appliance

import "postroom/appliance/status"

// readMemory is known only on Linux (/proc).
func readMemory(withInit bool) status.Memory { return status.Memory{} }
