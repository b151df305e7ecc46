package boot

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"postroom/internal/testutil"
)

func TestBackoffNext(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second, Stable: time.Minute}
	cases := []struct {
		prev, ran, want time.Duration
	}{
		{0, 0, time.Second},               // first crash
		{time.Second, 0, 2 * time.Second}, // doubles
		{4 * time.Second, 5 * time.Second, 8 * time.Second},
		{8 * time.Second, 0, 10 * time.Second},       // capped
		{10 * time.Second, 0, 10 * time.Second},      // stays capped
		{10 * time.Second, time.Minute, time.Second}, // a healthy run forgives
		{10 * time.Second, 59 * time.Second, 10 * time.Second},
	}
	for _, c := range cases {
		if got := b.Next(c.prev, c.ran); got != c.want {
			t.Errorf("Next(%v, %v) = %v, want %v", c.prev, c.ran, got, c.want)
		}
	}
}

// helperEnv makes the test binary act as the supervised child: see
// TestMain.
const helperEnv = "POSTROOM_BOOT_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "crash":
		os.Exit(3)
	case "clean":
		os.Exit(0)
	case "serve":
		// Run until SIGTERM, which ends a Go program with status
		// "signal: terminated"; a real appliance exits 0 on it.
		select {}
	}
	os.Exit(m.Run())
}

// fakeTime is the supervisor's clock in tests: Sleep records the pause and
// moves the clock on by it, at once, and cancels the run after stopAt
// pauses.
type fakeTime struct {
	mu     sync.Mutex
	clock  *testutil.Clock
	pauses []time.Duration
	stopAt int // cancel after this many pauses
	cancel context.CancelFunc
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.pauses = append(f.pauses, d)
	n := len(f.pauses)
	f.mu.Unlock()
	f.clock.Advance(d)
	if n >= f.stopAt {
		f.cancel()
		return ctx.Err()
	}
	return nil
}

func newSupervisor(t *testing.T, mode string, ft *fakeTime) *Supervisor {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Supervisor{
		Path:    exe,
		Args:    []string{"-test.run=^$"},
		Env:     append(os.Environ(), helperEnv+"="+mode),
		Backoff: Backoff{Min: time.Second, Max: 4 * time.Second, Stable: time.Minute},
		Now:     ft.clock.Now,
		Sleep:   ft.sleep,
	}
}

// TestSupervisorBacksOff runs a real child that crashes at once, five
// times: the pauses double up to Max and each exit is reported.
func TestSupervisorBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := &fakeTime{clock: testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), stopAt: 5, cancel: cancel}
	s := newSupervisor(t, "crash", ft)
	var exits []Exit
	s.OnExit = func(e Exit) { exits = append(exits, e) }
	if err := s.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if !slices.Equal(ft.pauses, want) {
		t.Errorf("pauses %v, want %v", ft.pauses, want)
	}
	if len(exits) != 5 {
		t.Fatalf("%d exits reported, want 5", len(exits))
	}
	for i, e := range exits {
		var exitErr *exec.ExitError
		if !errors.As(e.Err, &exitErr) || exitErr.ExitCode() != 3 {
			t.Errorf("exit %d: err %v, want exit status 3", i, e.Err)
		}
		if e.Crashes != i+1 || e.Wait != want[i] {
			t.Errorf("exit %d: crashes %d wait %v, want %d %v", i, e.Crashes, e.Wait, i+1, want[i])
		}
	}
	if s.Crashes() != 5 {
		t.Errorf("Crashes() = %d, want 5", s.Crashes())
	}
}

// TestSupervisorCleanExit: a child that exits 0 is started again after
// Min, and is not counted as a crash.
func TestSupervisorCleanExit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := &fakeTime{clock: testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), stopAt: 3, cancel: cancel}
	s := newSupervisor(t, "clean", ft)
	s.Run(ctx)
	if want := []time.Duration{time.Second, time.Second, time.Second}; !slices.Equal(ft.pauses, want) {
		t.Errorf("pauses %v, want %v", ft.pauses, want)
	}
	if s.Crashes() != 0 {
		t.Errorf("Crashes() = %d after clean exits", s.Crashes())
	}
}

// TestSupervisorStopsChild: cancelling the context stops a running child
// with SIGTERM, and Run returns without waiting for StopGrace.
func TestSupervisorStopsChild(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ft := &fakeTime{clock: testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), stopAt: 100, cancel: cancel}
	s := newSupervisor(t, "serve", ft)
	s.StopGrace = time.Hour // SIGKILL would come far too late to pass
	exited := make(chan Exit, 1)
	s.OnExit = func(e Exit) { exited <- e }
	started := 0
	s.OnStart = func(int) { started++; cancel() }
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel: child not stopped")
	}
	select {
	case e := <-exited:
		t.Errorf("a stop was reported as an exit: %+v", e)
	default:
	}
	if len(ft.pauses) != 0 || started != 1 {
		t.Errorf("started %d times, pauses %v: want one start, no restart", started, ft.pauses)
	}
}

// TestSupervisorForgivesHealthyRun: a crash after a run of Stable or more
// starts a new series: pause Min, one crash in a row.
func TestSupervisorForgivesHealthyRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := &fakeTime{clock: testutil.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), stopAt: 5, cancel: cancel}
	s := newSupervisor(t, "crash", ft)
	runs := 0
	s.OnStart = func(int) {
		runs++
		if runs == 3 {
			ft.clock.Advance(2 * time.Minute) // the third run lasts two fake minutes
		}
	}
	var crashes []int
	s.OnExit = func(e Exit) { crashes = append(crashes, e.Crashes) }
	s.Run(ctx)
	wantPauses := []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}
	if !slices.Equal(ft.pauses, wantPauses) {
		t.Errorf("pauses %v, want %v", ft.pauses, wantPauses)
	}
	if want := []int{1, 2, 1, 2, 3}; !slices.Equal(crashes, want) {
		t.Errorf("crashes in a row %v, want %v", crashes, want)
	}
}
