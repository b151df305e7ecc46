package hw

import "time"

// Press is what a finished or long-held button press means.
type Press int

const (
	PressNone  Press = iota
	PressShort       // released before LongPress: next page
	PressLong        // held LongPress: setup code and address
	PressReset       // held ResetPress: ask for a factory reset
)

func (p Press) String() string {
	return [...]string{"none", "short", "long", "reset"}[p]
}

// Button timings. A mechanical button bounces for a few milliseconds when
// it closes and opens; a level counts only once it held for Debounce.
const (
	Debounce   = 30 * time.Millisecond
	LongPress  = 2 * time.Second
	ResetPress = 10 * time.Second
)

// debouncer turns raw samples of the button into presses. It is fed every
// level change (an edge) or poll with its time; it never looks at a clock.
type debouncer struct {
	raw      bool      // last raw level: pressed or not
	rawSince time.Time // when raw last changed

	pressed   bool      // debounced level
	pressedAt time.Time // when the debounced press began (its first raw edge)
	long      bool      // PressLong (or PressReset) was reported for this press
	reset     bool      // PressReset was reported for this press
}

// sample records the raw level at now and returns a press when one is
// recognised: PressLong and PressReset while the button is still held,
// PressShort at the (debounced) release of a press shorter than LongPress.
// A release after a long press reports nothing: it was reported already.
func (d *debouncer) sample(pressed bool, now time.Time) Press {
	if pressed != d.raw {
		d.raw, d.rawSince = pressed, now
	}
	if d.raw != d.pressed && now.Sub(d.rawSince) >= Debounce {
		d.pressed = d.raw
		if d.pressed {
			d.pressedAt, d.long, d.reset = d.rawSince, false, false
		} else if !d.long {
			return PressShort
		}
	}
	if !d.pressed {
		return PressNone
	}
	held := now.Sub(d.pressedAt)
	switch {
	case !d.reset && held >= ResetPress:
		d.reset, d.long = true, true
		return PressReset
	case !d.long && held >= LongPress:
		d.long = true
		return PressLong
	}
	return PressNone
}

// busy tells whether a press may be under way, so the panel polls the
// button often.
func (d *debouncer) busy() bool { return d.raw || d.pressed }

// next returns how long until sample may recognise something new without a
// change of level: the debounce settling, or the long and reset thresholds.
// ok is false when only an edge can change anything.
func (d *debouncer) next(now time.Time) (wait time.Duration, ok bool) {
	if d.raw != d.pressed {
		return max(0, Debounce-now.Sub(d.rawSince)), true
	}
	if !d.pressed || d.reset {
		return 0, false
	}
	held := now.Sub(d.pressedAt)
	if !d.long {
		return max(0, LongPress-held), true
	}
	return max(0, ResetPress-held), true
}
