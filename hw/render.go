package hw

import (
	"fmt"
	"image"
	"net"
	"strings"
	"time"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"postroom/appliance/status"
)

// The display is 128x64 one-bit pixels. Every page is laid out in 127x63 so
// that the burn-in shift (at most one pixel right and down) never clips it.
const (
	DisplayWidth  = 128
	DisplayHeight = 64
)

// Page is one screen of the display.
type Page int

const (
	PageAddress   Page = iota // host name and IP addresses
	PageSetup                 // setup code and address (long press; in the cycle while setup is pending)
	PageMail                  // mail received and sent today, unread
	PageQueue                 // outgoing queue length and age
	PageSystem                // disk, temperature, clock
	PageAttention             // the most important problem, in words
	PageStarting              // booting, updating, shutting down
	PageReset                 // a factory reset was requested with the button
	PageTest                  // test pattern for postroomctl hw test
	PageMoving                // mail being moved in from the old provider (in the cycle while a move runs)
)

var pageNames = [...]string{"address", "setup", "mail", "queue", "system", "attention", "starting", "reset", "test", "moving"}

func (p Page) String() string {
	if p >= 0 && int(p) < len(pageNames) {
		return pageNames[p]
	}
	return fmt.Sprintf("page(%d)", int(p))
}

// AllPages lists every page, for tests and postroomctl hw test.
var AllPages = []Page{PageAddress, PageSetup, PageMail, PageQueue, PageSystem, PageAttention, PageStarting, PageReset, PageTest, PageMoving}

// Screen is everything one frame depends on. Render is a pure function of
// it, so that an unchanged Screen gives the same pixels and sends nothing.
type Screen struct {
	Page     Page
	Snapshot status.Snapshot
	Now      time.Time
	// Shift moves the whole frame by up to one pixel right and down, against
	// burn-in of the OLED.
	Shift image.Point
	// Part selects which three lines of a long attention text are shown.
	Part int
}

// Font: the 7x13 bitmap face of x/image is crisp on a one-bit display and
// fits 18 characters a line; titles and body text use it as is, and the big
// figures (mail count, setup code) drawn twice the size, 9 characters a line.
var face = basicfont.Face7x13

const (
	charW      = 7
	lineH      = 13
	titleBase  = 10 // baseline of the title line
	ruleY      = 13
	bodyBase0  = 26 // baselines of the three body lines
	bodyStep   = 13
	bigBase    = 37 // baseline of a double-size figure
	footerBase = 60 // baseline of the line under a big figure
	usableW    = DisplayWidth - 1
	maxChars   = usableW / charW // 18
)

