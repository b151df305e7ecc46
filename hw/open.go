package hw

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"
)

// Config names the panel's parts on a board. The zero Config is not
// useful; see DefaultConfig.
type Config struct {
	// Simulate skips the hardware even on a board.
	Simulate bool
	// ReadyPin, MailPin, AttentionPin and ButtonPin are periph pin names
	// ("GPIO17"); "" means not fitted.
	ReadyPin, MailPin, AttentionPin, ButtonPin string
	// Display is "ssd1306" or "" for none.
	Display string
	// I2CBus is the bus name ("1" on a Raspberry Pi); "" is the first bus.
	I2CBus string
	// DisplayAddr is the display's I²C address, 0x3C or 0x3D.
	DisplayAddr uint16
	// DisplayRotated turns the picture by 180°.
	DisplayRotated bool
	// PageTime, ShiftEvery, NightFrom, NightTo: see Options.
	PageTime, ShiftEvery time.Duration
	NightFrom, NightTo   int
	// Terminal: see Options.
	Terminal io.Writer
	// ModelFile is read to detect the board. "": /proc/device-tree/model.
	ModelFile string
}

// DefaultConfig is the wiring of docs/WIRING.md on a Raspberry Pi.
func DefaultConfig() Config {
	return Config{
		ReadyPin:     "GPIO17",
		MailPin:      "GPIO27",
		AttentionPin: "GPIO22",
		ButtonPin:    "GPIO23",
		Display:      "ssd1306",
		I2CBus:       "1",
		DisplayAddr:  0x3C,
		NightFrom:    22 * 60,
		NightTo:      7 * 60,
	}
}

// BoardModel returns the board's name from the device tree ("Raspberry Pi
// 4 Model B Rev 1.5"), or "" where there is none (a PC, qemu -M virt has
// one but no GPIO).
func BoardModel(file string) string {
	if file == "" {
		file = "/proc/device-tree/model"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(bytes.TrimRight(b, "\x00")))
}

// Open returns the panel for cfg: on a board, with every part that can be
// opened; elsewhere, or when nothing can be opened, the simulated panel.
// It never fails: a missing part is logged and left out.
func Open(cfg Config, logger *slog.Logger) *Front {
	if logger == nil {
		logger = slog.Default()
	}
	opts := Options{
		Logger: logger, Terminal: cfg.Terminal, PageTime: cfg.PageTime, ShiftEvery: cfg.ShiftEvery,
		NightFrom: cfg.NightFrom, NightTo: cfg.NightTo,
	}
	model := BoardModel(cfg.ModelFile)
	switch {
	case cfg.Simulate:
		logger.Info("panel simulated, as configured")
		return NewFront(opts)
	case model == "":
		logger.Info("panel simulated: no board found (no /proc/device-tree/model)")
		return NewFront(opts)
	}
	// host.Init loads the drivers that fit this machine. On a machine without
	// GPIO it loads none and returns nil: the lookups below then find
	// nothing, which means "simulate", not an error.
	if _, err := host.Init(); err != nil {
		logger.Warn("panel simulated: periph could not start", "board", model, "err", err)
		return NewFront(opts)
	}
	var missing []string
	out := func(name, role string) gpio.PinOut {
		if name == "" {
			return nil
		}
		p := gpioreg.ByName(name)
		if p == nil {
			missing = append(missing, role+" "+name)
			return nil
		}
		if err := p.Out(gpio.Low); err != nil {
			missing = append(missing, fmt.Sprintf("%s %s (%v)", role, name, err))
			return nil
		}
		return p
	}
	opts.Ready = out(cfg.ReadyPin, "ready LED")
	opts.Mail = out(cfg.MailPin, "mail LED")
	opts.Attention = out(cfg.AttentionPin, "attention LED")
	if cfg.ButtonPin != "" {
		p := gpioreg.ByName(cfg.ButtonPin)
		switch {
		case p == nil:
			missing = append(missing, "button "+cfg.ButtonPin)
		case p.In(gpio.PullUp, gpio.BothEdges) == nil:
			opts.Button, opts.ButtonEdges = p, true
		case p.In(gpio.PullUp, gpio.NoEdge) == nil:
			// No edge detection on this kernel: poll (about 0.4 % of a core).
			opts.Button = p
		default:
			missing = append(missing, "button "+cfg.ButtonPin+" (cannot be an input)")
		}
	}
	if cfg.Display == "ssd1306" {
		if d, err := openDisplay(cfg); err != nil {
			missing = append(missing, fmt.Sprintf("display (%v)", err))
		} else {
			opts.Display = d
		}
	}
	if len(missing) > 0 {
		logger.Warn("panel: some parts are not there; going on without them", "board", model, "missing", missing)
	}
	f := NewFront(opts)
	f.log.Info("panel ready", "board", model, "display", opts.Display != nil,
		"leds", opts.Ready != nil || opts.Mail != nil || opts.Attention != nil,
		"button", opts.Button != nil, "button_edges", opts.ButtonEdges)
	return f
}

func openDisplay(cfg Config) (Display, error) {
	bus, err := i2creg.Open(cfg.I2CBus)
	if err != nil {
		return nil, fmt.Errorf("I²C bus %q: %w", cfg.I2CBus, err)
	}
	d, err := NewSSD1306(bus, SSD1306Options{Addr: cfg.DisplayAddr, Rotated: cfg.DisplayRotated})
	if err != nil {
		bus.Close()
		return nil, err
	}
	return d, nil
}
