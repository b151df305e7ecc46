package boot

import (
	"os/exec"
	"sync"
)

// PID 1 inherits every orphan on the box: a process whose parent died is
// handed to the init, and when it exits it stays a zombie (a process table
// entry) until the init waits for it. The reaper (reap_linux.go) waits for
// them. It must never wait for a child someone else waits for, the
// supervised appliance above all: the status would be gone, and
// exec.Cmd.Wait would fail with ECHILD instead of saying how the appliance
// ended (and the back-off and the trial's crash count would see no
// crash). So every child the init starts itself is started through
// children, which holds a lock across the start and its registration; the
// reaper holds the same lock while it looks, and leaves an owned child
// alone.

// owned is the set of children whose exit status belongs to their
// starter (an exec.Cmd that will Wait).
type owned struct {
	mu   sync.Mutex
	pids map[int]bool
}

var children = &owned{pids: map[int]bool{}}

// start starts cmd and registers its process before the reaper can look.
func (o *owned) start(cmd *exec.Cmd) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	o.pids[cmd.Process.Pid] = true
	return nil
}

// done forgets pid once its starter's Wait has returned (and so reaped it).
func (o *owned) done(pid int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pids, pid)
}
