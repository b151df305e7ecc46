package appliance

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/dkim"
	"postroom/appliance/firstboot"
	"postroom/appliance/status"
	"postroom/storage"
)

// The first set-up. The box waits to be set up ("needs setup") while its
// store has no account, and from the moment someone typed the set-up code
// until the web page's wizard finished (storage.SetupState, so a restart
// in the middle keeps waiting). While it waits, the one-time set-up code
// (appliance/firstboot) is on the status Bus for the display, and each
// new code is printed on the console (the appliance's standard output:
// the board's serial console, the terminal of `make run-setup`); the web
// pages never show it. The wizard itself is webui/wizard.go; it writes
// through the admin layer (SetupStart, SetupFinish: setupMaterial below
// makes the TLS certificate and DKIM keys).

// newFirstBoot is the set-up code holder of every start of the services:
// it outlives a restart (the host name, saved at the end of the set-up,
// makes one), so that the wizard's session does too.
func newFirstBoot(stdout io.Writer) *firstboot.Setup {
	return firstboot.New(firstboot.Options{Announce: func(code string, expires time.Time) {
		// A line for the console, not the log: the log is kept for the
		// web page and the diagnostics, and the code is nobody's there.
		fmt.Fprintf(stdout, "Postroom set-up code: %s (until %s UTC; a new one is shown then). Type it on the box's web page.\n",
			code, expires.UTC().Format("15:04"))
	}})
}

// needsSetup decides at start whether the box waits to be set up (the
// admin layer decides the same after each change).
func needsSetup(st *storage.Store, accounts int) (bool, error) {
	state, err := st.SetupState()
	if err != nil {
		return false, err
	}
	return accounts == 0 || state == storage.SetupWizard, nil
}

// wantsDemoUser: development mode makes its demo user on a new store,
// unless it was started to walk the set-up (Options.SetupWizard) or a
// set-up has begun.
func (r *runner) wantsDemoUser(st *storage.Store) (bool, error) {
	if !r.cfg.Dev || r.opts.SetupWizard {
		return false, nil
	}
	state, err := st.SetupState()
	return state != storage.SetupWizard, err
}

// setupWorker keeps the set-up code on the Bus while the box waits to be
// set up, replaces it when it expires or is used, and takes it away when
// the set-up is done.
func (r *runner) setupWorker() {
	fb := r.opts.FirstBoot
	r.addWorker("set-up code", func(ctx context.Context) error {
		notify, unsubscribe := r.bus.Subscribe()
		defer unsubscribe()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			s := r.bus.Latest()
			switch s.Phase {
			case status.PhaseNeedsSetup:
				fb.SetActive(true)
			case status.PhaseRunning:
				fb.SetActive(false)
			}
			code, expires := fb.Code() // "" when not active; a new one when expired
			if want := code; s.Phase == status.PhaseNeedsSetup && s.SetupCode != want || s.Phase == status.PhaseRunning && s.SetupCode != "" {
				r.update(func(s *status.Snapshot) {
					s.SetupCode = ""
					if s.Phase == status.PhaseNeedsSetup {
						s.SetupCode = want
					}
				})
			}
			if !expires.IsZero() {
				timer.Reset(max(time.Until(expires), time.Second))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-notify:
			case <-fb.Changed():
			case <-timer.C:
			}
		}
	})
}

// setupMaterial is admin.Options.Material: at the end of the set-up, the
// TLS certificate for the chosen host name (unless the config names its
// own files) and the DKIM keys of every mail domain, with the code that
// makes them at start and on first use.
func (r *runner) setupMaterial(cfg config.Config) (string, error) {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("data folder: %w", err)
	}
	var made []string
	if _, _, generated := cfg.CertFiles(dataDir); generated {
		if _, err := ensureCertificate(cfg, dataDir, r.log); err != nil {
			return "", err
		}
		made = append(made, "a TLS certificate for "+cfg.Hostname)
	}
	keys := dkim.New(filepath.Join(dataDir, "dkim"))
	for _, d := range cfg.Domains {
		if _, err := keys.Domain(d); err != nil {
			return "", fmt.Errorf("DKIM keys for %s: %w", d, err)
		}
	}
	if len(cfg.Domains) > 0 {
		made = append(made, "DKIM keys for "+strings.Join(cfg.Domains, ", "))
	}
	return strings.Join(made, " and "), nil
}

// printSetupBanner shows, in development mode, that the box waits to be
// set up, where and with which code.
func printSetupBanner(w io.Writer, code string, services []*service) {
	lines := []string{
		"Postroom is running in development mode and waits to be set up.",
		"",
		"Set-up code:  " + code,
		"              (new every hour: the new one is printed below)",
	}
	for _, sv := range services {
		if sv.name == ServiceWeb {
			lines = append(lines, "Open:         http://"+sv.ln.Addr().String()+"/setup")
		}
	}
	io.WriteString(w, boxed(lines)) // demo.go
}
