package hw

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"postroom/appliance/status"
	"postroom/internal/testutil"
)

// rig is a Front on fake pins, a recorded I²C display and a fake clock.
type rig struct {
	f                       *Front
	clock                   *testutil.Clock
	ready, mail, attn, butt *gpiotest.Pin
	rec                     *i2ctest.Record
	log                     *testutil.SyncBuffer
}

func newRig(t *testing.T, mod func(*Options)) *rig {
	t.Helper()
	r := &rig{
		clock: testutil.NewClock(testNow),
		ready: &gpiotest.Pin{N: "GPIO17"}, mail: &gpiotest.Pin{N: "GPIO27"},
		attn: &gpiotest.Pin{N: "GPIO22"}, butt: &gpiotest.Pin{N: "GPIO23", L: gpio.High},
		rec: &i2ctest.Record{},
		log: &testutil.SyncBuffer{},
	}
	d, err := NewSSD1306(r.rec, SSD1306Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Logger: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    r.clock.Now,
		Ready:  r.ready, Mail: r.mail, Attention: r.attn, Button: r.butt,
		Display: d,
	}
	if mod != nil {
		mod(&opts)
	}
	r.f = NewFront(opts)
	return r
}

// run advances the clock in steps, ticking the panel after each, and
// returns the LED levels seen after every step as a string per LED: "#"
// lit, "." dark.
func (r *rig) run(total, step time.Duration) (ready, mail, attn string) {
	var a, b, c strings.Builder
	for d := time.Duration(0); d < total; d += step {
		r.clock.Advance(step)
		r.f.Tick()
		a.WriteString(mark(r.ready))
		b.WriteString(mark(r.mail))
		c.WriteString(mark(r.attn))
	}
	return a.String(), b.String(), c.String()
}

func mark(p *gpiotest.Pin) string {
	if p.Read() == gpio.High {
		return "#"
	}
	return "."
}

func running() status.Snapshot {
	s := sampleSnapshot()
	s.Queue = status.Queue{}
	return s
}

func TestLEDPatterns(t *testing.T) {
	t.Run("ready blinks while booting, steady when running", func(t *testing.T) {
		r := newRig(t, nil)
		r.f.Show(status.Snapshot{Phase: status.PhaseBooting})
		ready, _, attn := r.run(2*time.Second, 250*time.Millisecond)
		if ready != "#..##..#" && ready != ".##..##." {
			t.Errorf("ready while booting = %s; want a 1 s blink", ready)
		}
		if attn != "........" {
			t.Errorf("attention while booting = %s; want off", attn)
		}
		r.f.Show(running())
		if ready, _, attn = r.run(2*time.Second, 250*time.Millisecond); ready != "########" || attn != "........" {
			t.Errorf("running: ready %s, attention %s; want steady on, off", ready, attn)
		}
	})
	t.Run("mail flashes once per delivery, rate-limited", func(t *testing.T) {
		r := newRig(t, nil)
		s := running()
		r.f.Show(s)
		r.run(time.Second, 100*time.Millisecond)
		s.AddMail(1, testNow)
		r.f.Show(s)
		if mark(r.mail) != "#" {
			t.Fatal("mail LED not lit at the delivery")
		}
		_, mail, _ := r.run(time.Second, 50*time.Millisecond)
		if mail != "##"+strings.Repeat(".", 18) {
			t.Errorf("one delivery = %s; want a flash of about 100 ms", mail)
		}
		// A burst of five deliveries 100 ms apart: two flashes, 1 s apart,
		// not five flickers.
		var seen strings.Builder
		for range 5 {
			s.AddMail(1, testNow)
			r.f.Show(s)
			seen.WriteString(mark(r.mail))
			_, m, _ := r.run(100*time.Millisecond, 50*time.Millisecond)
			seen.WriteString(m)
		}
		_, m, _ := r.run(1500*time.Millisecond, 50*time.Millisecond)
		seen.WriteString(m)
		got := seen.String()
		if n := strings.Count(got, ".#"); n != 1 || got[0] != '#' {
			t.Errorf("burst = %s; want a flash at once and one more after the gap", got)
		}
	})
	t.Run("attention", func(t *testing.T) {
		cases := map[string]func(*status.Snapshot){
			"service down": func(s *status.Snapshot) {
				s.SetService(status.Service{Name: "smtp", State: status.ServiceFailed, Error: "port in use"})
			},
			"queue stuck":   func(s *status.Snapshot) { s.Queue = status.Queue{Length: 1, Oldest: testNow.Add(-2 * time.Hour)} },
			"disk full":     func(s *status.Snapshot) { s.Disk.FreeBytes = s.Disk.TotalBytes / 20 },
			"cert expiring": func(s *status.Snapshot) { s.CertDaysLeft = 3 },
			"backup failed": func(s *status.Snapshot) { s.BackupError = "no USB disk" },
			"needs setup":   func(s *status.Snapshot) { s.Phase = status.PhaseNeedsSetup },
		}
		for name, mod := range cases {
			t.Run(name, func(t *testing.T) {
				r := newRig(t, nil)
				s := running()
				mod(&s)
				r.f.Show(s)
				if _, _, attn := r.run(time.Second, 250*time.Millisecond); attn != "####" {
					t.Errorf("attention = %s; want on", attn)
				}
				leds, _ := r.f.Report()
				if leds.Attention != status.LEDOn {
					t.Errorf("reported %+v", leds)
				}
			})
		}
	})
	t.Run("queue becomes stuck without a new Snapshot", func(t *testing.T) {
		r := newRig(t, nil)
		s := running()
		s.Queue = status.Queue{Length: 1, Oldest: testNow.Add(-59 * time.Minute)}
		r.f.Show(s)
		if _, _, attn := r.run(time.Minute, 30*time.Second); attn != ".." {
			t.Fatalf("attention = %s before the hour", attn)
		}
		if _, _, attn := r.run(2*time.Minute, 30*time.Second); !strings.HasSuffix(attn, "#") {
			t.Fatalf("attention = %s; want on after the queue's oldest passed one hour", attn)
		}
	})
	t.Run("halt turns every LED off", func(t *testing.T) {
		r := newRig(t, nil)
		r.f.Show(running())
		r.f.Show(func() status.Snapshot { s := running(); s.BackupError = "x"; return s }())
		if err := r.f.Halt(); err != nil {
			t.Fatal(err)
		}
		r.f.Show(running())
		r.f.Tick()
		if mark(r.ready)+mark(r.mail)+mark(r.attn) != "..." {
			t.Fatal("an LED is lit after Halt")
		}
	})
}

