package appliance

import (
	"runtime"
	"testing"

	"postroom/appliance/status"
)

// Sample /proc texts, shortened from a Linux 6.x arm64 guest.
const (
	sampleSelf = `Name:	postroom
Umask:	0022
State:	S (sleeping)
Pid:	213
VmPeak:	 1268504 kB
VmHWM:	   45120 kB
VmRSS:	   43008 kB
RssAnon:	   30720 kB
RssFile:	   12288 kB
RssShmem:	       0 kB
Threads:	9
`
	sampleInit = `Name:	init
Pid:	1
VmRSS:	    8192 kB
RssAnon:	    3072 kB
`
	sampleMeminfo = `MemTotal:         524288 kB
MemFree:          300000 kB
MemAvailable:     389120 kB
Buffers:            1024 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`
)

// TestMemoryFrom: the appliance's, the init's and the machine's memory
// from /proc texts; what is missing or malformed stays zero (unknown).
func TestMemoryFrom(t *testing.T) {
	const k = 1024
	for _, tc := range []struct {
		name                string
		self, init, meminfo string
		want                status.Memory
	}{
		{"all three", sampleSelf, sampleInit, sampleMeminfo,
			status.Memory{RSS: 43008 * k, RSSAnon: 30720 * k, InitRSS: 8192 * k, Total: 524288 * k, Available: 389120 * k}},
		{"init not wanted", sampleSelf, "", sampleMeminfo,
			status.Memory{RSS: 43008 * k, RSSAnon: 30720 * k, Total: 524288 * k, Available: 389120 * k}},
		{"nothing readable", "", "", "", status.Memory{}},
		{"old kernel without RssAnon or MemAvailable", "VmRSS:\t100 kB\n", "", "MemTotal: 2000 kB\nMemFree: 1000 kB\n",
			status.Memory{RSS: 100 * k, Total: 2000 * k}},
		{"malformed lines are skipped", "VmRSS: lots kB\nRssAnon: 5 pages\nVmRSS 7 kB\n", "VmRSS:\t-1 kB\n",
			"MemTotal: 99999999999999999999 kB\nMemAvailable: 18446744073709551615 kB\n", status.Memory{}},
		{"keys are whole names", "XVmRSS:\t5 kB\nVmRSSX:\t6 kB\n", "", "", status.Memory{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := memoryFrom(tc.self, tc.init, tc.meminfo); got != tc.want {
				t.Errorf("memoryFrom = %+v; want %+v", got, tc.want)
			}
		})
	}
}

// TestReadMemory: this very process, on Linux, has resident memory and
// the machine has some available; the init's is read only when asked.
func TestReadMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		if m := readMemory(true); m != (status.Memory{}) {
			t.Errorf("readMemory off Linux = %+v; want zero", m)
		}
		return
	}
	m := readMemory(false)
	if m.RSS == 0 || m.RSSAnon == 0 || m.RSSAnon > m.RSS || m.Total == 0 || m.Available == 0 || m.Available > m.Total {
		t.Errorf("readMemory = %+v: a figure is missing or impossible", m)
	}
	if m.InitRSS != 0 {
		t.Errorf("InitRSS = %d without asking for it", m.InitRSS)
	}
}
