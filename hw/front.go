package hw

import (
	"bytes"
	"image"
	"io"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"postroom/appliance/status"
)

// Display and button timings.
const (
	// DefaultPageTime is how long each page stays before the next.
	DefaultPageTime = 5 * time.Second
	// DefaultShiftEvery is how often the frame moves by a pixel.
	DefaultShiftEvery = 10 * time.Minute
	// MinFrameInterval limits redraws to 5 a second: a whole frame takes
	// about 25 ms on I²C at 400 kHz and 100 ms at 100 kHz, and the panel's
	// lock is held meanwhile.
	MinFrameInterval = 200 * time.Millisecond
	// RefreshEvery redraws time-dependent text (queue age) and rechecks
	// the night and the attention rules without a new Snapshot.
	RefreshEvery = time.Minute
	// ManualHold is how long a page chosen with the button stays before
	// the attention page or the cycle takes over again.
	ManualHold = 30 * time.Second
	// buttonPoll and buttonPollBusy are the polling intervals of a button
	// without edge detection: idle, every 50 ms (a deliberate press lasts
	// 100 ms or more; about 0.2 % of a core); during a press, often enough
	// to debounce.
	buttonPoll     = 50 * time.Millisecond
	buttonPollBusy = 10 * time.Millisecond
	// maxWait is the longest Tick asks to wait.
	maxWait = time.Minute
	// displayRetryMax bounds the wait before a failed display is tried again.
	displayRetryMax = 5 * time.Minute
)

// Options configures a Front. Every field may be zero.
type Options struct {
	// Logger receives warnings (a display that stops answering) and, at
	// debug level, LED changes and button presses. nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock. nil: time.Now. Tests pass a fake one and call Tick.
	Now func() time.Time
	// Ready (green), Mail and Attention (red) are the LED pins, lit at
	// High. nil: that LED is not fitted; its state is still reported.
	Ready, Mail, Attention gpio.PinOut
	// Button is the button's pin, pressed at Low (wired to ground, with
	// the pull-up on). nil: no button.
	Button gpio.PinIn
	// ButtonEdges tells that Button was set up with gpio.BothEdges: the
	// panel then waits for an edge instead of polling, and polls only
	// during a press. That keeps an idle panel from waking 40 times a
	// second.
	ButtonEdges bool
	// Display shows the pages. nil: none fitted; the frames are still
	// rendered, for PNG and the terminal.
	Display Display
	// Terminal, when set, receives every new frame as text (make run with
	// POSTROOM_DISPLAY=term).
	Terminal io.Writer
	// PageTime is how long each page shows. 0: DefaultPageTime.
	PageTime time.Duration
	// ShiftEvery is how often the frame moves by one pixel against
	// burn-in. 0: DefaultShiftEvery.
	ShiftEvery time.Duration
	// NightFrom and NightTo are minutes after local midnight between which
	// the display is dimmed, e.g. 22*60 and 7*60. Equal: never dimmed.
	NightFrom, NightTo int
}

// Front is the panel: it turns Snapshots into LED levels, display frames
// and, from button presses, page changes and a factory-reset request. One
// renderer draws the frames whether a display is fitted or not, so the
// PNG that the web page shows is what the display shows.
//
// Show and Tick do the work; Follow calls them. All methods are safe for
// concurrent use; none blocks for long except on a slow display.
type Front struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	halted bool
	start  time.Time // for the burn-in shift schedule

	snap     status.Snapshot
	haveSnap bool
	// Derived from snap at Show and every RefreshEvery: cheap to use at
	// every tick.
	ready, attention status.LEDState
	alarm            bool   // Attention(now) is not empty
	cycle            []Page // the pages shown in turn
	refreshedAt      time.Time

	// Mail LED.
	mailPending bool
	lastFlash   time.Time
	flashUntil  time.Time

	leds   status.LEDs
	levels [3]gpio.Level
	wrote  [3]bool // levels[i] was written at least once
	// pinFailed[i]: the last write to LED i failed (logged once).
	pinFailed [3]bool

	// Pages.
	idx         int       // position in cycle
	part        int       // which three lines of a long attention text
	pageAt      time.Time // when the current page period began
	manualUntil time.Time // a page chosen with the button holds until then
	override    Page      // PageSetup or PageReset after a long press...
	overUntil   time.Time // ...until then

	button debouncer
	// pressing: an edge came (ButtonEdges); poll until the press is over.
	pressing bool
	wake     chan struct{} // Wake: an edge came
	stop     chan struct{} // closed by Halt: ends the edge watcher
	resetAt  time.Time     // last factory-reset request

	// Frames.
	dirty      bool
	lastDraw   time.Time
	gray       *image.Gray            // the current frame, as rendered
	scratch    *image.Gray            // the next frame, while deciding
	bits       *image1bit.VerticalLSB // gray packed for the display
	nextBits   *image1bit.VerticalLSB
	sent       bool // the display shows bits
	contrast   byte
	png        []byte // cache of PNG(); nil after a change
	page       Page   // page of gray
	retryAt    time.Time
	retryWait  time.Duration
	failures   int
	frameCount int
}

