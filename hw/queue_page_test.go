package hw

import (
	"bytes"
	"image"
	"testing"
	"time"

	"postroom/appliance/status"
)

// TestQueuePageShowsBounces: after a bounce the queue page must not say
// "all sent" (it once did, the queue being empty again).
func TestQueuePageShowsBounces(t *testing.T) {
	draw := func(f func(c canvas)) []byte {
		g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
		f(canvas{dst: g})
		return g.Pix
	}
	page := func(s status.Snapshot) []byte {
		return draw(func(c canvas) { Render(c.dst, Screen{Page: PageQueue, Snapshot: s, Now: testNow}) })
	}
	want := func(big, footer string) []byte {
		return draw(func(c canvas) { c.title("Outgoing mail", false); c.big(big); c.footer(footer) })
	}
	var bounced, yesterday, waiting status.Snapshot
	bounced.AddFailed(1, testNow)
	yesterday.AddFailed(3, testNow.Add(-24*time.Hour))
	waiting.AddFailed(2, testNow)
	waiting.Queue = status.Queue{Length: 4, Oldest: testNow.Add(-time.Hour)}
	for _, c := range []struct {
		name        string
		s           status.Snapshot
		big, footer string
	}{
		{"nothing", status.Snapshot{}, "empty", "all sent"},
		{"a bounce today", bounced, "1 failed", "could not deliver"},
		{"bounces yesterday", yesterday, "empty", "all sent"},
		{"waiting and bounced", waiting, "4 wait", "2 failed today"},
	} {
		if !bytes.Equal(page(c.s), want(c.big, c.footer)) {
			t.Errorf("%s: the queue page does not read %q / %q", c.name, c.big, c.footer)
		}
	}
}
