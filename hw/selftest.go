package hw

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"postroom/appliance/status"
)

// SampleSnapshot is a Snapshot with every field a page shows, for the test
// pages of postroomctl hw test and the golden frames of the tests.
func SampleSnapshot(now time.Time) status.Snapshot {
	s := status.Snapshot{
		Phase:     status.PhaseRunning,
		Hostname:  "mail.example.com",
		Addresses: []string{"2001:db8::25", "192.168.1.20"},
		Services: []status.Service{
			{Name: "smtp", Title: "Incoming mail (SMTP)", Addr: "0.0.0.0:25", State: status.ServiceListening},
			{Name: "web", Title: "Status page (web)", Addr: "0.0.0.0:8080", State: status.ServiceListening},
		},
		ClockSynced:  true,
		Disk:         status.Disk{FreeBytes: 12_300_000_000, TotalBytes: 32_000_000_000, TrendBytesPerDay: -120_000_000},
		Unread:       5,
		Queue:        status.Queue{Length: 3, Oldest: now.Add(-25 * time.Minute)},
		CertExpires:  now.Add(80 * 24 * time.Hour),
		CertDaysLeft: 80,
		SetupCode:    "K7QM-42",
	}
	s.AddMail(12, now)
	s.AddSent(3, now)
	s.SetCPUTemp(48.6)
	return s
}

// PageSnapshot is SampleSnapshot made to suit page p: with problems for the
// attention page, starting for the starting page.
func PageSnapshot(p Page, now time.Time) status.Snapshot {
	s := SampleSnapshot(now)
	switch p {
	case PageAttention:
		s.Disk.FreeBytes = 1_000_000_000
		s.BackupError = "USB disk missing"
	case PageStarting:
		s.Phase = status.PhaseBooting
	case PageMoving:
		s.Moving = []status.Moving{{Account: "anna@example.org", From: "anna@oldmail.example on imap.oldmail.example", Fetched: 1234, Seen: 5678}}
	}
	return s
}

// SelfTest checks the wiring: it lights each LED alone, then all, then
// none, and draws the test pattern and every page (with PageSnapshot). After
// each step it calls report with the step's name and, for a drawn page, the
// frame as PNG; pause then lets a person look (time.Sleep on a board, a
// no-op in tests). A display error ends the test; LEDs that are not fitted
// are skipped. Run it while the appliance is stopped: they share the pins.
func (f *Front) SelfTest(ctx context.Context, pause func(context.Context) error, report func(step string, png []byte)) error {
	leds := []struct {
		name string
		on   [3]bool
	}{
		{"led ready (green)", [3]bool{true, false, false}},
		{"led mail", [3]bool{false, true, false}},
		{"led attention (red)", [3]bool{false, false, true}},
		{"leds all on", [3]bool{true, true, true}},
		{"leds all off", [3]bool{}},
	}
	for _, step := range leds {
		f.mu.Lock()
		for i, on := range step.on {
			f.setLED(i, gpio.Level(on))
		}
		f.mu.Unlock()
		report(step.name, nil)
		if err := pause(ctx); err != nil {
			return err
		}
	}
	now := f.now()
	for _, p := range append([]Page{PageTest}, AllPages[:len(AllPages)-1]...) {
		png, err := f.drawPage(p, PageSnapshot(p, now), now)
		if err != nil {
			return fmt.Errorf("page %s: %w", p, err)
		}
		report("page "+p.String(), png)
		if err := pause(ctx); err != nil {
			return err
		}
	}
	return nil
}

// drawPage shows page p for s at once, outside the cycle, and returns its
// PNG.
func (f *Front) drawPage(p Page, s status.Snapshot, now time.Time) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	Render(f.gray, Screen{Page: p, Snapshot: s, Now: now})
	packFrame(f.gray, f.bits)
	f.page, f.png = p, nil
	f.dirty = true // the normal cycle redraws over it
	if d := f.opts.Display; d != nil {
		if err := d.Draw(f.bits); err != nil {
			return nil, err
		}
	}
	return EncodePNG(f.gray, ContrastDay)
}