// NewFront returns a panel with the given parts; see Options.
func NewFront(opts Options) *Front {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PageTime <= 0 {
		opts.PageTime = DefaultPageTime
	}
	if opts.ShiftEvery <= 0 {
		opts.ShiftEvery = DefaultShiftEvery
	}
	r := image.Rect(0, 0, DisplayWidth, DisplayHeight)
	f := &Front{
		opts:      opts,
		log:       opts.Logger.With("panel", panelKind(opts)),
		now:       opts.Now,
		gray:      image.NewGray(r),
		scratch:   image.NewGray(r),
		bits:      image1bit.NewVerticalLSB(r),
		nextBits:  image1bit.NewVerticalLSB(r),
		contrast:  ContrastDay,
		dirty:     true,
		ready:     status.LEDBlink,
		attention: status.LEDOff,
		cycle:     []Page{PageStarting},
	}
	f.start = f.now()
	f.pageAt = f.start
	if opts.Button != nil && opts.ButtonEdges {
		f.wake, f.stop = make(chan struct{}, 1), make(chan struct{})
		go f.watchEdges()
	}
	return f
}

// watchEdges waits for the button's edges until Halt and wakes the panel
// at each. The timeout only bounds how long Halt waits for it to notice.
func (f *Front) watchEdges() {
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		if !f.opts.Button.WaitForEdge(time.Second) {
			continue
		}
		f.mu.Lock()
		f.pressing = true
		f.mu.Unlock()
		select {
		case f.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Wake is signalled when the panel needs a Tick before the time it asked
// for (a button edge); nil when it never does.
func (f *Front) Wake() <-chan struct{} { return f.wake }

// NewSimulated returns the panel used off the board: no LEDs, display or
// button, but the same LED states (reported to the Bus by Follow) and the
// same frames (PNG) as a real one.
func NewSimulated(logger *slog.Logger) *Front {
	return NewFront(Options{Logger: logger})
}

func panelKind(o Options) string {
	if o.Ready == nil && o.Mail == nil && o.Attention == nil && o.Button == nil && o.Display == nil {
		return "simulated"
	}
	return "board"
}

// Show takes a new Snapshot.
func (f *Front) Show(s status.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halted {
		return
	}
	now := f.now()
	if f.haveSnap && deliveries(f.snap, s) > 0 {
		f.mailPending = true
	}
	f.snap, f.haveSnap = s, true
	f.refresh(now)
	f.step(now)
}

// Tick does what is due at the panel's clock (blinking, page cycling,
// button polling, a rate-limited redraw) and returns how long until it
// should be called again.
func (f *Front) Tick() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halted {
		return maxWait
	}
	return f.step(f.now())
}

// Report returns the LED states and the time of the last factory-reset
// request (zero: none), for the Snapshot.
func (f *Front) Report() (status.LEDs, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leds, f.resetAt
}

// Frame returns a copy of the frame shown now and its page.
func (f *Front) Frame() (*image.Gray, Page) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := image.NewGray(f.gray.Rect)
	copy(g.Pix, f.gray.Pix)
	return g, f.page
}

// PNG returns the frame shown now as a PNG, dimmed at night like the
// display. It is encoded once per frame.
func (f *Front) PNG() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.png == nil {
		b, err := EncodePNG(f.gray, f.contrast)
		if err != nil {
			f.log.Error("display PNG", "err", err)
			return nil
		}
		f.png = b
	}
	return f.png
}

// PublicPNG is PNG for people who are not at the box (the status page):
// the set-up code, which proves that whoever types it is at the box
// (appliance/firstboot), is drawn as "on the box" instead. Other pages
// are the same as PNG.
func (f *Front) PublicPNG() []byte {
	f.mu.Lock()
	page, snap, contrast, now := f.page, f.snap, f.contrast, f.lastDraw
	shift := f.shift(now) // where the display draws it now (burn-in)
	f.mu.Unlock()
	if page != PageSetup || snap.SetupCode == "" {
		return f.PNG()
	}
	snap.SetupCode = "on the box"
	g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
	Render(g, Screen{Page: PageSetup, Snapshot: snap, Now: now, Shift: shift})
	b, err := EncodePNG(g, contrast)
	if err != nil {
		f.log.Error("display PNG", "err", err)
		return nil
	}
	return b
}

