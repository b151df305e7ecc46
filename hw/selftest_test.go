package hw

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestSelfTest(t *testing.T) {
	r := newRig(t, nil)
	var steps []string
	var pngs int
	err := r.f.SelfTest(context.Background(), func(context.Context) error { return nil }, func(step string, png []byte) {
		leds := mark(r.ready) + mark(r.mail) + mark(r.attn)
		steps = append(steps, step+" "+leds)
		if png != nil {
			pngs++
			if !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Errorf("%s: not a PNG", step)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(steps, "\n")
	for _, want := range []string{"led ready (green) #..", "led mail .#.", "led attention (red) ..#", "leds all on ###", "leds all off ...", "page test ...", "page reset ..."} {
		if !strings.Contains(got, want) {
			t.Errorf("steps lack %q:\n%s", want, got)
		}
	}
	if pngs != len(AllPages) {
		t.Errorf("%d pages drawn; want %d", pngs, len(AllPages))
	}
	if len(r.rec.Ops) < len(AllPages) {
		t.Errorf("only %d I²C transfers for %d pages", len(r.rec.Ops), len(AllPages))
	}
}

func TestSelfTestStopsOnDisplayErrorAndCancel(t *testing.T) {
	d, err := NewSSD1306(&failingBus{n: 1}, SSD1306Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := NewFront(Options{Display: d})
	noPause := func(context.Context) error { return nil }
	if err := f.SelfTest(context.Background(), noPause, func(string, []byte) {}); err == nil || !strings.Contains(err.Error(), "page test") {
		t.Fatalf("SelfTest with a failing display = %v", err)
	}
	stop := errors.New("stopped")
	calls := 0
	err = NewSimulated(nil).SelfTest(context.Background(), func(context.Context) error { calls++; return stop }, func(string, []byte) {})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("SelfTest after a failed pause = %v after %d pauses", err, calls)
	}
}
