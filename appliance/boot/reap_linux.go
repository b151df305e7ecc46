//go:build linux

package boot

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reapRetry is how often the reaper looks again when a round stopped at a
// child someone else owns (that owner's Wait reaps it soon; the orphans
// queued behind it are taken at the next look).
const reapRetry = time.Second

// Reap waits for orphaned children as they exit (on SIGCHLD, and every
// reapRetry while an owned child's exit is pending), until ctx ends. PID 1
// runs it for the whole box; a test runs it as a subreaper
// (PR_SET_CHILD_SUBREAPER).
func Reap(ctx context.Context, log *slog.Logger) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	retry := time.NewTimer(reapRetry)
	defer retry.Stop()
	for {
		n, blocked := children.reapOrphans()
		if n > 0 && log != nil {
			log.Debug("reaped orphaned processes", "count", n)
		}
		if blocked {
			retry.Reset(reapRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-retry.C:
		}
	}
}

// reapOrphans waits for every exited child that nobody owns, without
// blocking. It looks at the next exited child with WNOWAIT first (which
// leaves it a zombie) and waits for that pid only if it is no one's:
// blocked says it stopped at an owned child whose owner has not yet
// waited for it.
func (o *owned) reapOrphans() (n int, blocked bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		pid := siginfoPid(&info)
		if err != nil || pid == 0 { // ECHILD: no children; 0: none has exited
			return n, false
		}
		if o.pids[pid] {
			return n, true
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return n, false
		}
		n++
	}
}

// siginfoPid reads si_pid, the first field of the union after the three
// int32s of Linux's siginfo_t (x/sys/unix keeps the union opaque): the
// union is pointer-aligned, at byte 16 on 64-bit machines, 12 on 32-bit.
func siginfoPid(info *unix.Siginfo) int {
	b := (*[unsafe.Sizeof(*info)]byte)(unsafe.Pointer(info))
	off := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(int32(binary.NativeEndian.Uint32(b[off : off+4])))
}