// Halt turns the LEDs off and blanks the display; later calls to Show and
// Tick do nothing.
func (f *Front) Halt() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halted {
		return nil
	}
	f.halted = true
	if f.stop != nil {
		close(f.stop)
	}
	var firstErr error
	for i, p := range f.pins() {
		if p != nil {
			if err := p.Out(gpio.Low); err != nil && firstErr == nil {
				firstErr = err
			}
			f.levels[i] = gpio.Low
		}
	}
	f.leds = status.LEDs{Ready: status.LEDOff, Mail: status.LEDOff, Attention: status.LEDOff}
	clear(f.gray.Pix)
	f.png = nil
	if f.opts.Display != nil {
		if err := f.opts.Display.Halt(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (f *Front) pins() [3]gpio.PinOut {
	return [3]gpio.PinOut{f.opts.Ready, f.opts.Mail, f.opts.Attention}
}

// refresh recomputes what derives from the Snapshot and the time.
func (f *Front) refresh(now time.Time) {
	f.refreshedAt = now
	f.dirty = true
	if !f.haveSnap {
		return
	}
	s := f.snap
	f.ready, f.attention = ledStates(s, now)
	f.alarm = len(s.Attention(now)) > 0
	switch s.Phase {
	case status.PhaseNeedsSetup:
		// What the person setting up needs is the code and where to type
		// it; the attention page only takes over when a service is down.
		f.alarm = len(s.Failed()) > 0
		f.cycle = append(f.cycle[:0], PageSetup, PageAddress)
	case status.PhaseRunning:
		f.cycle = f.cycle[:0]
		f.cycle = append(f.cycle, PageAddress)
		if s.SetupCode != "" {
			f.cycle = append(f.cycle, PageSetup)
		}
		f.cycle = append(f.cycle, PageMail)
		if len(s.Moving) > 0 {
			f.cycle = append(f.cycle, PageMoving)
		}
		f.cycle = append(f.cycle, PageQueue, PageSystem)
	default:
		f.cycle = append(f.cycle[:0], PageStarting)
	}
}

// step does everything due at now and returns the time until the next
// thing is due. f.mu is held.
func (f *Front) step(now time.Time) time.Duration {
	wait := maxWait
	due := func(at time.Time) {
		wait = min(wait, max(at.Sub(now), 0))
	}
	if now.Sub(f.refreshedAt) >= RefreshEvery {
		f.refresh(now)
	}
	due(f.refreshedAt.Add(RefreshEvery))

	if f.opts.Button != nil && (!f.opts.ButtonEdges || f.pressing || f.button.busy()) {
		f.press(f.button.sample(f.opts.Button.Read() == gpio.Low, now), now)
		switch {
		case f.button.busy():
			wait = min(wait, buttonPollBusy)
		case !f.opts.ButtonEdges:
			wait = min(wait, buttonPoll)
		default: // the press is over: wait for the next edge
			f.pressing = false
		}
	}

	// LEDs.
	if f.mailPending && now.Sub(f.lastFlash) >= MailFlashGap {
		f.mailPending, f.lastFlash, f.flashUntil = false, now, now.Add(MailFlash)
	}
	mail := status.LEDOff
	if now.Before(f.flashUntil) {
		mail = status.LEDFlash
		due(f.flashUntil)
	} else if f.mailPending {
		due(f.lastFlash.Add(MailFlashGap))
	}
	f.leds = status.LEDs{Ready: f.ready, Mail: mail, Attention: f.attention}
	for i, st := range []status.LEDState{f.ready, mail, f.attention} {
		f.setLED(i, level(st, now))
		if st == status.LEDBlink {
			wait = min(wait, nextBlinkEdge(now))
		}
	}

	// Pages.
	if now.Sub(f.pageAt) >= f.opts.PageTime {
		f.pageAt = now
		if f.alarm && !now.Before(f.manualUntil) {
			f.part++
		} else {
			f.idx++
		}
		f.dirty = true
	}
	due(f.pageAt.Add(f.opts.PageTime))

	// A button's choice or the attention page may have expired.
	if f.showing(now) != f.page {
		f.dirty = true
	}
	for _, t := range []time.Time{f.overUntil, f.manualUntil} {
		if now.Before(t) {
			due(t)
		}
	}

	// Frame.
	if f.dirty || !f.retryAt.IsZero() && !now.Before(f.retryAt) {
		next := f.lastDraw.Add(MinFrameInterval)
		if now.Before(next) {
			due(next)
		} else {
			f.draw(now)
		}
	}
	if !f.retryAt.IsZero() {
		due(f.retryAt)
	}
	return wait
}

// setLED writes level to LED i when it changed.
func (f *Front) setLED(i int, l gpio.Level) {
	p := f.pins()[i]
	if p == nil || f.wrote[i] && f.levels[i] == l {
		return
	}
	if err := p.Out(l); err != nil {
		if !f.pinFailed[i] { // once, not at every blink
			f.log.Warn("LED write failed", "pin", p.String(), "err", err)
		}
		f.pinFailed[i] = true
	} else {
		f.pinFailed[i] = false
	}
	f.levels[i], f.wrote[i] = l, true
}

// press acts on a button press.
func (f *Front) press(p Press, now time.Time) {
	if p == PressNone {
		return
	}
	f.log.Debug("button", "press", p.String())
	f.dirty = true
	switch p {
	case PressShort:
		// From the attention page, the first press shows the cycle's
		// current page; after that each press shows the next.
		if f.showing(now) != PageAttention {
			f.idx++
		}
		f.overUntil = time.Time{}
		f.manualUntil, f.pageAt = now.Add(ManualHold), now
	case PressLong:
		f.override, f.overUntil = PageSetup, now.Add(ManualHold)
	case PressReset:
		f.override, f.overUntil = PageReset, now.Add(ManualHold)
		f.resetAt = now
		f.log.Warn("factory reset requested with the button; it must be confirmed on the web page")
	}
}

// showing is the page for now.
func (f *Front) showing(now time.Time) Page {
	switch {
	case now.Before(f.overUntil):
		return f.override
	case f.alarm && !now.Before(f.manualUntil):
		return PageAttention
	}
	return f.cycle[f.idx%len(f.cycle)]
}

// shift is the burn-in offset for now: the frame walks around a 2x2 square.
func (f *Front) shift(now time.Time) image.Point {
	steps := [...]image.Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}
	return steps[int(now.Sub(f.start)/f.opts.ShiftEvery)%len(steps)]
}

// night tells whether now is in the dimmed hours.
func (f *Front) night(now time.Time) bool {
	from, to := f.opts.NightFrom, f.opts.NightTo
	if from == to {
		return false
	}
	m := now.Hour()*60 + now.Minute()
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

// draw renders the frame for now and sends it when it differs from what
// the display shows. A display error is logged and retried later with a
// growing wait; the LEDs, the PNG and everything else go on.
func (f *Front) draw(now time.Time) {
	f.dirty = false
	f.lastDraw = now
	page := f.showing(now)
	Render(f.scratch, Screen{Page: page, Snapshot: f.snap, Now: now, Shift: f.shift(now), Part: f.part})
	packFrame(f.scratch, f.nextBits)
	contrast := byte(ContrastDay)
	if f.night(now) {
		contrast = ContrastNight
	}
	changed := !bytes.Equal(f.nextBits.Pix, f.bits.Pix) || contrast != f.contrast
	f.page = page
	if changed {
		f.gray, f.scratch = f.scratch, f.gray
		f.bits, f.nextBits = f.nextBits, f.bits
		f.png = nil
		f.frameCount++
		if f.opts.Terminal != nil {
			writeTerminal(f.opts.Terminal, f.gray, page)
		}
	}
	d := f.opts.Display
	if d == nil || f.sent && !changed || !f.retryAt.IsZero() && now.Before(f.retryAt) {
		f.contrast = contrast
		return
	}
	var err error
	if contrast != f.contrast || !f.sent {
		err = d.SetContrast(contrast)
	}
	if err == nil {
		err = d.Draw(f.bits)
	}
	f.contrast = contrast
	if err != nil {
		f.sent = false
		f.failures++
		f.retryWait = min(max(2*f.retryWait, 5*time.Second), displayRetryMax)
		f.retryAt = now.Add(f.retryWait)
		// Log the first failure and then rarely: a missing display must not
		// fill the log.
		if f.failures == 1 || f.retryWait == displayRetryMax {
			f.log.Warn("display not answering; the panel goes on without it", "err", err, "retry_in", f.retryWait)
		}
		return
	}
	if f.failures > 0 {
		f.log.Info("display answers again", "after_failures", f.failures)
	}
	f.sent, f.failures, f.retryWait, f.retryAt = true, 0, 0, time.Time{}
}
