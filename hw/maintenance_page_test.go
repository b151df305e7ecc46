package hw

import (
	"bytes"
	"image"
	"testing"

	"postroom/appliance/status"
)

// TestMaintenancePage: while the runner is stopped for an offline step the
// display says which step (the web page is down then), not "Starting".
func TestMaintenancePage(t *testing.T) {
	draw := func(f func(c canvas)) []byte {
		g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
		f(canvas{dst: g})
		return g.Pix
	}
	for _, c := range []struct {
		what  string
		lines []string
	}{
		{"factory reset", []string{"factory reset", "Mail is paused."}},
		{"restoring backup from the USB disk", []string{"restoring backup", "from the USB disk", "Mail is paused."}},
		{"", []string{"Mail is paused."}},
	} {
		s := status.Snapshot{Phase: status.PhaseMaintenance, Maintenance: c.what, Hostname: "box.example"}
		got := draw(func(cv canvas) { Render(cv.dst, Screen{Page: PageStarting, Snapshot: s, Now: testNow}) })
		want := draw(func(cv canvas) { cv.title("Maintenance", false); cv.lines(c.lines) })
		if !bytes.Equal(got, want) {
			t.Errorf("maintenance %q: the display does not read %q", c.what, c.lines)
		}
	}
}