// TestUnchangedFrameSendsNothing: the same Snapshot again, ticks between
// page changes and the reported-LED echo from the Bus send no I²C byte.
func TestUnchangedFrameSendsNothing(t *testing.T) {
	r := newRig(t, func(o *Options) { o.PageTime = time.Hour })
	s := running()
	r.f.Show(s)
	r.f.Tick()
	if len(r.rec.Ops) == 0 {
		t.Fatal("the first frame sent nothing")
	}
	r.rec.Ops = nil
	r.f.Show(s)
	r.clock.Advance(time.Second)
	r.f.Tick()
	s.LEDs = status.LEDs{Ready: status.LEDOn} // what Follow writes back
	r.f.Show(s)
	r.clock.Advance(time.Second)
	r.f.Tick()
	if len(r.rec.Ops) != 0 {
		t.Fatalf("unchanged frame sent %d transfers: %s", len(r.rec.Ops), formatOps(r.rec.Ops))
	}
	// A changed host name sends only the changed part of the frame.
	s.Hostname = "post.example.com"
	r.f.Show(s)
	r.clock.Advance(time.Second)
	r.f.Tick()
	if len(r.rec.Ops) == 0 {
		t.Fatal("a changed page sent nothing")
	}
}

func TestRedrawsAreRateLimited(t *testing.T) {
	r := newRig(t, nil)
	s := running()
	r.f.Show(s)
	frames := r.f.frameCount
	for i := range 20 { // 20 changes within 100 ms
		s.Hostname = fmt.Sprintf("host%d", i)
		r.f.Show(s)
		r.clock.Advance(5 * time.Millisecond)
	}
	if got := r.f.frameCount - frames; got != 0 {
		t.Fatalf("%d frames drawn within %v of the last; want none", got, MinFrameInterval)
	}
	if wait := r.f.Tick(); wait > MinFrameInterval {
		t.Fatalf("Tick asks to wait %v with a frame pending", wait)
	}
	r.clock.Advance(MinFrameInterval)
	r.f.Tick()
	if got := r.f.frameCount - frames; got != 1 {
		t.Fatalf("%d frames after the interval; want 1 with the last count", got)
	}
}

