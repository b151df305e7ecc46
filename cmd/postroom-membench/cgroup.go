package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroup is a memory cgroup made for one run: cgroup v1's memory
// controller (memory.limit_in_bytes) where it is mounted, else cgroup v2
// (memory.max). The limit covers anonymous memory and the page cache the
// process touches, as the kernel charges both: that is the point, since a
// store's memory maps count in RSS but can be reclaimed.
type cgroup struct {
	dir string
	v2  bool
}

const (
	cgroupV1 = "/sys/fs/cgroup/memory"
	cgroupV2 = "/sys/fs/cgroup"
)

func newCgroup(limit int64) (*cgroup, error) {
	name := fmt.Sprintf("postroom-membench-%d", os.Getpid())
	cg := &cgroup{}
	switch {
	case fileExists(filepath.Join(cgroupV1, "memory.limit_in_bytes")):
		cg.dir = filepath.Join(cgroupV1, name)
	case fileExists(filepath.Join(cgroupV2, "cgroup.controllers")):
		cg.dir, cg.v2 = filepath.Join(cgroupV2, name), true
	default:
		return nil, fmt.Errorf("no memory cgroup controller is mounted (looked for %s and %s)", cgroupV1, cgroupV2)
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the cgroup (needs root): %w", err)
	}
	file, val := "memory.limit_in_bytes", strconv.FormatInt(limit, 10)
	if cg.v2 {
		file = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(val), 0o644); err != nil {
		cg.remove()
		return nil, fmt.Errorf("set the limit: %w", err)
	}
	if !cg.v2 {
		// Without swap in the group, the limit is the limit.
		_ = os.WriteFile(filepath.Join(cg.dir, "memory.memsw.limit_in_bytes"), []byte(val), 0o644)
	}
	return cg, nil
}

func (cg *cgroup) procsFile() string { return filepath.Join(cg.dir, "cgroup.procs") }

// cgroupStats are the group's own counters at the end of a run.
type cgroupStats struct {
	peak     int64 // highest usage, page cache included
	failcnt  int64 // times the limit was hit (v1) or "max" events (v2)
	oomKills int64
}

func (cg *cgroup) stats() cgroupStats {
	var s cgroupStats
	if cg.v2 {
		s.peak = readInt(filepath.Join(cg.dir, "memory.peak"))
		ev := readKeyed(filepath.Join(cg.dir, "memory.events"))
		s.failcnt, s.oomKills = ev["max"], ev["oom_kill"]
		return s
	}
	s.peak = readInt(filepath.Join(cg.dir, "memory.max_usage_in_bytes"))
	s.failcnt = readInt(filepath.Join(cg.dir, "memory.failcnt"))
	s.oomKills = readKeyed(filepath.Join(cg.dir, "memory.oom_control"))["oom_kill"]
	return s
}

// remove deletes the group once its processes are gone; the appliance has
// stopped by the time it runs (deferred after it).
func (cg *cgroup) remove() {
	if err := os.Remove(cg.dir); err != nil && !os.IsNotExist(err) {
		fmt.Fprintf(os.Stderr, "postroom-membench: remove %s: %v\n", cg.dir, err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func readInt(p string) int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// readKeyed reads "key value" lines.
func readKeyed(p string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(p)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}