// Render draws s into dst (DisplayWidth x DisplayHeight, white on black).
// It is the one renderer of the panel: the real display, the simulated
// panel's PNG, the terminal view and postroomctl hw test all use it.
func Render(dst *image.Gray, s Screen) {
	clear(dst.Pix)
	c := canvas{dst: dst, off: s.Shift}
	snap := s.Snapshot
	switch s.Page {
	case PageAddress:
		c.title("Postroom", false)
		lines := []string{snap.Hostname}
		lines = append(lines, displayAddresses(snap.Addresses, 2)...)
		if len(snap.Addresses) == 0 {
			lines = append(lines, "no network")
		}
		c.lines(lines)
	case PageSetup:
		c.title("Setup code", false)
		code := snap.SetupCode
		if code == "" {
			code = "done"
		}
		c.big(code)
		c.footer(webAddress(snap))
	case PageMail:
		c.title("Mail today", false)
		c.big(fmt.Sprintf("%d in", snap.MailOn(s.Now)))
		c.footer(fmt.Sprintf("%d out  %d unread", snap.SentOn(s.Now), snap.Unread))
	case PageQueue:
		c.title("Outgoing mail", false)
		q := snap.Queue
		failed := snap.FailedOn(s.Now)
		switch {
		case q.Length == 0 && failed > 0:
			// A bounce is news for the office: "all sent" would be false.
			c.big(fmt.Sprintf("%d failed", failed))
			c.footer("could not deliver")
		case q.Length == 0:
			c.big("empty")
			c.footer("all sent")
		default:
			c.big(fmt.Sprintf("%d wait", q.Length))
			if failed > 0 {
				c.footer(fmt.Sprintf("%d failed today", failed))
			} else if !q.Oldest.IsZero() {
				c.footer("oldest " + age(s.Now.Sub(q.Oldest)))
			}
		}
	case PageSystem:
		c.title("System", false)
		d := snap.Disk
		lines := []string{"disk ?", "", ""}
		if d.TotalBytes > 0 {
			lines[0] = fmt.Sprintf("disk %.0f%% used", d.UsedPercent())
			lines[1] = bytesText(int64(d.FreeBytes)) + " free"
			if d.TrendBytesPerDay < 0 { // filling: how fast matters more than the word "free"
				lines[1] = bytesText(int64(d.FreeBytes)) + " " + bytesText(d.TrendBytesPerDay) + "/d"
			}
		}
		if t, ok := snap.CPUTemp(); ok {
			lines[2] = fmt.Sprintf("cpu %.0f\u00b0C", t)
		}
		if !snap.ClockSynced {
			lines[2] = strings.TrimSpace(lines[2] + " clock?")
		}
		if b := snap.Backup; b.Running == "saving" {
			lines[2] = fmt.Sprintf("backup %d%%", b.Percent)
		} else if b.Running != "" {
			lines[2] = "backup check" // the restore test
		}
		c.lines(lines)
	case PageAttention:
		c.title("! Attention", true)
		text := strings.Join(snap.Attention(s.Now), " ")
		if text == "" {
			text = "All is well."
		}
		lines := wrap(text, maxChars)
		parts := (len(lines) + 2) / 3
		from := 3 * (s.Part % max(parts, 1))
		c.lines(lines[from:min(from+3, len(lines))])
	case PageStarting:
		if snap.Phase == status.PhaseMaintenance {
			// The services (the web page too) are stopped for an
			// offline step: only the display can say which.
			lines := wrap(snap.Maintenance, maxChars)
			c.title("Maintenance", false)
			c.lines(append(lines[:min(len(lines), 2)], "Mail is paused."))
			break
		}
		c.title("Postroom", false)
		word := "Starting"
		switch snap.Phase {
		case status.PhaseUpdating:
			word = "Updating"
		case status.PhaseShuttingDown:
			word = "Stopping"
		}
		c.big(word)
		c.footer(snap.Hostname)
	case PageReset:
		c.title("Factory reset?", true)
		c.lines([]string{"Confirm it on the", "web page. Nothing", "is erased yet."})
	case PageTest:
		c.testPattern()
	case PageMoving:
		c.title("Moving in", false)
		fetched, seen, failed := snap.MovingTotals()
		if seen > 0 {
			c.big(fmt.Sprintf("%d/%d", fetched, seen))
		} else {
			c.big(fmt.Sprintf("%d", fetched))
		}
		switch {
		case failed > 0:
			c.footer("stopped: see web page")
		case len(snap.Moving) == 1:
			c.footer(snap.Moving[0].Account)
		default:
			c.footer(fmt.Sprintf("%d accounts", len(snap.Moving)))
		}
	}
}

// canvas draws white on the black frame, shifted by off.
type canvas struct {
	dst *image.Gray
	off image.Point
}

func (c canvas) set(x, y int) {
	x, y = x+c.off.X, y+c.off.Y
	if x >= 0 && y >= 0 && x < DisplayWidth && y < DisplayHeight {
		c.dst.Pix[y*c.dst.Stride+x] = 0xff
	}
}

func (c canvas) fill(r image.Rectangle, on bool) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if on {
				c.set(x, y)
			} else if px, py := x+c.off.X, y+c.off.Y; px >= 0 && py >= 0 && px < DisplayWidth && py < DisplayHeight {
				c.dst.Pix[py*c.dst.Stride+px] = 0
			}
		}
	}
}

