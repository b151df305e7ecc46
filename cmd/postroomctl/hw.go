package main

// hw test: checks the front panel's wiring (hw.Front.SelfTest). On a board
// it drives the LEDs and the display configured in DATA/config.json (the
// appliance must be stopped: they share the pins); elsewhere the panel is
// simulated and the pages are only written as PNG files.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"time"

	"postroom/hw"
)

func init() {
	commands = append(commands, command{"hw test", 0, 1, nil, (*ctl).hwTest})
}

// hwSynopsis is the help of the hw command.
const hwSynopsis = `
Front panel (stop the appliance first: they share the pins):
  hw test [DIR]                        light each LED in turn, draw the test pattern and
                                       every display page (2 s each); write each page as
                                       PNG into DIR (default ./hw-test). Off the board the
                                       panel is simulated: only the PNGs show the result
`

// hwStepTime is how long each step shows on a board, for a person to look.
const hwStepTime = 2 * time.Second

func (c *ctl) hwTest(args []string) error {
	out := "hw-test"
	if len(args) == 1 {
		out = args[0]
	}
	cfg := config.Default()
	path := filepath.Join(c.data, config.ConfigFile)
	switch loaded, err := config.Load(path); {
	case err == nil:
		cfg = loaded
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.stdout, "no %s: using the default wiring (docs/WIRING.md)\n", path)
	default:
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	hc := cfg.Panel.HWConfig()
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	panel := hw.Open(hc, logger)
	defer panel.Halt()

	model := hw.BoardModel(hc.ModelFile)
	pause := func(ctx context.Context) error { return nil }
	if model != "" && !hc.Simulate {
		fmt.Fprintf(c.stdout, "board: %s; watch the panel\n", model)
		pause = func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(hwStepTime):
				return nil
			}
		}
	} else {
		fmt.Fprintln(c.stdout, "no board (or panel.mode simulated): the panel is simulated")
	}
	var writeErr error
	err := panel.SelfTest(context.Background(), pause, func(step string, png []byte) {
		if png == nil {
			fmt.Fprintln(c.stdout, step)
			return
		}
		file := filepath.Join(out, strings.ReplaceAll(step, " ", "-")+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil && writeErr == nil {
			writeErr = err
		}
		fmt.Fprintf(c.stdout, "%s: %s\n", step, file)
	})
	return errors.Join(err, writeErr)
}
