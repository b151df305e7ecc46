package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTools builds the appliance and the load tool from this tree.
func buildTools(t *testing.T) (postroom, load string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the appliance binary")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "postroom/cmd/postroom", "postroom/cmd/postroom-load")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(bin, "postroom"), filepath.Join(bin, "postroom-load")
}

// A small run against the real binary: every message is accepted and the
// memory readings come from the appliance's own /proc entries.
func TestMeasure(t *testing.T) {
	postroom, load := buildTools(t)
	const n, size = 20, 20 * 1024
	run := func(t *testing.T, limit int64) *result {
		res, err := measure(options{postroom: postroom, load: load, n: n, c: 4, size: size, limit: limit, timeout: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.loadLine, "sent 20 messages of ") || !strings.Contains(res.loadLine, "failed 0") {
			t.Fatalf("load line %q", res.loadLine)
		}
		if res.accepted < n*size || res.accepted > n*(size+200) {
			t.Errorf("accepted %d bytes; want about %d", res.accepted, n*size)
		}
		if res.anonPeak <= 0 || res.rssPeak < res.anonPeak {
			t.Errorf("rss peak %d, anon peak %d: not read from /proc", res.rssPeak, res.anonPeak)
		}
		return res
	}
	t.Run("no limit", func(t *testing.T) {
		res := run(t, 0)
		if !strings.Contains(res.String(), "cgroup:   no limit") {
			t.Errorf("report:\n%s", res)
		}
	})
	t.Run("200M limit", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("a memory cgroup needs root")
		}
		if !fileExists(filepath.Join(cgroupV1, "memory.limit_in_bytes")) && !fileExists(filepath.Join(cgroupV2, "cgroup.controllers")) {
			t.Skip("no memory cgroup controller mounted")
		}
		res := run(t, 200<<20)
		if res.cg.peak <= 0 || res.cg.peak > 200<<20 || res.cg.oomKills != 0 {
			t.Errorf("cgroup stats %+v", res.cg)
		}
		entries, _ := filepath.Glob(filepath.Join(filepath.Dir(cgroupV1), "*", "postroom-membench-*"))
		entries2, _ := filepath.Glob(filepath.Join(cgroupV2, "postroom-membench-*"))
		if len(entries)+len(entries2) != 0 {
			t.Errorf("cgroups left behind: %v %v", entries, entries2)
		}
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"200M": 200 << 20, "1G": 1 << 30, "512K": 512 << 10, "4096": 4096} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-5M", "lots"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestAcceptedBytes(t *testing.T) {
	if got := acceptedBytes("sent 300 messages of 102450 bytes over 8 connections in 1.27s: ..."); got != 300*102450 {
		t.Errorf("got %d", got)
	}
	if got := acceptedBytes("garbage"); got != 0 {
		t.Errorf("got %d for garbage", got)
	}
}
