package hw

import (
	"image"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// BenchmarkRender renders each page into a reused frame, as the panel does.
func BenchmarkRender(b *testing.B) {
	for _, p := range AllPages {
		b.Run(p.String(), func(b *testing.B) {
			g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
			sc := Screen{Page: p, Snapshot: PageSnapshot(p, testNow), Now: testNow}
			b.ReportAllocs()
			for b.Loop() {
				Render(g, sc)
			}
		})
	}
}

// BenchmarkFrame is a whole redraw of the mail page: render, pack for the
// display, compare with the frame shown (unchanged: nothing is sent).
func BenchmarkFrame(b *testing.B) {
	g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
	bits := image1bit.NewVerticalLSB(g.Rect)
	d, _ := NewSSD1306(&i2ctest.Record{}, SSD1306Options{})
	sc := Screen{Page: PageMail, Snapshot: PageSnapshot(PageMail, testNow), Now: testNow}
	b.ReportAllocs()
	for b.Loop() {
		Render(g, sc)
		packFrame(g, bits)
		d.Draw(bits)
	}
}

// TestIdleBytesPerMinute runs a board panel (LEDs, button, recorded I²C
// display) for one minute of fake time with nothing happening and reports
// the bytes sent to the display. The bound guards against a redraw loop;
// the figure goes into docs/bench-panel.md.
func TestIdleBytesPerMinute(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageTime time.Duration
		bound    int
	}{
		{"cycling pages every 5 s", DefaultPageTime, 20_000},
		{"one page (attention)", 0, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			s := sampleSnapshot()
			if tc.pageTime == 0 {
				s.BackupError = "USB disk missing" // the attention page holds the screen
			}
			r.f.Show(s)
			r.clock.Advance(time.Minute) // settle: first frames and the first refresh
			r.f.Tick()
			r.rec.Ops = nil
			end := r.clock.Now().Add(time.Minute)
			ticks := 0
			for r.clock.Now().Before(end) {
				r.clock.Advance(r.f.Tick())
				ticks++
			}
			n := 0
			for _, op := range r.rec.Ops {
				n += len(op.W)
			}
			t.Logf("%s: %d bytes in %d transfers per idle minute; %d ticks", tc.name, n, len(r.rec.Ops), ticks)
			if n > tc.bound {
				t.Errorf("%d bytes a minute when idle; want at most %d", n, tc.bound)
			}
		})
	}
}
