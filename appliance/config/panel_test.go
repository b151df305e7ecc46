package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPanelConfig(t *testing.T) {
	if errs := defaultPanel().validate(); len(errs) != 0 {
		t.Fatalf("default panel invalid: %v", errs)
	}
	if errs := devPanel().validate(); len(errs) != 0 {
		t.Fatalf("dev panel invalid: %v", errs)
	}
	tests := []struct {
		name  string
		mod   func(*PanelConfig)
		field string
	}{
		{"mode", func(p *PanelConfig) { p.Mode = "on" }, "panel.mode"},
		{"pin name", func(p *PanelConfig) { p.ReadyLED = "pin 11" }, "panel.ready_led"},
		{"pin twice", func(p *PanelConfig) { p.Button = "gpio17" }, "panel.button: gpio17 is also panel.ready_led"},
		{"display", func(p *PanelConfig) { p.Display = "hd44780" }, "panel.display"},
		{"address", func(p *PanelConfig) { p.DisplayAddress = "0x99" }, "panel.display_address"},
		{"page time", func(p *PanelConfig) { p.PageTime = Duration(time.Millisecond) }, "panel.page_time"},
		{"night", func(p *PanelConfig) { p.NightFrom = "25:00" }, "panel.night_from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c.Panel)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate = %v; want an error naming %s", err, tt.field)
			}
		})
	}
	hc := defaultPanel().HWConfig()
	if hc.DisplayAddr != 0x3c || hc.NightFrom != 22*60 || hc.NightTo != 7*60 || hc.Simulate || hc.Display != "ssd1306" {
		t.Fatalf("hwConfig = %+v", hc)
	}
	p := defaultPanel()
	p.Display = "none"
	if p.HWConfig().Display != "" {
		t.Fatal("display none still opens a display")
	}
}
func TestPanelConfigRoundTrip(t *testing.T) {
	c := Default()
	c.Panel.DisplayAddress = "0x3d"
	c.Panel.Button = ""
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Panel != c.Panel {
		t.Fatalf("panel after Save and Load = %+v; want %+v", back.Panel, c.Panel)
	}
}
