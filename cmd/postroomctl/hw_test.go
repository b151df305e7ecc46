package main

import (
	"image/png"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"testing"
)

func TestHWTest(t *testing.T) {
	data := t.TempDir()
	out := filepath.Join(t.TempDir(), "pages")
	r := runCtl(t, data, "", "hw", "test", out)
	r.check(t, exitOK, []string{"default wiring", "simulated", "led attention (red)", "page mail: " + filepath.Join(out, "page-mail.png")}, nil)
	files, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(files) != 9 {
		t.Fatalf("%d PNGs written; want the test pattern and 8 pages: %v", len(files), files)
	}
	f, err := os.Open(filepath.Join(out, "page-test.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 128 || img.Bounds().Dy() != 64 {
		t.Fatalf("page-test.png: %v, %v", img.Bounds(), err)
	}

	// A config with a wrong panel setting is refused before anything is driven.
	c := config.Default()
	c.Panel.DisplayAddress = "0x99"
	if err := c.Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	runCtl(t, data, "", "hw", "test", out).check(t, exitFailed, nil, []string{"panel.display_address"})
	runCtl(t, data, "", "hw", "test", "a", "b").check(t, exitUsage, nil, []string{"too many arguments"})
}
