package boot

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Watchdog keeps a hardware watchdog from resetting the board while PID 1
// is alive: every Interval it writes a byte to Dev (/dev/watchdog). If the
// kernel or the init hangs, the writes stop and the watchdog resets the
// board. It never writes 'V', the "magic close" that would disarm it: a
// shutdown that hangs is reset too.
type Watchdog struct {
	Dev      io.Writer
	Interval time.Duration
	// Tick returns the channel of pets (nil: a real time.Ticker); tests
	// send on their own channel.
	Tick func(d time.Duration) (<-chan time.Time, func())
}

// Run pets the watchdog until ctx ends. A failed write is returned: the
// board will reset soon, and the caller says why on the console.
func (w *Watchdog) Run(ctx context.Context) error {
	tick := w.Tick
	if tick == nil {
		tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	c, stop := tick(w.Interval)
	defer stop()
	for {
		if _, err := w.Dev.Write([]byte{0}); err != nil {
			return fmt.Errorf("pet the watchdog: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c:
		}
	}
}
