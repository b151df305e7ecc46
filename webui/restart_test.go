package webui

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"postroom/appliance/admin"
)

// TestRestartButton: "Restart the box" is on the settings page for an
// administrator, with the sentence that says what happens; posting it
// calls the runner's restart once and shows its note; a post with a wrong
// form token and one by an account that is not an administrator restart
// nothing.
func TestRestartButton(t *testing.T) {
	var calls atomic.Int32
	s := newSiteWith(t, func(o *admin.Options) {
		o.Restart = func(by admin.Actor) (string, error) {
			calls.Add(1)
			return "The box restarts now.", nil
		}
	})

	w := s.browser(t)
	w.login(worker, workerPW)
	resp, body := w.get("/settings")
	if resp.StatusCode == http.StatusOK || strings.Contains(body, `action="/restart"`) {
		t.Errorf("not an administrator: settings page %d\n%s", resp.StatusCode, body)
	}
	w.get("/me") // a form token of the worker's own
	resp, body = w.post("/restart", url.Values{"from": {"settings"}})
	if resp.StatusCode == http.StatusOK || calls.Load() != 0 {
		t.Fatalf("not an administrator: restart answered %d, %d calls\n%s", resp.StatusCode, calls.Load(), body)
	}

	b := s.browser(t)
	b.login(boss, bossPW)
	_, body = b.get("/settings")
	for _, want := range []string{`<form method="post" action="/restart" id="restart">`, `name="from" value="settings"`,
		"Mail stops for about a minute; senders try again, nothing is lost.", `<button type="submit">Restart the box</button>`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q\n%s", want, body)
		}
	}
	resp, body = b.post("/restart", url.Values{"from": {"settings"}, "csrf": {"not-the-token"}})
	wantStatus(t, resp, body, http.StatusForbidden, "wrong token")
	if calls.Load() != 0 {
		t.Fatalf("a forged post restarted the box")
	}
	resp, body = b.post("/restart", url.Values{"from": {"settings"}})
	wantStatus(t, resp, body, http.StatusOK, "restart")
	if calls.Load() != 1 || !strings.Contains(body, `<p class="notice" id="notice" role="status">The box restarts now.</p>`) {
		t.Errorf("restart: %d calls\n%s", calls.Load(), body)
	}
	if !strings.Contains(s.log.String(), "box.restart") {
		t.Errorf("the restart is not in the audit log:\n%s", s.log)
	}
}

// TestRestartRefusedOffTheBoard: a machine the init did not start (no
// Options.Restart) says in words how it is restarted, on the Backups page
// the form came from, with the button shown again beside the message.
func TestRestartRefusedOffTheBoard(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	b.get("/backups")
	resp, body := b.post("/restart", url.Values{"from": {"backups"}})
	wantStatus(t, resp, body, http.StatusConflict, "restart off the board")
	for _, want := range []string{"stop postroom and start it again", `name="from" value="backups"`, `href="#restart"`} {
		if !strings.Contains(body, want) {
			t.Errorf("backups page lacks %q\n%s", want, body)
		}
	}
}
