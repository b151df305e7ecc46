package admin

import (
	"context"
	"strings"

	"postroom/appliance/config"
	"postroom/storage"
)

// The first set-up (the web page's wizard, webui/wizard.go). The wizard
// adds domains and accounts with the ordinary operations; these two mark
// its start and its end in the store (storage.SetupState), so that a
// restart in the middle keeps the box waiting to be set up, and the end
// makes the box's TLS and DKIM material, saves the host name and lets the
// box leave "needs setup".

const (
	opSetupStart  = "setup.start"
	opSetupFinish = "setup.finish"
)

// SetupStart records that the set-up wizard began (someone typed the
// set-up code): from now on the box waits to be set up until SetupFinish,
// even once it has accounts. Refused on a box that is set up.
type SetupStart struct{}

func (SetupStart) OpName() string { return opSetupStart }

// SetupResult is the answer of the set-up operations.
type SetupResult struct {
	State string `json:"state"` // "wizard" or "done"
	// Note says what was made and when it takes effect, in words.
	Note string `json:"note,omitempty"`
}

func (a *Admin) SetupStart(ctx context.Context, by Actor, req SetupStart) (SetupResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetupStart) (SetupResult, string, error) {
		if err := a.needsSetup(); err != nil {
			return SetupResult{}, "", err
		}
		if err := a.st.SetSetupState(storage.SetupWizard); err != nil {
			return SetupResult{}, "", internal("recording the set-up's start", err)
		}
		return SetupResult{State: "wizard"}, "started the set-up", nil
	})
}

// needsSetup refuses when the box is set up: the wizard finished, or it
// has accounts and no wizard ever ran (set up with postroomctl, or made
// before the wizard existed).
func (a *Admin) needsSetup() error {
	state, err := a.st.SetupState()
	if err != nil {
		return internal("reading the set-up state", err)
	}
	if state == storage.SetupWizard {
		return nil
	}
	_, total, err := a.admins()
	if err != nil {
		return err
	}
	if state == storage.SetupDone || total > 0 {
		return errorf(CodeConflict, "", "the box is set up already")
	}
	return nil
}

// SetupFinish ends the set-up: it makes the TLS certificate for Hostname
// and DKIM keys for every mail domain (Options.Material), records the end
// in the store, and saves the host name (the services restart to use it
// when it changed). The box needs a mail domain and an administrator
// first.
type SetupFinish struct {
	Hostname string `json:"hostname"`
}

func (SetupFinish) OpName() string { return opSetupFinish }

func (a *Admin) SetupFinish(ctx context.Context, by Actor, req SetupFinish) (SetupResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetupFinish) (SetupResult, string, error) {
		h, err := NormalizeDomain("hostname", req.Hostname)
		if err != nil {
			return SetupResult{}, "", errorf(CodeInvalid, "hostname", "%q is not a host name such as mail.example.org", safe(req.Hostname))
		}
		if err := a.needsSetup(); err != nil {
			return SetupResult{}, "", err
		}
		c, err := a.loadConfig()
		if err != nil {
			return SetupResult{}, "", err
		}
		if len(c.Domains) == 0 {
			return SetupResult{}, "", errorf(CodeConflict, "domains", "the box has no mail domain yet")
		}
		if n, _, err := a.admins(); err != nil {
			return SetupResult{}, "", err
		} else if n == 0 {
			return SetupResult{}, "", errorf(CodeConflict, "admin", "the box has no administrator yet")
		}
		next := c
		next.Hostname = h
		if err := next.Validate(); err != nil {
			return SetupResult{}, "", errorf(CodeInvalid, "hostname", "%v", err)
		}
		// The material first: if it cannot be made, nothing has changed
		// (a key file made before the failure is simply used later).
		made := "no TLS or DKIM material (this box cannot make it)"
		if a.o.Material != nil {
			if made, err = a.o.Material(next); err != nil {
				return SetupResult{}, "", internal("making the TLS certificate and DKIM keys", err)
			}
		}
		if err := a.st.SetSetupState(storage.SetupDone); err != nil {
			return SetupResult{}, "", internal("recording the set-up's end", err)
		}
		what := "finished the set-up: " + made
		res := SetupResult{State: "done", Note: "saved"}
		if !strings.EqualFold(strings.TrimSuffix(c.Hostname, "."), h) {
			what += "; host name " + h
			s, err := a.changeConfig(by, "hostname", what, true, func(c *config.Config) error {
				c.Hostname = h
				return nil
			})
			if err != nil {
				// Not half-done: the wizard may try again.
				if serr := a.st.SetSetupState(storage.SetupWizard); serr != nil {
					a.log.Error("admin: undo the set-up's end", "err", serr)
				}
				return SetupResult{}, "", err
			}
			res.Note = s.Note
		}
		return res, what, nil
	})
}
