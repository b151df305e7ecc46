//go:build unix

package hw

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"postroom/appliance/status"
	"postroom/internal/testutil"
)

// TestIdleCPU measures the CPU time of an idle panel under Follow for
// POSTROOM_PANEL_IDLE (e.g. "60s") of real time, with the simulated panel
// and with a board panel on fake pins and a recorded I²C bus (button
// polled, pages cycling). It only runs when asked:
//
//	POSTROOM_PANEL_IDLE=60s go test -run TestIdleCPU -v ./hw/
func TestIdleCPU(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("POSTROOM_PANEL_IDLE"))
	if err != nil {
		t.Skip("set POSTROOM_PANEL_IDLE=60s to measure")
	}
	boardPanel := func(edges bool) (*Front, *i2ctest.Record) {
		rec := &i2ctest.Record{}
		disp, err := NewSSD1306(rec, SSD1306Options{})
		if err != nil {
			t.Fatal(err)
		}
		return NewFront(Options{Logger: testutil.Logger(t), Display: disp,
			Ready: &gpiotest.Pin{}, Mail: &gpiotest.Pin{}, Attention: &gpiotest.Pin{},
			Button: &gpiotest.Pin{L: gpio.High, EdgesChan: make(chan gpio.Level)}, ButtonEdges: edges}), rec
	}
	for _, name := range []string{"simulated", "board, button by edges", "board, button polled"} {
		t.Run(name, func(t *testing.T) {
			var f *Front
			var rec *i2ctest.Record
			switch name {
			case "simulated":
				f = NewSimulated(testutil.Logger(t))
			default:
				f, rec = boardPanel(name == "board, button by edges")
			}
			defer f.Halt()
			bus := status.NewBus(SampleSnapshot(time.Now()))
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			before := cpuTime(t)
			start := time.Now()
			Follow(ctx, bus, f)
			wall := time.Since(start)
			used := cpuTime(t) - before
			t.Logf("%s panel idle for %v: CPU %v = %.3f%% of one core", name, wall.Round(time.Millisecond), used, 100*used.Seconds()/wall.Seconds())
			if rec != nil {
				n := 0
				for _, op := range rec.Ops {
					n += len(op.W)
				}
				t.Logf("display bytes sent: %d (%.0f a minute)", n, float64(n)/wall.Minutes())
			}
		})
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
