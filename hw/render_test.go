package hw

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"postroom/appliance/status"
)

// update rewrites the golden files: go test ./hw -update, then look at
// testdata/*.png before committing them.
var update = flag.Bool("update", false, "rewrite the golden PNGs and I²C recordings in testdata")

// testNow is the fixed time of every golden frame (a weekday afternoon, so
// not dimmed).
var testNow = time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)

func sampleSnapshot() status.Snapshot { return SampleSnapshot(testNow) }

func renderPage(p Page) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
	Render(g, Screen{Page: p, Snapshot: PageSnapshot(p, testNow), Now: testNow})
	return g
}

// TestPagesGoldenPNG compares every page with testdata/page-NAME.png. The
// PNGs are the reference a person looked at; a change in layout or font
// shows up here.
func TestPagesGoldenPNG(t *testing.T) {
	for _, p := range AllPages {
		t.Run(p.String(), func(t *testing.T) {
			got, err := EncodePNG(renderPage(p), ContrastDay)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "page-"+p.String()+".png", got, func(want []byte) string {
				return diffPNG(t, got, want)
			})
		})
	}
}

// TestPagesGoldenI2C draws every page on an SSD1306 whose bus is recorded
// and compares the bytes with testdata/page-NAME.i2c; then plays the
// recording back against a fresh display, which fails on any difference.
func TestPagesGoldenI2C(t *testing.T) {
	for _, p := range AllPages {
		t.Run(p.String(), func(t *testing.T) {
			rec := &i2ctest.Record{}
			d, err := NewSSD1306(rec, SSD1306Options{})
			if err != nil {
				t.Fatal(err)
			}
			frame := packed(renderPage(p))
			if err := d.Draw(frame); err != nil {
				t.Fatal(err)
			}
			got := formatOps(rec.Ops)
			golden(t, "page-"+p.String()+".i2c", got, func(want []byte) string {
				return firstDiffLine(string(got), string(want))
			})

			play := &i2ctest.Playback{Ops: parseOps(t, readGolden(t, "page-"+p.String()+".i2c")), DontPanic: true}
			d2, err := NewSSD1306(play, SSD1306Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d2.Draw(frame); err != nil {
				t.Fatal(err)
			}
			if err := play.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRenderShiftMovesEveryPixel(t *testing.T) {
	a := renderPage(PageMail)
	b := image.NewGray(a.Rect)
	Render(b, Screen{Page: PageMail, Snapshot: PageSnapshot(PageMail, testNow), Now: testNow, Shift: image.Pt(1, 1)})
	lit := 0
	for y := 0; y < DisplayHeight-1; y++ {
		for x := 0; x < DisplayWidth-1; x++ {
			if a.GrayAt(x, y) != b.GrayAt(x+1, y+1) {
				t.Fatalf("pixel %d,%d did not move to %d,%d", x, y, x+1, y+1)
			}
			if a.GrayAt(x, y).Y != 0 {
				lit++
			}
		}
	}
	// Nothing may be lost at the right and bottom edges.
	for y := 0; y < DisplayHeight; y++ {
		if a.GrayAt(DisplayWidth-1, y).Y != 0 {
			t.Fatalf("unshifted frame uses the last column at y=%d", y)
		}
	}
	if lit == 0 {
		t.Fatal("the mail page is black")
	}
}

func TestAttentionPartsCycle(t *testing.T) {
	s := sampleSnapshot()
	s.Problem = "Incoming mail (SMTP) is not working: listen tcp :25: bind: address already in use."
	s.BackupError = "USB disk missing"
	var frames []string
	for part := range 4 {
		g := image.NewGray(image.Rect(0, 0, DisplayWidth, DisplayHeight))
		Render(g, Screen{Page: PageAttention, Snapshot: s, Now: testNow, Part: part})
		frames = append(frames, string(g.Pix))
	}
	if frames[0] == frames[1] {
		t.Fatal("a long problem shows the same lines in part 0 and 1")
	}
	if parts := (len(wrap(strings.Join(s.Attention(testNow), " "), maxChars)) + 2) / 3; frames[parts%4] != frames[0] {
		t.Fatalf("part %d does not wrap around to part 0", parts)
	}
}

func TestWrapAndCut(t *testing.T) {
	got := wrap("The disk is 95 % full. averyveryverylongwordthatcannotfit", 18)
	want := []string{"The disk is 95 %", "full.", "averyveryverylong."}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("wrap = %q; want %q", got, want)
	}
}

func packed(g *image.Gray) *image1bit.VerticalLSB {
	b := image1bit.NewVerticalLSB(g.Rect)
	packFrame(g, b)
	return b
}

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte, diff func(want []byte) string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readGolden(t, name)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./hw -update and look at the files): %s", path, diff(want))
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (run go test ./hw -update to create it)", err)
	}
	return want
}

// diffPNG names the first pixel that differs.
func diffPNG(t *testing.T, got, want []byte) string {
	g, err1 := png.Decode(bytes.NewReader(got))
	w, err2 := png.Decode(bytes.NewReader(want))
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("decode: %v %v", err1, err2)
	}
	if g.Bounds() != w.Bounds() {
		return fmt.Sprintf("size %v, want %v", g.Bounds(), w.Bounds())
	}
	for y := 0; y < g.Bounds().Dy(); y++ {
		for x := 0; x < g.Bounds().Dx(); x++ {
			gr, _, _, _ := g.At(x, y).RGBA()
			wr, _, _, _ := w.At(x, y).RGBA()
			if gr != wr {
				return fmt.Sprintf("first different pixel at %d,%d", x, y)
			}
		}
	}
	return "same pixels, different encoding"
}

// formatOps writes I²C transfers one a line: address, then the bytes in
// hex. The golden files are text so that a change reads in a diff.
func formatOps(ops []i2ctest.IO) []byte {
	var b bytes.Buffer
	for _, op := range ops {
		fmt.Fprintf(&b, "%#02x W %x\n", op.Addr, op.W)
	}
	return b.Bytes()
}

func parseOps(t *testing.T, text []byte) []i2ctest.IO {
	var ops []i2ctest.IO
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		var addr uint16
		var w []byte
		if _, err := fmt.Sscanf(line, "%v W %x", &addr, &w); err != nil {
			t.Fatalf("golden I²C line %q: %v", line, err)
		}
		ops = append(ops, i2ctest.IO{Addr: addr, W: w})
	}
	return ops
}

func firstDiffLine(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}
