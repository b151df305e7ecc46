package appliance

import (
	"bufio"
	"slices"
	"strconv"
	"strings"

	"postroom/appliance/status"
)

// The memory reading (issue #14 asked how much the init and the appliance
// use on a 512 MB board): the appliance's own resident memory, the init's
// when the init started it, and the machine's total and available memory,
// read from /proc with the other readings (run_panel_memory_linux.go;
// other systems leave status.Memory zero).

// procKB returns the values, in bytes, of the wanted keys of a /proc
// status or meminfo text ("VmRSS:     1234 kB"); a key missing or
// unreadable is left out. The kernel's "kB" is 1024 bytes.
func procKB(text string, keys ...string) map[string]uint64 {
	out := make(map[string]uint64, len(keys))
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(keys, name) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || n > 1<<44 { // no machine has 16 PB: the text is wrong
			continue
		}
		out[name] = n * 1024
	}
	return out
}

// memoryFrom puts the three /proc texts together; initStatus is "" when
// the init's is not wanted.
func memoryFrom(self, initStatus, meminfo string) status.Memory {
	s := procKB(self, "VmRSS", "RssAnon")
	m := procKB(meminfo, "MemTotal", "MemAvailable")
	mem := status.Memory{RSS: s["VmRSS"], RSSAnon: s["RssAnon"], Total: m["MemTotal"], Available: m["MemAvailable"]}
	if initStatus != "" {
		mem.InitRSS = procKB(initStatus, "VmRSS")["VmRSS"]
	}
	return mem
}
