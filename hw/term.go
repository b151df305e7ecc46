package hw

import (
	"image"
	"io"
	"strings"
)

// writeTerminal prints frame as text, two pixel rows per character with
// the half-block characters, framed, under a line naming the page: 130
// columns and 34 lines.
func writeTerminal(w io.Writer, frame *image.Gray, page Page) {
	var b strings.Builder
	on := func(x, y int) bool { return frame.Pix[y*frame.Stride+x] >= 0x80 }
	b.WriteString("display: " + page.String() + "\n")
	b.WriteString("┌" + strings.Repeat("─", DisplayWidth) + "┐\n")
	for y := 0; y < DisplayHeight; y += 2 {
		b.WriteString("│")
		for x := 0; x < DisplayWidth; x++ {
			switch top, bottom := on(x, y), on(x, y+1); {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteString("│\n")
	}
	b.WriteString("└" + strings.Repeat("─", DisplayWidth) + "┘\n")
	io.WriteString(w, b.String())
}
