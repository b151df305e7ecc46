package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"postroom/storage"
)

// App passwords, the account password kept for the web, and the devices
// an account was seen on (storage/apppasswords.go, storage/logins.go).
//
// Removing an app password, changing the password, keeping it for the web
// and removing or renaming the account end the account's open IMAP, POP3
// and submission sessions (Options.EndSessions): "log out everywhere".
// Programs that still hold a good password log in again at once.

// AppPassword is an app password as the operations show it: never its
// secret.
type AppPassword struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"` // zero: never; updated at most hourly
}

// Device is where an account logged in from.
type Device struct {
	Protocol string    `json:"protocol"` // imap, pop3, submission, web
	Addr     string    `json:"addr"`
	Client   string    `json:"client,omitempty"` // the program's or app password's name
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

func appPasswordOf(p storage.AppPassword) AppPassword {
	return AppPassword{ID: p.ID, Name: p.Name, Created: p.Created, LastUsed: p.LastUsed}
}

func devicesOf(ds []storage.Device) []Device {
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, Device{Protocol: d.Protocol, Addr: d.Addr, Client: d.Client, First: d.First, Last: d.Last})
	}
	return out
}

// AppPasswordResult answers AddAppPassword and RevokeAppPassword.
type AppPasswordResult struct {
	Account     string      `json:"account"`
	AppPassword AppPassword `json:"app_password"`
	// Password is the new app password, set only by AddAppPassword: shown
	// once, the store keeps only its hash.
	Password string `json:"password,omitempty"`
	// Ended is how many open mail sessions of the account were ended.
	Ended int `json:"ended,omitempty"`
}

// AppPasswordList answers ListAppPasswords.
type AppPasswordList struct {
	Account      string        `json:"account"`
	AppPasswords []AppPassword `json:"app_passwords"`
}

// AddAppPassword makes a new app password called Name ("Anna's phone")
// for Account.
type AddAppPassword struct {
	Account string `json:"account"`
	Name    string `json:"name"`
}

func (AddAppPassword) OpName() string { return "apppass.add" }

func (a *Admin) AddAppPassword(ctx context.Context, by Actor, req AddAppPassword) (AppPasswordResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req AddAppPassword) (AppPasswordResult, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return AppPasswordResult{}, "", err
		}
		name, err := storage.CheckAppPasswordName(req.Name)
		if err != nil {
			return AppPasswordResult{}, "", errorf(CodeInvalid, "name",
				"give the app password a name of 1 to %d characters, on one line (for example \"Anna's phone\")", storage.MaxAppPasswordName)
		}
		p, secret, err := a.st.AddAppPassword(acct.Name, name)
		switch {
		case errors.Is(err, storage.ErrAppPasswordTaken):
			return AppPasswordResult{}, "", errorf(CodeExists, "name", "%s already has an app password called %q: choose another name", acct.Name, name)
		case errors.Is(err, storage.ErrTooManyAppPasswd):
			return AppPasswordResult{}, "", errorf(CodeConflict, "name", "%s has %d app passwords, the most allowed: remove one first", acct.Name, storage.MaxAppPasswords)
		case err != nil:
			return AppPasswordResult{}, "", internal("adding an app password to "+acct.Name, err)
		}
		return AppPasswordResult{Account: acct.Name, AppPassword: appPasswordOf(p), Password: secret},
			fmt.Sprintf("added app password %s (%q) to %s", p.ID, safe(p.Name), acct.Name), nil
	})
}

// ListAppPasswords lists an account's app passwords, oldest first.
type ListAppPasswords struct {
	Account string `json:"account"`
}

func (ListAppPasswords) OpName() string { return "apppass.list" }
func (ListAppPasswords) readOnly()      {}

func (a *Admin) ListAppPasswords(ctx context.Context, by Actor, req ListAppPasswords) (AppPasswordList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListAppPasswords) (AppPasswordList, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return AppPasswordList{}, "", err
		}
		ps, err := a.appPasswords(acct.Name)
		return AppPasswordList{Account: acct.Name, AppPasswords: ps}, "", err
	})
}

