package hw

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
	"postroom/internal/testutil"
)

func TestLEDsFor(t *testing.T) {
	running := status.Snapshot{Phase: status.PhaseRunning, MailDay: "2026-11-26", MailToday: 3,
		Services: []status.Service{{Name: "smtp", State: status.ServiceListening}}}
	withMail := running
	withMail.MailToday = 4
	nextDay := running
	nextDay.MailDay, nextDay.MailToday = "2026-11-27", 1
	failed := running
	failed.Services = []status.Service{{Name: "smtp", State: status.ServiceFailed, Error: "port in use"}}
	problem := running
	problem.Problem = "Disk nearly full"

	tests := []struct {
		name      string
		prev, cur status.Snapshot
		want      LEDs
	}{
		{"booting", status.Snapshot{}, status.Snapshot{Phase: status.PhaseBooting}, LEDs{}},
		{"running, quiet", running, running, LEDs{Ready: true}},
		{"mail arrived", running, withMail, LEDs{Ready: true, Mail: true}},
		{"first mail of a new day", running, nextDay, LEDs{Ready: true, Mail: true}},
		{"service failed", running, failed, LEDs{Attention: true}},
		{"problem", running, problem, LEDs{Ready: true, Attention: true}},
		{"needs setup", status.Snapshot{}, status.Snapshot{Phase: status.PhaseNeedsSetup}, LEDs{Ready: true, Attention: true}},
		{"shutting down", running, status.Snapshot{Phase: status.PhaseShuttingDown}, LEDs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LEDsFor(tt.prev, tt.cur); got != tt.want {
				t.Errorf("LEDsFor = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestSimulatedLogsChangesOnly(t *testing.T) {
	var buf testutil.SyncBuffer
	p := NewSimulated(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s := status.Snapshot{Phase: status.PhaseRunning}
	p.Show(s)
	p.Show(s) // unchanged: no second line
	if got := strings.Count(buf.String(), "msg=LEDs"); got != 1 {
		t.Fatalf("logged %d LED lines; want 1:\n%s", got, buf.String())
	}
	if !p.LEDs().Ready {
		t.Fatal("ready LED off while running")
	}
	if err := p.Halt(); err != nil {
		t.Fatal(err)
	}
	p.Show(s)
	if p.LEDs() != (LEDs{}) {
		t.Fatalf("LEDs after Halt = %+v; want all off", p.LEDs())
	}
}

// chanPanel hands every shown Snapshot to the test.
type chanPanel chan status.Snapshot

func (c chanPanel) Show(s status.Snapshot) { c <- s }
func (c chanPanel) Halt() error            { return nil }

func TestFollow(t *testing.T) {
	bus := status.NewBus(status.Snapshot{Phase: status.PhaseBooting})
	p := make(chanPanel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Follow(ctx, bus, p); close(done) }()
	next := func() status.Snapshot {
		select {
		case s := <-p:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("panel was not shown a Snapshot")
			return status.Snapshot{}
		}
	}
	if s := next(); s.Phase != status.PhaseBooting {
		t.Fatalf("first Show got %q; want the current phase, booting", s.Phase)
	}
	bus.Update(func(s *status.Snapshot) { s.Phase = status.PhaseRunning })
	if s := next(); s.Phase != status.PhaseRunning {
		t.Fatalf("Show got %q; want running", s.Phase)
	}
	cancel()
	<-done
}
