package webui

import (
	"bytes"
	"image"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
)

// frame is a DisplaySource that always shows the same PNG.
type frame []byte

func (f frame) PNG() []byte { return f }

// framePNG stands for the panel's frame: a 128x64 PNG with one lit pixel.
func framePNG(t *testing.T) []byte {
	g := image.NewGray(image.Rect(0, 0, 128, 64))
	g.Pix[0] = 0xff
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDisplayPNG(t *testing.T) {
	want := framePNG(t)
	s := snapshot()
	s.LEDs = status.LEDs{Ready: status.LEDBlink, Mail: status.LEDOff, Attention: status.LEDOn}
	srv := httptest.NewServer(New(Options{Bus: status.NewBus(s), Logger: slog.New(slog.DiscardHandler),
		Display: frame(want)}))
	defer srv.Close()

	resp, body := get(t, "GET", srv.URL+"/display.png")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || body != string(want) {
		t.Fatalf("display.png: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	img, err := png.Decode(strings.NewReader(body))
	if err != nil || img.Bounds().Dx() != 128 || img.Bounds().Dy() != 64 {
		t.Fatalf("display.png decodes to %v, %v", img.Bounds(), err)
	}

	resp, page := get(t, "GET", srv.URL+"/")
	for _, want := range []string{`src="/display.png"`, `led-ready led-blink`, `Ready: blink`, `led-attention led-on`, `Mail: off`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
	// The page's own policy must allow the image, and only from itself.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self'") {
		t.Errorf("CSP %q blocks the display image", csp)
	}
	if strings.Contains(page, "reset-request") {
		t.Error("reset notice without a request")
	}
}

func TestNoDisplay(t *testing.T) {
	srv, bus := newServer(t, snapshot())
	resp, _ := get(t, "GET", srv.URL+"/display.png")
	if resp.StatusCode != 404 {
		t.Fatalf("display.png without a panel: %d; want 404", resp.StatusCode)
	}
	_, page := get(t, "GET", srv.URL+"/")
	if strings.Contains(page, "display.png") {
		t.Error("page shows a display that does not exist")
	}
	if !strings.Contains(page, "Ready: off") {
		t.Error("unknown LED state not shown as off")
	}
	bus.Update(func(s *status.Snapshot) { s.ResetRequested = time.Now().Add(-time.Minute) })
	_, page = get(t, "GET", srv.URL+"/")
	if !strings.Contains(page, `id="reset-request"`) || !strings.Contains(page, "Nothing has been erased") {
		t.Error("reset request not shown")
	}
	// Past the confirmation window the press is forgotten.
	bus.Update(func(s *status.Snapshot) { s.ResetRequested = time.Now().Add(-ResetWindow - time.Minute) })
	if _, page = get(t, "GET", srv.URL+"/"); strings.Contains(page, `id="reset-request"`) {
		t.Error("an expired reset request is still shown")
	}
}

func TestDisplayUnavailable(t *testing.T) {
	srv := httptest.NewServer(New(Options{Bus: status.NewBus(snapshot()), Logger: slog.New(slog.DiscardHandler),
		Display: frame(nil)}))
	defer srv.Close()
	if resp, _ := get(t, "GET", srv.URL+"/display.png"); resp.StatusCode != 503 {
		t.Fatalf("empty frame: %d; want 503", resp.StatusCode)
	}
}
