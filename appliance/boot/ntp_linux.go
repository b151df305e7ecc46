package boot

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"
)

// keepClock sets the clock from the DHCP leases' time servers, then
// NTPServers, as soon as one answers (every 30 s until then, and at once
// when a lease names new ones) and again every hour, and tells the kernel
// the clock is synchronised.
func keepClock(ctx context.Context, cfg Config, ts *TimeServers, log *slog.Logger) {
	synced := false
	for {
		a, err := syncClockOnce(ctx, ts.Servers(NTPServers), time.Now, stepClock)
		switch {
		case err != nil && !synced:
			log.Info("clock not synchronised yet", "err", err)
		case err != nil:
			log.Warn("clock: no time server answered; keeping the time", "err", err)
		case !synced:
			synced = true
			cfg.Say("clock synchronised with %s (off by %v before)", a.Server, a.Offset.Round(time.Millisecond))
		}
		wait := time.Hour
		if !synced {
			wait = 30 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-ts.Changed():
		}
	}
}

// stepClock moves the system clock by offset when it is off by more than
// half a second (smaller errors are within what mail needs), then marks
// the kernel's clock synchronised with a small error bound: the kernel
// clears that mark by itself when the bound grows past 16 s, about nine
// hours without another sync.
func stepClock(offset time.Duration) error {
	if offset.Abs() > 500*time.Millisecond {
		tv := unix.NsecToTimeval(time.Now().Add(offset).UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			return err
		}
	}
	tx := unix.Timex{
		Modes:    unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR,
		Status:   0,       // STA_UNSYNC cleared
		Maxerror: 100_000, // µs
		Esterror: 10_000,
	}
	_, err := unix.Adjtimex(&tx)
	return err
}
