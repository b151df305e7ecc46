// Package updatetest holds the walks through the A/B switch that every
// boot partition must pass: a folder (appliance/update's test) and the FAT
// file system inside an image file (image/'s test).
package updatetest

import (
	"strings"
	"testing"
	"time"

	"postroom/appliance/update"
)

// Cmdline is the boot partition's cmdline.txt at the start of each walk: root A.
const Cmdline = "console=serial0,115200 root=PARTUUID=50727231-02 rootfstype=squashfs ro rootwait init=/init\n"

// TrialCase is one walk through the A/B switch, shared with image/'s test
// that runs the same walks on the FAT partition of a real image file.
type TrialCase struct {
	Name string
	// Steps run in order on a boot partition whose cmdline.txt names
	// root A; each returns the root the firmware boots next.
	Steps []func(t *testing.T, b update.BootFS, now time.Time) int
	// Want: the root booted at the end, and the last outcome.
	WantRoot   int
	WantResult string
	WantReason string
}

// boots is a step: the firmware reads cmdline.txt and boots that root,
// whose init calls update.AtBoot; want is what update.AtBoot must answer.
func boots(want update.Boot) func(t *testing.T, b update.BootFS, now time.Time) int {
	return func(t *testing.T, b update.BootFS, now time.Time) int {
		t.Helper()
		root, err := update.CmdlineRoot(b)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := update.AtBoot(b, root, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("root %d: update.AtBoot said %v, want %v", root, got, want)
		}
		return root
	}
}

// The versions of the walks: root A holds from, the update is to.
var (
	from = update.Release{Version: "1.0", Serial: 1, Arch: "arm64"}
	to   = update.Release{Version: "2.0", Serial: 2, Arch: "arm64"}
)

// begin writes version 2.0 and starts its trial, as an update does.
func begin(t *testing.T, b update.BootFS, now time.Time) int {
	t.Helper()
	root := install("")(t, b, now)
	if err := update.BeginTrial(b, root, from, to, "/data/snap", now); err != nil {
		t.Fatal(err)
	}
	r, _ := update.CmdlineRoot(b)
	return r
}

// install begins writing version 2.0 to the spare root, and stops there
// (the power goes, or the write fails with fail).
func install(fail string) func(t *testing.T, b update.BootFS, now time.Time) int {
	return func(t *testing.T, b update.BootFS, now time.Time) int {
		t.Helper()
		root, _ := update.CmdlineRoot(b)
		if err := update.BeginInstall(b, root, from, to, now); err != nil {
			t.Fatal(err)
		}
		if fail != "" {
			if err := update.InstallFailed(b, root, fail, now); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := update.CmdlineRoot(b)
		return r
	}
}

func keep(t *testing.T, b update.BootFS, now time.Time) int {
	t.Helper()
	root, _ := update.CmdlineRoot(b)
	if _, err := update.Keep(b, root, now); err != nil {
		t.Fatal(err)
	}
	r, _ := update.CmdlineRoot(b)
	return r
}

func selfTestFails(t *testing.T, b update.BootFS, now time.Time) int {
	t.Helper()
	root, _ := update.CmdlineRoot(b)
	if _, err := update.RollBack(b, root, "the self-test failed: imap did not answer", now); err != nil {
		t.Fatal(err)
	}
	r, _ := update.CmdlineRoot(b)
	return r
}

// TrialCases are the walks every update.BootFS must pass.
var TrialCases = []TrialCase{
	{
		Name:     "kept after its self-test",
		Steps:    []func(*testing.T, update.BootFS, time.Time) int{boots(update.BootNormal), begin, boots(update.BootTrial), keep, boots(update.BootNormal)},
		WantRoot: update.RootB, WantResult: update.ResultKept,
	},
	{
		Name:     "self-test fails",
		Steps:    []func(*testing.T, update.BootFS, time.Time) int{begin, boots(update.BootTrial), selfTestFails, boots(update.BootNormal)},
		WantRoot: update.RootA, WantResult: update.ResultRolledBack, WantReason: "imap did not answer",
	},
	{
		// The trial boot crashed or hung and the watchdog reset the
		// board: it starts a second time, and goes back.
		Name:     "reset during the trial",
		Steps:    []func(*testing.T, update.BootFS, time.Time) int{begin, boots(update.BootTrial), boots(update.BootRollBack), boots(update.BootNormal)},
		WantRoot: update.RootA, WantResult: update.ResultRolledBack, WantReason: "stopped before finishing",
	},
	{
		// The power goes while the new root is being written: the old
		// root starts, says so once, and then boots as ever.
		Name:     "power cut while writing",
		Steps:    []func(*testing.T, update.BootFS, time.Time) int{install(""), boots(update.BootInterrupted), boots(update.BootNormal)},
		WantRoot: update.RootA, WantResult: update.ResultNotInstalled, WantReason: "stopped while writing",
	},
	{
		Name:     "the write fails",
		Steps:    []func(*testing.T, update.BootFS, time.Time) int{install("the new root reads back wrong"), boots(update.BootNormal)},
		WantRoot: update.RootA, WantResult: update.ResultNotInstalled, WantReason: "reads back wrong",
	},
	{
		// Kept once, then a second update goes from B back to A.
		Name: "two updates",
		Steps: []func(*testing.T, update.BootFS, time.Time) int{begin, boots(update.BootTrial), keep,
			begin, boots(update.BootTrial), keep, boots(update.BootNormal)},
		WantRoot: update.RootA, WantResult: update.ResultKept,
	},
}

// RunTrialCases runs TrialCases on boot partitions made by fresh.
func RunTrialCases(t *testing.T, fresh func(t *testing.T, cmdline string) update.BootFS) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range TrialCases {
		t.Run(c.Name, func(t *testing.T) {
			b := fresh(t, Cmdline)
			var root int
			for _, step := range c.Steps {
				root = step(t, b, now)
			}
			if root != c.WantRoot {
				t.Errorf("boots root %d, want %d", root, c.WantRoot)
			}
			s, err := update.ReadState(b, root)
			if err != nil {
				t.Fatal(err)
			}
			if s.Last.Result != c.WantResult || !strings.Contains(s.Last.Reason, c.WantReason) {
				t.Errorf("outcome %+v, want %s %q", s.Last, c.WantResult, c.WantReason)
			}
			if s.Trial != 0 || s.Committed != root {
				t.Errorf("state %+v after the walk", s)
			}
			if _, ok := s.Roots[update.Other(root)]; c.WantResult == update.ResultNotInstalled && ok {
				t.Errorf("the half-written root still has a version: %+v", s.Roots)
			}
			cl, _ := b.ReadFile("cmdline.txt")
			if !strings.HasPrefix(string(cl), "console=serial0,115200 root=PARTUUID=50727231-0") || !strings.HasSuffix(string(cl), "init=/init\n") {
				t.Errorf("cmdline.txt changed beyond root=: %q", cl)
			}
			t.Logf("%s", s.Last.Summary())
		})
	}
}
