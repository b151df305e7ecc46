package boot

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestWaitSettled: a USB disk that appears during the first readings is
// waited for; once nothing changes for one interval the wait ends; a bus
// that never settles ends the wait at maxWait.
func TestWaitSettled(t *testing.T) {
	cases := []struct {
		name       string
		changes    int // the fake bus adds a device during this many sleeps
		wantSleeps int
		wantOK     bool
	}{
		{"nothing plugged in", 0, 1, true},
		{"a disk appears late", 3, 4, true},
		{"never settles", 100, 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			sleeps := 0
			var slept time.Duration
			sleep := func(_ context.Context, d time.Duration) error {
				sleeps++
				slept += d
				if sleeps <= c.changes {
					if err := os.Mkdir(filepath.Join(dir, "1-"+strconv.Itoa(sleeps)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			}
			ok := WaitSettled(context.Background(), []string{dir, filepath.Join(dir, "missing")}, 500*time.Millisecond, 5*time.Second, sleep)
			if ok != c.wantOK || sleeps != c.wantSleeps {
				t.Errorf("settled %v after %d sleeps, want %v after %d", ok, sleeps, c.wantOK, c.wantSleeps)
			}
			if slept > 5*time.Second {
				t.Errorf("waited %v, more than maxWait", slept)
			}
		})
	}
}

func TestWaitSettledStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sleep := func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	if WaitSettled(ctx, []string{t.TempDir()}, time.Second, time.Minute, sleep) {
		t.Error("settled although the context had ended")
	}
}
