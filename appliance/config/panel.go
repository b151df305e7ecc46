package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"postroom/hw"
)

// PanelConfig is the front panel's wiring (docs/WIRING.md): Config.Panel.
type PanelConfig struct {
	Mode           string   `json:"mode" help:"\"auto\": drive the LEDs, display and button on a Raspberry Pi, and simulate them elsewhere (the status web page shows the display); \"simulated\": never touch the hardware."`
	ReadyLED       string   `json:"ready_led" help:"GPIO of the green ready LED, e.g. \"GPIO17\" (header pin 11); \"\" if not fitted."`
	MailLED        string   `json:"mail_led" help:"GPIO of the mail activity LED, e.g. \"GPIO27\" (header pin 13); \"\" if not fitted."`
	AttentionLED   string   `json:"attention_led" help:"GPIO of the red attention LED, e.g. \"GPIO22\" (header pin 15); \"\" if not fitted."`
	Button         string   `json:"button" help:"GPIO of the button, wired to ground, e.g. \"GPIO23\" (header pin 16); \"\" if not fitted."`
	Display        string   `json:"display" help:"\"ssd1306\" for a 128x64 OLED on I2C, or \"none\"."`
	I2CBus         string   `json:"i2c_bus" help:"I2C bus of the display: \"1\" on a Raspberry Pi (header pins 3 and 5); \"\" for the first bus found."`
	DisplayAddress string   `json:"display_address" help:"I2C address of the display: \"0x3c\" on most modules, \"0x3d\" on some."`
	DisplayRotated bool     `json:"display_rotated" help:"Turn the picture by 180 degrees, for a display mounted upside down."`
	PageTime       Duration `json:"page_time" help:"How long each display page shows before the next, e.g. \"5s\"."`
	NightFrom      string   `json:"night_from" help:"Local time from which the display is dimmed, e.g. \"22:00\". Equal to night_to: never dimmed."`
	NightTo        string   `json:"night_to" help:"Local time at which the display is bright again, e.g. \"07:00\"."`
}

// defaultPanel is the wiring of docs/WIRING.md.
func defaultPanel() PanelConfig {
	d := hw.DefaultConfig()
	return PanelConfig{
		Mode:           "auto",
		ReadyLED:       d.ReadyPin,
		MailLED:        d.MailPin,
		AttentionLED:   d.AttentionPin,
		Button:         d.ButtonPin,
		Display:        d.Display,
		I2CBus:         d.I2CBus,
		DisplayAddress: fmt.Sprintf("%#x", d.DisplayAddr),
		PageTime:       Duration(hw.DefaultPageTime),
		NightFrom:      "22:00",
		NightTo:        "07:00",
	}
}

// devPanel is defaultPanel simulated: make run on a laptop.
func devPanel() PanelConfig {
	p := defaultPanel()
	p.Mode = "simulated"
	return p
}

var pinName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,15}$`)

// validate reports every problem of the panel settings, naming the field
// as spelt in the file.
func (p PanelConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("panel.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if p.Mode != "auto" && p.Mode != "simulated" {
		bad("mode", "%q is neither \"auto\" nor \"simulated\"", p.Mode)
	}
	seen := map[string]string{}
	for _, pin := range []struct{ field, name string }{
		{"ready_led", p.ReadyLED}, {"mail_led", p.MailLED}, {"attention_led", p.AttentionLED}, {"button", p.Button},
	} {
		if pin.name == "" {
			continue
		}
		if !pinName.MatchString(pin.name) {
			bad(pin.field, "%q is not a pin name such as \"GPIO17\"", pin.name)
			continue
		}
		key := strings.ToUpper(pin.name)
		if other, ok := seen[key]; ok {
			bad(pin.field, "%s is also panel.%s", pin.name, other)
		}
		seen[key] = pin.field
	}
	if p.Display != "ssd1306" && p.Display != "none" {
		bad("display", "%q is neither \"ssd1306\" nor \"none\"", p.Display)
	}
	if _, err := p.displayAddr(); err != nil {
		bad("display_address", "%v", err)
	}
	if d := time.Duration(p.PageTime); d < time.Second || d > time.Minute {
		bad("page_time", "%s is outside 1s to 1m", d)
	}
	if _, err := minuteOfDay(p.NightFrom); err != nil {
		bad("night_from", "%v", err)
	}
	if _, err := minuteOfDay(p.NightTo); err != nil {
		bad("night_to", "%v", err)
	}
	return errs
}

func (p PanelConfig) displayAddr() (uint16, error) {
	v, err := strconv.ParseUint(p.DisplayAddress, 0, 16)
	// 7-bit addresses outside the reserved ranges (I²C specification 3.1.12).
	if err != nil || v < 0x08 || v > 0x77 {
		return 0, fmt.Errorf("%q is not an I2C address such as \"0x3c\"", p.DisplayAddress)
	}
	return uint16(v), nil
}

// minuteOfDay parses "HH:MM".
func minuteOfDay(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day such as \"22:00\"", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// HWConfig is p for hw.Open (also used by postroomctl hw test). p must be
// valid.
func (p PanelConfig) HWConfig() hw.Config {
	c := hw.Config{
		Simulate:       p.Mode == "simulated",
		ReadyPin:       p.ReadyLED,
		MailPin:        p.MailLED,
		AttentionPin:   p.AttentionLED,
		ButtonPin:      p.Button,
		I2CBus:         p.I2CBus,
		DisplayRotated: p.DisplayRotated,
		PageTime:       time.Duration(p.PageTime),
	}
	if p.Display == "ssd1306" {
		c.Display = "ssd1306"
	}
	c.DisplayAddr, _ = p.displayAddr()
	c.NightFrom, _ = minuteOfDay(p.NightFrom)
	c.NightTo, _ = minuteOfDay(p.NightTo)
	return c
}
