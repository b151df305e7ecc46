// Package hw shows the appliance's status on its front panel: three LEDs
// (green ready, mail activity, red attention), a 128x64 SSD1306 display on
// I²C with pages that cycle, and a button. Off the board (a dev machine,
// qemu, a board without the parts) the same panel runs simulated: the LED
// states go into the status Snapshot and the frames into a PNG for the web
// page, so nobody needs the hardware to see what it shows.
//
// The map:
//
//	panel.go    Panel interface, Follow (the loop that feeds a panel from the Bus)
//	front.go    Front: LEDs, page cycle, redraw rate limit, night dimming, burn-in shift
//	leds.go     what each LED does for a Snapshot; blink and flash timing
//	render.go   Render, the one renderer of every page (x/image basicfont 7x13)
//	display.go  Display interface, SSD1306 over I²C (periph), frame packing, PNG
//	button.go   debouncer: short, long (setup code) and 10-second (reset request) presses
//	term.go     the frame as text for a terminal (make run, POSTROOM_DISPLAY=term)
//	open.go     Open: board detection (/proc/device-tree/model), pins and bus by name
//	selftest.go SelfTest (postroomctl hw test) and the sample Snapshot of the test pages
//
// The package reads appliance/status and nothing else of the appliance.
// Nothing here is ever fatal: a missing or failing part is logged and the
// rest of the panel, and the mail services, go on.
package hw

import (
	"context"
	"time"

	"postroom/appliance/status"
)

// Panel is the box's front: LEDs and display. Show is called with every new
// Snapshot (from one goroutine); Halt blanks the panel at shutdown.
type Panel interface {
	Show(status.Snapshot)
	Halt() error
}

// Ticker is a Panel with work of its own over time (blinking, page cycles,
// polling a button). Tick does what is due and returns how long until it
// is to be called again.
type Ticker interface {
	Tick() time.Duration
}

// Waker is a Ticker that sometimes needs a Tick before the time it asked
// for: Follow ticks it whenever Wake's channel (nil: never) is signalled.
type Waker interface {
	Wake() <-chan struct{}
}

// Reporter is a Panel whose state belongs in the Snapshot: the LED states
// (for the web page) and the time of the last factory-reset request made
// with the button (zero: none).
type Reporter interface {
	Report() (leds status.LEDs, resetRequested time.Time)
}

// Follow shows every new Snapshot of bus on panel until ctx ends; a Ticker
// is ticked when it asks, and what a Reporter reports is written back to
// the Bus when it changes. It does not Halt the panel.
//
// Writing to the Bus wakes Follow again with a Snapshot that differs only
// in what the panel reported; the panel draws the same frame, which sends
// nothing, and reports the same, which writes nothing: the loop settles.
func Follow(ctx context.Context, bus *status.Bus, panel Panel) {
	c, cancel := bus.Subscribe()
	defer cancel()
	ticker, _ := panel.(Ticker)
	reporter, _ := panel.(Reporter)
	var wake <-chan struct{}
	if w, ok := panel.(Waker); ok {
		wake = w.Wake()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		lastLEDs  status.LEDs
		lastReset time.Time
		reported  bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			panel.Show(bus.Latest())
		case <-timer.C:
		case <-wake:
			timer.Stop()
		}
		if ticker != nil {
			timer.Reset(ticker.Tick())
		}
		if reporter == nil {
			continue
		}
		leds, reset := reporter.Report()
		if reported && leds == lastLEDs && reset.Equal(lastReset) {
			continue
		}
		newReset := !reset.Equal(lastReset)
		lastLEDs, lastReset, reported = leds, reset, true
		bus.Update(func(s *status.Snapshot) {
			s.LEDs = leds
			if newReset && !reset.IsZero() {
				s.ResetRequested = reset
			}
		})
	}
}
