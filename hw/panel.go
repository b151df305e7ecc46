// Package hw shows the appliance's status on its hardware: LEDs for
// ready, mail activity and attention, and (later) a small display.
//
// For now there is only the Panel interface and a simulated panel that logs
// its LED changes; the real LEDs and display driven through periph come with
// their own issue and will implement the same interface. The package reads
// appliance/status and nothing else of the appliance.
package hw

import (
	"context"
	"log/slog"
	"sync"

	"postroom/appliance/status"
)

// Panel is the box's front: LEDs and display. Show is called with every new
// Snapshot (from one goroutine); Halt blanks the panel at shutdown.
type Panel interface {
	Show(status.Snapshot)
	Halt() error
}

// LEDs is the state of the three status LEDs.
type LEDs struct {
	Ready     bool // power/ready: the box is up and its services are listening
	Mail      bool // mail activity: a message arrived since the previous Snapshot
	Attention bool // something needs a person: a service is down, setup is not done, a problem is set
}

// LEDsFor derives the LEDs from the previous and the current Snapshot. The
// mail LED lights when the count of mail today went up between the two, so
// it flashes once per change rather than staying on all day.
func LEDsFor(prev, cur status.Snapshot) LEDs {
	attention := cur.Problem != "" || len(cur.Failed()) > 0 || cur.Phase == status.PhaseNeedsSetup
	mail := cur.MailDay == prev.MailDay && cur.MailToday > prev.MailToday ||
		cur.MailDay != prev.MailDay && cur.MailToday > 0
	return LEDs{
		Ready:     (cur.Phase == status.PhaseRunning || cur.Phase == status.PhaseNeedsSetup) && len(cur.Failed()) == 0,
		Mail:      mail,
		Attention: attention,
	}
}

// Simulated is the Panel used off the board: it keeps the LED state and
// logs every change at debug level. It draws nothing.
type Simulated struct {
	logger *slog.Logger

	mu     sync.Mutex
	prev   status.Snapshot
	leds   LEDs
	halted bool
}

// NewSimulated returns a simulated panel logging to logger (nil: slog.Default()).
func NewSimulated(logger *slog.Logger) *Simulated {
	if logger == nil {
		logger = slog.Default()
	}
	return &Simulated{logger: logger.With("panel", "simulated")}
}

// Show updates the LEDs from s and logs them when they changed.
func (p *Simulated) Show(s status.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.halted {
		return
	}
	leds := LEDsFor(p.prev, s)
	p.prev = s
	if leds != p.leds {
		p.leds = leds
		p.logger.Debug("LEDs", "ready", leds.Ready, "mail", leds.Mail, "attention", leds.Attention, "phase", s.Phase, "problem", s.Problem)
	}
}

// LEDs returns the current LED state.
func (p *Simulated) LEDs() LEDs {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leds
}

// Halt turns every LED off; later Show calls are ignored.
func (p *Simulated) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.halted {
		p.halted = true
		p.leds = LEDs{}
		p.logger.Debug("LEDs off: panel halted")
	}
	return nil
}

// Follow shows every new Snapshot of bus on panel until ctx ends. It does
// not Halt the panel.
func Follow(ctx context.Context, bus *status.Bus, panel Panel) {
	c, cancel := bus.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			panel.Show(bus.Latest())
		}
	}
}
