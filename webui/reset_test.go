package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/appliance/status"
)

// resetRig is the web pages with a fake administrator ("admin@x.test",
// password "pw-Quokka-7") and a recorded factory reset.
type resetRig struct {
	srv  *httptest.Server
	bus  *status.Bus
	used time.Time // LastReset
	busy error     // what FactoryReset answers
	mu   sync.Mutex
	done []string // who confirmed each reset
}

// CheckAdmin makes resetRig an Admins.
func (rr *resetRig) CheckAdmin(_ context.Context, remote, user, password string) error {
	if !strings.HasPrefix(remote, "127.0.0.1:") {
		return fmt.Errorf("remote %q", remote)
	}
	switch {
	case user == "locked@x.test":
		return fmt.Errorf("admin %s: %w", user, ErrLoginLocked)
	case user != "admin@x.test" || password != "pw-Quokka-7":
		return fmt.Errorf("not an administrator")
	}
	return nil
}

// FactoryReset and LastReset make resetRig a Resetter.
func (rr *resetRig) FactoryReset(by string) error {
	if rr.busy != nil {
		return rr.busy
	}
	rr.mu.Lock()
	rr.done = append(rr.done, by)
	rr.mu.Unlock()
	return nil
}

func (rr *resetRig) LastReset() time.Time { return rr.used }

func newResetRig(t *testing.T, used time.Time, withReset bool, busy error) *resetRig {
	t.Helper()
	rr := &resetRig{bus: status.NewBus(snapshot()), used: used, busy: busy}
	opts := Options{Bus: rr.bus, Logger: slog.New(slog.DiscardHandler)}
	if withReset {
		opts.Admins, opts.Reset = rr, rr
	}
	rr.srv = httptest.NewServer(New(opts))
	t.Cleanup(rr.srv.Close)
	return rr
}

func (rr *resetRig) post(t *testing.T, form url.Values, origin string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", rr.srv.URL+"/factory-reset", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (rr *resetRig) resets() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]string(nil), rr.done...)
}

func TestFactoryResetPage(t *testing.T) {
	good := url.Values{"user": {"admin@x.test"}, "password": {"pw-Quokka-7"}, "confirm": {"ERASE"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	recent := time.Now().Add(-2 * time.Minute)
	for _, tc := range []struct {
		name      string
		pressed   time.Time
		used      time.Time
		noReset   bool
		busy      error
		form      url.Values
		origin    string // "" none, "self" the server's own
		code      int
		want      string
		confirmed bool
	}{
		{name: "confirmed", pressed: recent, form: good, origin: "self", code: 200, want: "Erasing", confirmed: true},
		{name: "confirmed by a client that sends no Origin", pressed: recent, form: good, code: 200, want: "Erasing", confirmed: true},
		{name: "no button press", form: good, origin: "self", code: 409, want: "No factory reset is waiting"},
		{name: "press too long ago", pressed: time.Now().Add(-ResetWindow - time.Minute), form: good, code: 409, want: "No factory reset is waiting"},
		{name: "press used by the last reset", pressed: recent, used: recent.Add(time.Second), form: good, code: 409, want: "No factory reset is waiting"},
		{name: "not typed ERASE", pressed: recent, form: with("confirm", "erase"), code: 400, want: "Type ERASE"},
		{name: "wrong password", pressed: recent, form: with("password", "wrong"), code: 403, want: "not an administrator"},
		{name: "not an administrator", pressed: recent, form: with("user", "staff@x.test"), code: 403, want: "not an administrator"},
		{name: "locked out", pressed: recent, form: with("user", "locked@x.test"), code: 403, want: "Too many failed logins"},
		{name: "posted from another site", pressed: recent, form: good, origin: "http://evil.test", code: 403, want: "box's own page"},
		{name: "no reset on this box", pressed: recent, noReset: true, form: good, code: 501, want: "cannot be reset"},
		{name: "the box is busy", pressed: recent, busy: errors.New("a backup is being restored"), form: good, code: 503, want: "cannot start the reset now: a backup is being restored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := newResetRig(t, tc.used, !tc.noReset, tc.busy)
			rr.bus.Update(func(s *status.Snapshot) { s.ResetRequested = tc.pressed })
			origin := tc.origin
			if origin == "self" {
				origin = rr.srv.URL
			}
			code, body := rr.post(t, tc.form, origin)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("POST = %d, want %d with %q:\n%s", code, tc.code, tc.want, body)
			}
			got := rr.resets()
			if tc.confirmed != (len(got) == 1) || (tc.confirmed && got[0] != "admin@x.test") {
				t.Errorf("resets done: %q; want one: %v", got, tc.confirmed)
			}
			if strings.Contains(body, "pw-Quokka-7") {
				t.Error("the page repeats the password")
			}
		})
	}
}

func TestFactoryResetForm(t *testing.T) {
	rr := newResetRig(t, time.Time{}, true, nil)
	resp, body := get(t, "GET", rr.srv.URL+"/factory-reset")
	if resp.StatusCode != 200 || !strings.Contains(body, "No factory reset is waiting") || strings.Contains(body, "<form") {
		t.Fatalf("without a press: %d\n%s", resp.StatusCode, body)
	}
	rr.bus.Update(func(s *status.Snapshot) { s.ResetRequested = time.Now() })
	_, body = get(t, "GET", rr.srv.URL+"/factory-reset")
	for _, want := range []string{`<form method="post" action="/factory-reset">`, `name="password" type="password"`, "every account and every message", "cannot be undone"} {
		if !strings.Contains(body, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	_, status := get(t, "GET", rr.srv.URL+"/")
	if !strings.Contains(status, `href="/factory-reset"`) {
		t.Error("the status page does not lead to the reset page")
	}
}
