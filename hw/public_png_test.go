package hw

import (
	"bytes"
	"image"
	"testing"

	"postroom/appliance/status"
)

// TestPublicPNGHidesTheCode: the status page's picture of the display
// draws the set-up page with "on the box" instead of the code; other
// pages are the display's own picture.
func TestPublicPNGHidesTheCode(t *testing.T) {
	r := newRig(t, nil)
	s := running()
	s.Phase = status.PhaseNeedsSetup
	s.SetupCode = "ACDE-FGHJ-KMNP"
	r.f.Show(s)
	if _, p := r.f.Frame(); p != PageSetup {
		t.Fatalf("page %v, want the set-up code", p)
	}
	render := func(code string) []byte {
		g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
		sn := s
		sn.SetupCode = code
		Render(g, Screen{Page: PageSetup, Snapshot: sn})
		b, err := EncodePNG(g, ContrastDay)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub := r.f.PublicPNG()
	if !bytes.Equal(r.f.PNG(), render("ACDE-FGHJ-KMNP")) {
		t.Fatal("the test draws the set-up page unlike the panel")
	}
	if bytes.Equal(pub, r.f.PNG()) || !bytes.Equal(pub, render("on the box")) {
		t.Error("the public picture is not the set-up page with the code hidden")
	}
	// The address page has no secret: the same picture.
	r.clock.Advance(DefaultPageTime)
	r.f.Tick()
	if _, p := r.f.Frame(); p != PageAddress {
		t.Fatalf("page %v, want the address", p)
	}
	if !bytes.Equal(r.f.PublicPNG(), r.f.PNG()) {
		t.Error("the address page's public picture differs")
	}
}
