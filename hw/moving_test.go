package hw

import (
	"fmt"
	"testing"

	"postroom/appliance/status"
)

// TestMovingPageInCycle: while mail is moved in from the old provider,
// its page joins the cycle after the mail page; without a move it is not
// shown.
func TestMovingPageInCycle(t *testing.T) {
	r := newRig(t, nil)
	s := running()
	s.SetupCode = ""
	s.Moving = []status.Moving{{Account: "anna@example.org", Fetched: 10, Seen: 40}}
	r.f.Show(s)
	seen := r.pages(5)
	want := []Page{PageAddress, PageMail, PageMoving, PageQueue, PageSystem}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("cycle = %v; want %v", seen, want)
	}
	s.Moving = nil
	r.f.Show(s)
	for range 5 {
		r.clock.Advance(DefaultPageTime)
		r.f.Tick()
		if _, p := r.f.Frame(); p == PageMoving {
			t.Fatal("the moving page is shown with no move")
		}
	}
}

// pages is the page shown now and at each of the next n-1 page times.
func (r *rig) pages(n int) []Page {
	var seen []Page
	for range n {
		_, p := r.f.Frame()
		seen = append(seen, p)
		r.clock.Advance(DefaultPageTime)
		r.f.Tick()
	}
	return seen
}