func TestPageCycleAndAttentionPrecedence(t *testing.T) {
	r := newRig(t, nil)
	s := running()
	r.f.Show(s)
	seen := r.pages(5)
	want := []Page{PageAddress, PageSetup, PageMail, PageQueue, PageSystem}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("cycle = %v; want %v", seen, want)
	}

	s.BackupError = "USB disk missing"
	r.f.Show(s)
	r.clock.Advance(MinFrameInterval)
	r.f.Tick()
	for range 3 {
		if _, p := r.f.Frame(); p != PageAttention {
			t.Fatalf("page %v while there is a problem; want attention", p)
		}
		r.clock.Advance(DefaultPageTime)
		r.f.Tick()
	}
}

// press holds the button for d (pin low), with bounces at both ends, then
// releases it, ticking as Follow would.
func (r *rig) press(d time.Duration) {
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} { // bounce
		r.butt.Out(l)
		r.clock.Advance(2 * time.Millisecond)
		r.f.Tick()
	}
	for held := 6 * time.Millisecond; held < d; held += buttonPollBusy {
		r.clock.Advance(buttonPollBusy)
		r.f.Tick()
	}
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		r.butt.Out(l)
		r.clock.Advance(2 * time.Millisecond)
		r.f.Tick()
	}
	for range 10 {
		r.clock.Advance(buttonPollBusy)
		r.f.Tick()
	}
}

func TestButtonOnPanel(t *testing.T) {
	r := newRig(t, func(o *Options) { o.PageTime = time.Hour })
	s := running()
	r.f.Show(s)
	if _, p := r.f.Frame(); p != PageAddress {
		t.Fatalf("first page %v", p)
	}
	r.press(150 * time.Millisecond)
	if _, p := r.f.Frame(); p != PageSetup {
		t.Fatalf("after a short press: %v; want the next page, setup", p)
	}
	r.press(150 * time.Millisecond)
	if _, p := r.f.Frame(); p != PageMail {
		t.Fatalf("after two short presses: %v; want mail", p)
	}
	r.press(3 * time.Second)
	if _, p := r.f.Frame(); p != PageSetup {
		t.Fatalf("after a long press: %v; want setup", p)
	}
	if _, reset := r.f.Report(); !reset.IsZero() {
		t.Fatal("a long press asked for a reset")
	}
	r.press(11 * time.Second)
	if _, p := r.f.Frame(); p != PageReset {
		t.Fatalf("after a 10 s press: %v; want the reset page", p)
	}
	if _, reset := r.f.Report(); reset.IsZero() {
		t.Fatal("no reset request after a 10 s press")
	}
	r.clock.Advance(ManualHold)
	r.f.Tick()
	if _, p := r.f.Frame(); p == PageReset {
		t.Fatal("the reset page stays for ever")
	}
}

