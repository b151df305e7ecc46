//go:build linux

package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReapOrphans plays PID 1 with a subreaper (orphans of the test's
// children come to the test process, as they come to the init on the
// board): the supervised program leaves an orphan behind and exits with
// status 3, again and again. The reaper must take every orphan (no zombie
// child of the test remains), and must not take the supervised program's
// exit: each run must end as "exit status 3", which a reaper that waited
// for any child (wait4(-1)) would sometimes steal from exec.Cmd.Wait, as
// the program's own SIGCHLD wakes the reaper just when Wait wants it.
func TestReapOrphans(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithCancel(context.Background())
	reaped := make(chan struct{})
	go func() { Reap(ctx, nil); close(reaped) }()
	defer func() { cancel(); <-reaped }()

	const runs = 40
	var exits []Exit
	supCtx, stop := context.WithCancel(context.Background())
	defer stop()
	sup := &Supervisor{
		Path: sh,
		// The orphan outlives the shell by a moment; sometimes it ends
		// first, sometimes after.
		Args:    []string{"-c", "sleep 0.00$(($$ % 3)) & exit 3"},
		Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond, Stable: time.Hour},
		Sleep:   func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		OnExit: func(e Exit) {
			exits = append(exits, e)
			if len(exits) == runs {
				stop()
			}
		},
	}
	sup.Run(supCtx)
	for i, e := range exits {
		var ee *exec.ExitError
		if !errors.As(e.Err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("run %d ended with %v, want exit status 3: the reaper took the supervised program's status", i+1, e.Err)
		}
	}
	if len(exits) != runs || exits[runs-1].Crashes != runs {
		t.Errorf("%d runs, the last with %d crashes in a row; want %d of each", len(exits), exits[len(exits)-1].Crashes, runs)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		z := zombieChildren(t)
		if len(z) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombie children left: %v", z)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombieChildren lists the test process's children that have exited and
// were not waited for.
func zombieChildren(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && state == "Z" && ppid == os.Getpid() {
			out = append(out, p)
		}
	}
	return out
}
