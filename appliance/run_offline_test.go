package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
)

// waitFor polls the Bus until ok says yes; the deadline only keeps a
// broken runner from hanging the test.
func (r *running) waitFor(t *testing.T, what string, ok func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	notify, unsubscribe := r.bus.Subscribe()
	defer unsubscribe()
	deadline := time.After(30 * time.Second)
	for {
		if s := r.bus.Latest(); ok(s) {
			return s
		}
		select {
		case <-notify:
		case <-deadline:
			t.Fatalf("%s: never happened; snapshot %+v\nlog:\n%s", what, r.bus.Latest(), r.log.String())
		}
	}
}

// listening is the address of every service that listens now.
func listening(s status.Snapshot) map[string]string {
	out := map[string]string{}
	for _, sv := range s.Services {
		if sv.State == status.ServiceListening {
			out[sv.Name] = sv.Addr
		}
	}
	return out
}

// TestOfflineStep: a step asked for on a running appliance runs while every
// listener is closed and the store is closed (the step opens it itself and
// finds the mail delivered before), with the phase saying what happens;
// then every service serves again on a fresh start.
func TestOfflineStep(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.IMAP = "127.0.0.1:0"
	r, password := startDemo(t, cfg)
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "sender@elsewhere.test", config.DemoUser)
	before := listening(r.bus.Latest())
	if len(before) != 3 {
		t.Fatalf("listening before the step: %v", before)
	}

	type seen struct {
		dataDir  string
		dialed   map[string]error
		messages int
		phase    status.Snapshot
		err      error
	}
	got := make(chan seen, 1)
	err := r.maint.Offline("checking the store", "test", func(ctx context.Context, dataDir string) error {
		v := seen{dataDir: dataDir, dialed: map[string]error{}, phase: r.bus.Latest()}
		for name, addr := range before {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			v.dialed[name] = err
		}
		// The runner closed the store: it opens here, as a restore would.
		st, err := storage.Open(storage.Options{Dir: filepath.Join(dataDir, "store"), Logger: testutil.Logger(t)})
		if err != nil {
			v.err = err
		} else {
			if acct, err := st.Authenticate(config.DemoUser, password); err != nil {
				v.err = err
			} else if inbox, err := st.Mailbox(acct.ID, storage.InboxName); err != nil {
				v.err = err
			} else {
				v.messages = int(inbox.Messages)
			}
			if err := st.Check(ctx); err != nil && v.err == nil {
				v.err = err
			}
			if err := st.Close(); err != nil && v.err == nil {
				v.err = err
			}
		}
		got <- v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var v seen
	select {
	case v = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("the step never ran; log:\n%s", r.log.String())
	}
	if abs, _ := filepath.Abs(cfg.DataDir); v.dataDir != abs {
		t.Errorf("step got data folder %q, want %q", v.dataDir, abs)
	}
	for name, err := range v.dialed {
		if err == nil {
			t.Errorf("%s (%s) accepted a connection during the step", name, before[name])
		}
	}
	if v.err != nil || v.messages != 1 {
		t.Errorf("the step's own look at the store: %d messages, %v", v.messages, v.err)
	}
	if v.phase.Phase != status.PhaseMaintenance || v.phase.Maintenance != "checking the store" {
		t.Errorf("phase during the step: %q %q", v.phase.Phase, v.phase.Maintenance)
	}
	for _, sv := range v.phase.Services {
		if sv.State != status.ServiceStopped {
			t.Errorf("service %s is %s during the step", sv.Name, sv.State)
		}
	}

	// Started again: every service answers, the mail is still there.
	after := listening(r.waitFor(t, "start after the step", func(s status.Snapshot) bool {
		return s.Phase == status.PhaseRunning && len(listening(s)) == 3
	}))
	for name, addr := range after {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Errorf("%s after the step: %v", name, err)
			continue
		}
		c.Close()
	}
	if s := r.bus.Latest(); s.Problem != "" || s.Maintenance != "" {
		t.Errorf("after a good step: problem %q, maintenance %q", s.Problem, s.Maintenance)
	}
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "sender@elsewhere.test", config.DemoUser)
	if !strings.Contains(r.log.String(), "maintenance step done") {
		t.Errorf("the step is not logged:\n%s", r.log.String())
	}
}

// TestOfflineStepFails: the step's error is the problem on the page after
// the box has started again, and the box serves.
func TestOfflineStepFails(t *testing.T) {
	r, _ := startDemo(t, testConfig(t))
	if err := r.maint.Offline("restoring backup", "test", func(context.Context, string) error {
		return errors.New("the backup file is truncated")
	}); err != nil {
		t.Fatal(err)
	}
	want := "restoring backup failed: the backup file is truncated"
	s := r.waitFor(t, "start after the failed step", func(s status.Snapshot) bool {
		return s.Phase == status.PhaseRunning && strings.Contains(s.Problem, want)
	})
	resp, err := http.Get("http://" + r.addr(t, ServiceWeb) + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), want) {
		t.Errorf("the status page does not show %q (problem %q):\n%s", want, s.Problem, body)
	}
}

// TestOfflineStepShutdown: a stop (SIGTERM) during a step ends the step's
// context, and the appliance does not start again.
func TestOfflineStepShutdown(t *testing.T) {
	r, _ := startDemo(t, testConfig(t))
	running := make(chan struct{})
	if err := r.maint.Offline("writing an update", "test", func(ctx context.Context, _ string) error {
		close(running)
		<-ctx.Done()
		return fmt.Errorf("update cut short: %w", ctx.Err())
	}); err != nil {
		t.Fatal(err)
	}
	<-running
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after a stop during the step: %v", err)
	}
	if p := r.bus.Latest().Phase; p != status.PhaseMaintenance {
		t.Errorf("phase after the stop: %s; want maintenance (never started again)", p)
	}
}

// TestMaintenanceBusy: one step waits at a time; a second is refused at
// once rather than queued behind it.
func TestMaintenanceBusy(t *testing.T) {
	m := NewMaintenance()
	step := func(context.Context, string) error { return nil }
	if err := m.Offline("one", "test", step); err != nil {
		t.Fatal(err)
	}
	if err := m.Offline("two", "test", step); !errors.Is(err, ErrMaintenanceBusy) {
		t.Fatalf("second step: %v; want ErrMaintenanceBusy", err)
	}
}