// TestDebouncer runs scripted edge sequences (times in ms, the level after
// the edge: true = pressed) and polls every 10 ms in between.
func TestDebouncer(t *testing.T) {
	type edge struct {
		at      int
		pressed bool
	}
	tests := []struct {
		name  string
		edges []edge
		until int
		want  []Press
	}{
		{"short press with bounces", []edge{{0, true}, {2, false}, {3, true}, {120, false}, {121, true}, {123, false}}, 400, []Press{PressShort}},
		{"glitch shorter than the debounce", []edge{{0, true}, {10, false}}, 400, nil},
		{"release glitch does not split a press", []edge{{0, true}, {100, false}, {110, true}, {300, false}}, 600, []Press{PressShort}},
		{"long press fires while held, nothing at release", []edge{{0, true}, {3000, false}}, 3500, []Press{PressLong}},
		{"ten seconds: long, then reset", []edge{{0, true}, {10500, false}}, 11000, []Press{PressLong, PressReset}},
		{"two presses", []edge{{0, true}, {100, false}, {300, true}, {400, false}}, 700, []Press{PressShort, PressShort}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d debouncer
			var got []Press
			pressed := false
			ei := 0
			for ms := 0; ms <= tt.until; ms++ {
				at := testNow.Add(time.Duration(ms) * time.Millisecond)
				edge := false
				for ei < len(tt.edges) && tt.edges[ei].at == ms {
					pressed, edge = tt.edges[ei].pressed, true
					ei++
				}
				if edge || ms%10 == 0 {
					if p := d.sample(pressed, at); p != PressNone {
						got = append(got, p)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("presses = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestNightDimsAndShiftMoves(t *testing.T) {
	r := newRig(t, func(o *Options) { o.NightFrom, o.NightTo = 22*60, 7*60; o.PageTime = time.Hour })
	r.f.Show(running())
	if r.f.contrast != ContrastDay {
		t.Fatal("dimmed by day")
	}
	day, _ := r.f.Frame()
	r.rec.Ops = nil
	r.clock.Advance(8 * time.Hour) // 22:30
	r.f.Tick()
	if r.f.contrast != ContrastNight {
		t.Fatal("not dimmed at night")
	}
	if !strings.Contains(string(formatOps(r.rec.Ops)), "0x3c W 0081"+fmt.Sprintf("%02x", ContrastNight)) {
		t.Errorf("no contrast command sent: %s", formatOps(r.rec.Ops))
	}
	night, _ := r.f.Frame()
	if night.Bounds() != day.Bounds() {
		t.Fatal("frame size changed")
	}
	// 8 h is 48 shift periods of 10 min: back at offset 0. One more period
	// moves the frame right by a pixel.
	r.clock.Advance(DefaultShiftEvery)
	r.f.Tick()
	moved, _ := r.f.Frame()
	if moved.GrayAt(1, 1) != night.GrayAt(0, 1) || string(moved.Pix) == string(night.Pix) {
		t.Error("the frame did not shift by one pixel")
	}
}

// failingBus is an I²C bus whose transfers fail after the first n.
type failingBus struct {
	mu sync.Mutex
	n  int
}

func (b *failingBus) String() string                    { return "failing" }
func (b *failingBus) SetSpeed(f physic.Frequency) error { return nil }
func (b *failingBus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n <= 0 {
		return errors.New("i2c: remote I/O error")
	}
	b.n--
	return nil
}

// TestFailingDisplayKeepsPanelRunning: the display stops answering under
// Follow; the panel logs it once, keeps the LEDs and the Bus going, and
// Follow still ends on cancel.
func TestFailingDisplayKeepsPanelRunning(t *testing.T) {
	bus := &failingBus{n: 1} // the set-up passes, every frame fails
	d, err := NewSSD1306(bus, SSD1306Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf testutil.SyncBuffer
	ready := &gpiotest.Pin{N: "GPIO17"}
	f := NewFront(Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), Display: d, Ready: ready})

	sb := status.NewBus(status.Snapshot{Phase: status.PhaseBooting})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Follow(ctx, sb, f); close(done) }()

	c, stop := sb.Subscribe()
	defer stop()
	sb.Update(func(s *status.Snapshot) { *s = running() })
	for i := 0; ; i++ {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("the panel never reported steady ready; log:\n%s", logBuf.String())
		}
		if sb.Latest().LEDs.Ready == status.LEDOn {
			break
		}
		if i%10 == 0 { // more Snapshots: each frame fails again
			sb.Update(func(s *status.Snapshot) { s.AddMail(1, time.Now()) })
		}
	}
	if ready.Read() != gpio.High {
		t.Error("ready LED off while the display fails")
	}
	cancel()
	<-done
	if n := strings.Count(logBuf.String(), "display not answering"); n != 1 {
		t.Errorf("logged the display failure %d times; want once:\n%s", n, logBuf.String())
	}
	if png := f.PNG(); len(png) == 0 {
		t.Error("no PNG while the display fails")
	}
}

// TestFollowReportsToBus: the simulated panel's LED states and a reset
// request reach the Snapshot, and the write-back settles.
func TestFollowReportsToBus(t *testing.T) {
	clock := testutil.NewClock(testNow)
	f := NewFront(Options{Logger: testutil.Logger(t), Now: clock.Now})
	sb := status.NewBus(status.Snapshot{Phase: status.PhaseBooting})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Follow(ctx, sb, f); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, ok func(status.Snapshot) bool) {
		c, stop := sb.Subscribe()
		defer stop()
		for {
			if ok(sb.Latest()) {
				return
			}
			select {
			case <-c:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s never reached the Bus: %+v", what, sb.Latest())
			}
		}
	}
	waitFor("booting blink", func(s status.Snapshot) bool { return s.LEDs.Ready == status.LEDBlink })
	sb.Update(func(s *status.Snapshot) { *s = running(); s.BackupError = "disk gone" })
	waitFor("attention", func(s status.Snapshot) bool {
		return s.LEDs.Ready == status.LEDOn && s.LEDs.Attention == status.LEDOn
	})
	f.mu.Lock()
	f.resetAt = clock.Now()
	f.mu.Unlock()
	sb.Update(func(s *status.Snapshot) { s.Unread++ }) // wake Follow
	waitFor("reset request", func(s status.Snapshot) bool { return s.ResetRequested.Equal(testNow) })
}

func TestFrameIsRenderOutput(t *testing.T) {
	clock := testutil.NewClock(testNow)
	f := NewFront(Options{Now: clock.Now, PageTime: time.Hour})
	f.Show(running())
	got, p := f.Frame()
	want := image.NewGray(got.Rect)
	Render(want, Screen{Page: p, Snapshot: running(), Now: testNow})
	if string(got.Pix) != string(want.Pix) {
		t.Fatal("the simulated panel's frame is not what Render draws")
	}
}

func TestTerminalPrintsNewFramesOnly(t *testing.T) {
	var buf testutil.SyncBuffer
	clock := testutil.NewClock(testNow)
	f := NewFront(Options{Terminal: &buf, Now: clock.Now, PageTime: time.Hour})
	f.Show(running())
	f.Show(running())
	out := buf.String()
	if n := strings.Count(out, "display: address\n"); n != 1 {
		t.Fatalf("printed %d frames; want 1:\n%s", n, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2+DisplayHeight/2+1 {
		t.Fatalf("%d lines; want %d", len(lines), 2+DisplayHeight/2+1)
	}
	for _, l := range lines[1:] {
		if n := len([]rune(l)); n != DisplayWidth+2 {
			t.Fatalf("line of %d characters; want %d: %q", n, DisplayWidth+2, l)
		}
	}
}

// TestButtonEdges: with edge detection the idle panel does not poll the
// button; an edge wakes it, it polls through the press (debouncing), and
// goes back to waiting.
func TestButtonEdges(t *testing.T) {
	edges := make(chan gpio.Level)
	r := newRig(t, func(o *Options) {
		o.ButtonEdges = true
		o.PageTime = time.Hour
		o.Button.(*gpiotest.Pin).EdgesChan = edges
	})
	defer r.f.Halt()
	r.f.Show(running())
	if wait := r.f.Tick(); wait < time.Second {
		t.Fatalf("idle panel with edge detection asks for a tick in %v", wait)
	}
	edge := func(l gpio.Level) {
		edges <- l // the watcher sets the pin's level from it
		select {
		case <-r.f.Wake():
		case <-time.After(10 * time.Second):
			t.Fatal("an edge did not wake the panel")
		}
	}
	settle := func() { // past the debounce and the redraw limit
		for range 30 {
			r.clock.Advance(buttonPollBusy)
			r.f.Tick()
		}
	}
	edge(gpio.Low)
	if wait := r.f.Tick(); wait > buttonPollBusy {
		t.Fatalf("after an edge the panel waits %v; want to poll through the press", wait)
	}
	r.clock.Advance(100 * time.Millisecond)
	r.f.Tick()
	edge(gpio.High)
	settle()
	if _, p := r.f.Frame(); p != PageSetup {
		t.Fatalf("after a short press by edges: %v; want the next page", p)
	}
	if wait := r.f.Tick(); wait < time.Second {
		t.Fatalf("after the press the panel still polls every %v", wait)
	}
}

func TestNeedsSetupShowsTheCode(t *testing.T) {
	r := newRig(t, nil)
	s := running()
	s.Phase = status.PhaseNeedsSetup
	s.Problem = "Setup is not finished: there are no mail accounts yet."
	r.f.Show(s)
	var seen []Page
	for range 3 {
		_, p := r.f.Frame()
		seen = append(seen, p)
		r.clock.Advance(DefaultPageTime)
		r.f.Tick()
	}
	if fmt.Sprint(seen) != fmt.Sprint([]Page{PageSetup, PageAddress, PageSetup}) {
		t.Fatalf("pages while setup is pending: %v; want the setup code and the address in turn", seen)
	}
	if mark(r.attn) != "#" {
		t.Error("red LED off while setup is pending")
	}
}
