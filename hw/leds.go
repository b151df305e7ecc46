package hw

import (
	"time"

	"periph.io/x/conn/v3/gpio"

	"postroom/appliance/status"
)

// LED timings.
const (
	// BlinkPeriod is one on-off cycle of a blinking LED (ready while
	// booting): half on, half off.
	BlinkPeriod = time.Second
	// MailFlash is how long the mail LED lights for one delivery.
	MailFlash = 120 * time.Millisecond
	// MailFlashGap is the least time from one mail flash to the next, so a
	// burst of deliveries is a calm blinking, not a flicker (and not a
	// stream of GPIO writes): deliveries inside the gap share one flash.
	MailFlashGap = time.Second
)

// ledStates derives the ready and attention LEDs from a Snapshot: green
// blinks while the box starts, updates or stops, is steady while every
// service runs and off when one has failed; red is on while anything needs
// a person (see status.Snapshot.Attention).
func ledStates(s status.Snapshot, now time.Time) (ready, attention status.LEDState) {
	switch {
	case s.Phase != status.PhaseRunning && s.Phase != status.PhaseNeedsSetup:
		ready = status.LEDBlink
	case len(s.Failed()) > 0:
		ready = status.LEDOff
	default:
		ready = status.LEDOn
	}
	attention = status.LEDOff
	if len(s.Attention(now)) > 0 || s.Phase == status.PhaseNeedsSetup {
		attention = status.LEDOn
	}
	return ready, attention
}

// deliveries returns how many messages came in or went out between two
// Snapshots, by the daily counters (a new day starts them from zero).
func deliveries(prev, cur status.Snapshot) int {
	n := 0
	if cur.MailDay == prev.MailDay {
		n += max(0, cur.MailToday-prev.MailToday)
	} else {
		n += cur.MailToday
	}
	if cur.SentDay == prev.SentDay {
		n += max(0, cur.SentToday-prev.SentToday)
	} else {
		n += cur.SentToday
	}
	return n
}

// level is what an LED in state st shows at now.
func level(st status.LEDState, now time.Time) gpio.Level {
	switch st {
	case status.LEDOn, status.LEDFlash:
		return gpio.High
	case status.LEDBlink:
		return gpio.Level(now.UnixNano()%int64(BlinkPeriod) < int64(BlinkPeriod/2))
	}
	return gpio.Low
}

// nextBlinkEdge is the time from now to the next change of a blinking LED.
func nextBlinkEdge(now time.Time) time.Duration {
	half := int64(BlinkPeriod / 2)
	return time.Duration(half - now.UnixNano()%half)
}
