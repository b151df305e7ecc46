package hw

import (
	"image"
	"testing"
)

// FuzzRender draws every page with arbitrary texts: nothing may panic, and
// the unshifted frame must leave the last column and row free for the
// burn-in shift.
func FuzzRender(f *testing.F) {
	f.Add("mail.example.com", "K7QM-42", "The disk is 97% full.", "192.168.1.20")
	f.Add("", "", "", "")
	f.Add("ünïcödé-høst", "\x00\xff", "averyveryveryveryveryverylongwordwithoutspaces and more", "::1")
	f.Add("a b", "123456789012345678901234", "x\ny\tz", "not an address")
	f.Fuzz(func(t *testing.T, host, code, problem, addr string) {
		s := SampleSnapshot(testNow)
		s.Hostname, s.SetupCode, s.Problem, s.Addresses = host, code, problem, []string{addr}
		g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
		for _, p := range AllPages {
			if p == PageTest {
				continue // the test pattern marks the frame's edges on purpose
			}
			for part := range 3 {
				Render(g, Screen{Page: p, Snapshot: s, Now: testNow, Part: part})
				for y := 0; y < DisplayHeight; y++ {
					if g.Pix[y*g.Stride+DisplayWidth-1] != 0 {
						t.Fatalf("page %v draws in the last column at y=%d", p, y)
					}
				}
				for x := 0; x < DisplayWidth; x++ {
					if g.Pix[(DisplayHeight-1)*g.Stride+x] != 0 {
						t.Fatalf("page %v draws in the last row at x=%d", p, x)
					}
				}
			}
		}
	})
}
