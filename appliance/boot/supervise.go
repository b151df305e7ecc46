package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Backoff is the supervisor's restart policy: after a crash it waits Min,
// doubling each crash in a row up to Max; a run that lasted Stable or
// longer was healthy, and the next wait starts again from Min.
type Backoff struct {
	Min, Max, Stable time.Duration
}

// DefaultBackoff restarts a crashed appliance after 1 s, then 2, 4, ... up
// to a minute; ten healthy minutes forgive the earlier crashes.
var DefaultBackoff = Backoff{Min: time.Second, Max: time.Minute, Stable: 10 * time.Minute}

// Next returns the wait before the next start, given the previous wait
// (0 before the first crash) and how long the run that just ended lasted.
func (b Backoff) Next(prev, ran time.Duration) time.Duration {
	if prev <= 0 || ran >= b.Stable {
		return b.Min
	}
	return min(2*prev, b.Max)
}

// Exit describes one run of the child that ended.
type Exit struct {
	Start, End time.Time
	Err        error         // nil for exit status 0
	Crashes    int           // crashes in a row, this one included (0 after a clean exit)
	Wait       time.Duration // how long the supervisor waits before the next start
}

// Supervisor runs one program and starts it again when it ends, until its
// context is cancelled. The zero values of Now, Sleep and Backoff mean
// time.Now, a real timer and DefaultBackoff.
type Supervisor struct {
	Path   string   // the program
	Args   []string // its arguments, without the program name
	Env    []string // nil: the supervisor's environment
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger

	Backoff Backoff
	// StopGrace is how long the child has between SIGTERM and SIGKILL when
	// the supervisor stops (0: 20 s, enough for the appliance to finish
	// deliveries in flight and close its store).
	StopGrace time.Duration
	// Now and Sleep let tests run the supervisor on a fake clock. Sleep
	// returns early with ctx's error when ctx ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// OnStart is called when a child has started; OnExit after every run
	// (for the status page and the LED). Either may be nil.
	OnStart func(pid int)
	OnExit  func(Exit)

	mu      sync.Mutex
	crashes int
}

// Crashes returns the number of crashes in a row so far.
func (s *Supervisor) Crashes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashes
}

// Run starts the program and restarts it after each exit, waiting as the
// back-off says, until ctx ends; then it stops the running child (SIGTERM,
// then SIGKILL after StopGrace) and returns ctx's error.
func (s *Supervisor) Run(ctx context.Context) error {
	now, sleep, policy := s.Now, s.Sleep, s.Backoff
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = realSleep
	}
	if policy == (Backoff{}) {
		policy = DefaultBackoff
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wait time.Duration
	for {
		start := now()
		err := s.runOnce(ctx)
		end := now()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.mu.Lock()
		switch {
		case err == nil:
			s.crashes = 0
		case end.Sub(start) >= policy.Stable:
			s.crashes = 1 // the run before was healthy: a new series
		default:
			s.crashes++
		}
		crashes := s.crashes
		s.mu.Unlock()
		pause := policy.Min
		if err == nil {
			// A clean exit (a factory reset, a restart the page asked for)
			// is not a crash, and the next crash starts from Min again.
			wait = 0
			log.Info("program exited; starting it again", "program", s.Path, "ran", end.Sub(start))
		} else {
			wait = policy.Next(wait, end.Sub(start))
			pause = wait
			log.Error("program crashed; starting it again after a pause", "program", s.Path,
				"err", err, "crashes_in_a_row", crashes, "pause", pause, "ran", end.Sub(start))
		}
		if s.OnExit != nil {
			s.OnExit(Exit{Start: start, End: end, Err: err, Crashes: crashes, Wait: pause})
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
	}
}

// runOnce runs the program to its end, or stops it when ctx ends.
func (s *Supervisor) runOnce(ctx context.Context) error {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = s.Env
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	// Started through children: the init's reaper (reap.go) must leave
	// this child's exit status to cmd.Wait.
	if err := children.start(cmd); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	pid := cmd.Process.Pid
	if s.OnStart != nil {
		s.OnStart(pid)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		children.done(pid)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	grace := s.StopGrace
	if grace <= 0 {
		grace = 20 * time.Second
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		cmd.Process.Kill()
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		cmd.Process.Kill()
		return <-done
	}
}

func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
