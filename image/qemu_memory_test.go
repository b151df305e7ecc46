package sdimage

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
)

// logIdleMemory logs what the box's status.json says of its memory once
// the box is idle after its set-up (running, every service up, nothing
// queued): the appliance's and the init's resident memory and the guest's
// total and available memory (issue #14 asked for them: the box has no
// shell to look). The figures are taken from a reading made after the
// set-up: the appliance reads the memory every 30 s, so it waits for the
// figures to change, up to two readings. The host's load goes with them,
// since the machine is shared.
func logIdleMemory(t *testing.T, ctx context.Context, port int) {
	t.Helper()
	idle, ok := pollStatus(ctx, port, 4*time.Minute, func(s status.Snapshot) bool {
		return s.Phase == status.PhaseRunning && len(s.Services) > 0 && len(s.Failed()) == 0 &&
			s.Queue.Length == 0 && s.Memory.RSS > 0 && s.Memory.Total > 0
	})
	if !ok {
		t.Errorf("the box never showed its memory while idle after the set-up: %+v", idle)
		return
	}
	if idle.Memory.InitRSS == 0 {
		t.Errorf("status.json has no memory for the init, which started the appliance: %+v", idle.Memory)
	}
	const readings = 30 * time.Second // appliance.readEvery
	fresh, ok := pollStatus(ctx, port, 2*readings+5*time.Second, func(s status.Snapshot) bool {
		return s.Memory != idle.Memory && s.Memory.RSS > 0
	})
	if !ok {
		t.Logf("memory: no new reading within two readings; the figures may be from before the set-up ended")
		fresh = idle
	}
	m := fresh.Memory
	load, _ := os.ReadFile("/proc/loadavg")
	mib := func(n uint64) float64 { return float64(n) / (1 << 20) }
	t.Logf("memory when idle after set-up (qemu -m 512, status.json at %s): appliance VmRSS %.1f MiB (RssAnon %.1f MiB), init VmRSS %.1f MiB; guest MemTotal %.1f MiB, MemAvailable %.1f MiB; host load average %s",
		fresh.Time.Format(time.TimeOnly), mib(m.RSS), mib(m.RSSAnon), mib(m.InitRSS), mib(m.Total), mib(m.Available), strings.TrimSpace(string(load)))
}

// pollStatus reads status.json until ok says yes or within is over; it
// rides out the web server's restart after the set-up (a refused or reset
// connection is tried again), unlike waitStatus.
func pollStatus(ctx context.Context, port int, within time.Duration, ok func(status.Snapshot) bool) (status.Snapshot, bool) {
	w := newWeb(port)
	var s status.Snapshot
	for end := time.Now().Add(within); time.Now().Before(end) && ctx.Err() == nil; sleepCtx(ctx, time.Second) {
		code, body, err := w.try(ctx, "GET", "/status.json", "", nil)
		s = status.Snapshot{} // fresh each time: JSON leaves out empty fields
		if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &s) == nil && ok(s) {
			return s, true
		}
	}
	return s, false
}