func (a *Admin) appPasswords(name string) ([]AppPassword, error) {
	ps, err := a.st.AppPasswords(name)
	if err != nil {
		return nil, internal("reading the app passwords of "+name, err)
	}
	out := make([]AppPassword, 0, len(ps))
	for _, p := range ps {
		out = append(out, appPasswordOf(p))
	}
	return out, nil
}

// RevokeAppPassword removes the app password ID of Account: logins with
// it fail from now on, and the account's open mail sessions end.
type RevokeAppPassword struct {
	Account string `json:"account"`
	ID      string `json:"id"`
}

func (RevokeAppPassword) OpName() string { return "apppass.revoke" }

func (a *Admin) RevokeAppPassword(ctx context.Context, by Actor, req RevokeAppPassword) (AppPasswordResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RevokeAppPassword) (AppPasswordResult, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return AppPasswordResult{}, "", err
		}
		id := strings.ToLower(strings.TrimSpace(req.ID))
		p, err := a.st.RevokeAppPassword(acct.Name, id)
		if errors.Is(err, storage.ErrNotFound) {
			return AppPasswordResult{}, "", errorf(CodeNotFound, "id", "%s has no app password %q", acct.Name, safe(req.ID))
		}
		if err != nil {
			return AppPasswordResult{}, "", internal("removing an app password of "+acct.Name, err)
		}
		n := a.endSessions(acct.Name)
		return AppPasswordResult{Account: acct.Name, AppPassword: appPasswordOf(p), Ended: n},
			fmt.Sprintf("removed app password %s (%q) of %s%s", p.ID, safe(p.Name), acct.Name, endedWords(n)), nil
	})
}

// SetPasswordWebOnly keeps Account's own password for the web page (On):
// mail programs must then use app passwords. Turning it on ends the
// account's open mail sessions.
type SetPasswordWebOnly struct {
	Account string `json:"account"`
	On      bool   `json:"on"`
}

func (SetPasswordWebOnly) OpName() string { return "account.webonly" }

func (a *Admin) SetPasswordWebOnly(ctx context.Context, by Actor, req SetPasswordWebOnly) (AccountResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetPasswordWebOnly) (AccountResult, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return AccountResult{}, "", err
		}
		if err := a.st.SetPasswordWebOnly(acct.Name, req.On); err != nil {
			return AccountResult{}, "", internal("changing where the password of "+acct.Name+" works", err)
		}
		acct.PasswordWebOnly = req.On
		what := "let mail programs use the password of " + acct.Name + " again"
		if req.On {
			what = "kept the password of " + acct.Name + " for the web page (mail programs need app passwords)" +
				endedWords(a.endSessions(acct.Name))
		}
		return AccountResult{Account: accountOf(acct)}, what, nil
	})
}

// ListDevices lists where an account logged in from, most recent first.
type ListDevices struct {
	Account string `json:"account"`
}

// DeviceList answers ListDevices.
type DeviceList struct {
	Account string   `json:"account"`
	Devices []Device `json:"devices"`
}

func (ListDevices) OpName() string { return "account.devices" }
func (ListDevices) readOnly()      {}

func (a *Admin) ListDevices(ctx context.Context, by Actor, req ListDevices) (DeviceList, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListDevices) (DeviceList, string, error) {
		acct, err := a.account("account", req.Account)
		if err != nil {
			return DeviceList{}, "", err
		}
		ds, err := a.st.Devices(acct.Name)
		if err != nil {
			return DeviceList{}, "", internal("reading the devices of "+acct.Name, err)
		}
		return DeviceList{Account: acct.Name, Devices: devicesOf(ds)}, "", nil
	})
}

// endSessions ends the account's open mail sessions (Options.EndSessions).
func (a *Admin) endSessions(name string) int {
	if a.o.EndSessions == nil {
		return 0
	}
	return a.o.EndSessions(name)
}

func endedWords(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "; ended its open mail session"
	}
	return fmt.Sprintf("; ended its %d open mail sessions", n)
}

// LogValue: the request holds no secret, but its name is the user's words.
func (r AddAppPassword) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", r.Account), slog.String("name", safe(r.Name)))
}