// text draws s with its baseline at y, each font pixel as a scale x scale
// block; inverse draws black (on a white bar). It returns the width drawn.
func (c canvas) text(x, y int, s string, scale int, inverse bool) int {
	start := x
	for _, r := range s {
		if r == '\u00b0' { // the 7x13 face is ASCII only: draw the degree sign
			for _, p := range [...]image.Point{{2, 1}, {3, 1}, {1, 2}, {4, 2}, {1, 3}, {4, 3}, {2, 4}, {3, 4}} {
				px, py := x+p.X*scale, y+(p.Y-face.Ascent)*scale
				c.fill(image.Rect(px, py, px+scale, py+scale), !inverse)
			}
			x += charW * scale
			continue
		}
		_, mask, mp, adv, ok := face.Glyph(fixed.Point26_6{}, r)
		if !ok {
			_, mask, mp, adv, _ = face.Glyph(fixed.Point26_6{}, '?')
		}
		alpha := mask.(*image.Alpha) // basicfont's glyph atlas
		for gy := 0; gy < face.Height; gy++ {
			row := alpha.Pix[alpha.PixOffset(mp.X, mp.Y+gy):][:face.Width]
			for gx, a := range row {
				if a < 0x80 {
					continue
				}
				// The glyph's top is Ascent above the baseline.
				px, py := x+gx*scale, y+(gy-face.Ascent)*scale
				if scale == 1 && !inverse {
					c.set(px, py)
				} else {
					c.fill(image.Rect(px, py, px+scale, py+scale), !inverse)
				}
			}
		}
		x += adv.Round() * scale
	}
	return x - start
}

func (c canvas) title(s string, inverse bool) {
	s = cut(s, maxChars)
	if inverse {
		c.fill(image.Rect(0, 0, usableW, ruleY), true)
		c.text(1, titleBase, s, 1, true)
		return
	}
	c.text(1, titleBase, s, 1, false)
	c.fill(image.Rect(0, ruleY, usableW, ruleY+1), true)
}

func (c canvas) lines(ls []string) {
	for i, l := range ls {
		if i == 3 {
			break
		}
		c.text(1, bodyBase0+i*bodyStep, cut(l, maxChars), 1, false)
	}
}

// big draws s twice the size when it fits, else at normal size, centred.
func (c canvas) big(s string) {
	scale := 2
	if len([]rune(s))*charW*2 > usableW {
		scale = 1
		s = cut(s, maxChars)
	}
	w := len([]rune(s)) * charW * scale
	base := bigBase
	if scale == 1 {
		base = bodyBase0 + 4
	}
	c.text((usableW-w)/2, base, s, scale, false)
}

func (c canvas) footer(s string) {
	s = cut(s, maxChars)
	c.text((usableW-len([]rune(s))*charW)/2, footerBase, s, 1, false)
}

// testPattern shows the frame's edges, a checkerboard (every pixel can be
// on and off) and the size, to check a newly wired display.
func (c canvas) testPattern() {
	r := image.Rect(0, 0, DisplayWidth, DisplayHeight)
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), true)
	c.fill(image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), true)
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), true)
	c.fill(image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), true)
	for y := 4; y < 28; y++ {
		for x := 4; x < 60; x++ {
			if (x+y)%2 == 0 {
				c.set(x, y)
			}
		}
	}
	c.fill(image.Rect(68, 4, 124, 28), true)
	c.text(4, 44, "Postroom test", 1, false)
	c.text(4, 58, "128x64 ok?", 1, false)
}

// displayAddresses picks up to n addresses, IPv4 first: they are the ones
// people type.
func displayAddresses(addrs []string, n int) []string {
	var v4, v6 []string
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	all := append(v4, v6...)
	return all[:min(n, len(all))]
}

// webAddress is where the setup page is: the first address and the web
// service's port.
func webAddress(s status.Snapshot) string {
	addrs := displayAddresses(s.Addresses, 1)
	host := s.Hostname
	if len(addrs) > 0 {
		host = addrs[0]
	}
	if sv, ok := s.Service("web"); ok {
		if _, port, err := net.SplitHostPort(sv.Addr); err == nil && port != "80" {
			return host + ":" + port
		}
	}
	return host
}

// cut shortens s to n characters, marking the cut with a final ".".
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "."
}

// wrap breaks s into lines of at most n characters at spaces; longer words
// are cut.
func wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= n:
			line += " " + w
		default:
			out = append(out, cut(line, n))
			line = w
		}
	}
	if line != "" {
		out = append(out, cut(line, n))
	}
	return out
}

// age writes d as "5 min", "3 h" or "2 d".
func age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}

// bytesText writes n as "512 MB" or "12.3 GB" (powers of 1000, like disk
// labels).
func bytesText(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	switch {
	case n >= 100e9:
		return fmt.Sprintf("%s%.0f GB", sign, float64(n)/1e9)
	case n >= 1e9:
		return fmt.Sprintf("%s%.1f GB", sign, float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%s%.0f MB", sign, float64(n)/1e6)
	}
	return fmt.Sprintf("%s%.0f kB", sign, float64(n)/1e3)
}
