package hw

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"log/slog"
	"postroom/appliance/status"
	"postroom/internal/testutil"
)

func TestBoardModel(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.WriteFile(model, []byte("Raspberry Pi 4 Model B Rev 1.5\x00"), 0o644)
	if got := BoardModel(model); got != "Raspberry Pi 4 Model B Rev 1.5" {
		t.Fatalf("BoardModel = %q", got)
	}
	if got := BoardModel(filepath.Join(dir, "none")); got != "" {
		t.Fatalf("BoardModel without a file = %q", got)
	}
}

// TestOpenNeverFails opens the panel off the board, simulated on purpose,
// and as a board whose parts are all missing (the pins and the bus do not
// exist here): each time a working panel comes back.
func TestOpenNeverFails(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	os.WriteFile(model, []byte("Raspberry Pi 4 Model B Rev 1.5\x00"), 0o644)
	noParts := DefaultConfig()
	noParts.ModelFile = model
	noParts.ReadyPin, noParts.MailPin, noParts.AttentionPin, noParts.ButtonPin = "GPIO901", "GPIO902", "GPIO903", "GPIO904"
	noParts.I2CBus = "no-such-bus"
	simulated := DefaultConfig()
	simulated.Simulate = true
	simulated.ModelFile = model
	offBoard := DefaultConfig()
	offBoard.ModelFile = filepath.Join(dir, "none")

	for name, cfg := range map[string]Config{"off the board": offBoard, "simulated": simulated, "board without parts": noParts} {
		t.Run(name, func(t *testing.T) {
			var buf testutil.SyncBuffer
			f := Open(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
			f.Show(sampleSnapshot())
			f.Tick()
			if leds, _ := f.Report(); leds.Ready != status.LEDOn {
				t.Errorf("LEDs %+v; want ready on", leds)
			}
			if len(f.PNG()) == 0 {
				t.Error("no PNG")
			}
			if err := f.Halt(); err != nil {
				t.Error(err)
			}
			if name == "board without parts" && !strings.Contains(buf.String(), "GPIO901") {
				t.Errorf("missing pins not logged:\n%s", buf.String())
			}
		})
	}
}
