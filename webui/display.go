package webui

import (
	"net/http"
	"strconv"
)

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
	if len(b) == 0 {
		h.logger.Warn("display frame unavailable")
		http.Error(w, "display frame unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
