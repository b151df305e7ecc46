package webui

import (
	"net/http"
	"strconv"
)

// MaskedDisplay is what a DisplaySource can do besides (hw.Front does):
// draw the display as it is now with the set-up code hidden.
type MaskedDisplay interface {
	PublicPNG() []byte
}

// display serves the panel's display as a PNG of 128x64 pixels: the frame
// the hardware display shows, or would show on a box without one (the
// simulated panel draws it with the same renderer). The status page shows
// it scaled up with sharp pixels.
func (h *handler) displayPNG(w http.ResponseWriter, r *http.Request) {
	if h.display == nil {
		http.NotFound(w, r)
		return
	}
	b := h.display.PNG()
	if h.setupOn() || h.bus.Latest().SetupCode != "" {
		// The display may show the set-up code, which is only for the
		// person at the box: draw it hidden, or show nothing.
		m, ok := h.display.(MaskedDisplay)
		if !ok {
			http.Error(w, "The picture of the display is hidden until the box is set up: it shows the set-up code.", http.StatusNotFound)
			return
		}
		b = m.PublicPNG()
	}
	if len(b) == 0 {
		h.logger.Warn("display frame unavailable")
		http.Error(w, "display frame unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
