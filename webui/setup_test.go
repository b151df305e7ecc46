package webui

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html"
	"html/template"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/storage"
	"postroom/webui/autoconfig"
)

// storeSetup is ClientSetup as the appliance's (appliance/run_public.go):
// the account from the store, its page from webui/autoconfig.
type storeSetup struct {
	st    *storage.Store
	links *autoconfig.Links
}

// setupBase is where the test's one-time links point (the public handler
// as a phone reaches it).
const setupBase = "http://mail.example.org"

func (c storeSetup) SetupPage(name string) (template.HTML, error) {
	a, err := c.st.Account(name)
	if err != nil {
		return "", err
	}
	const host = "mail.example.org"
	s := autoconfig.Settings{Hostname: host, Domains: []string{"example.org"}, Servers: []autoconfig.Server{
		{Protocol: autoconfig.IMAP, Host: host, Port: 993, Security: autoconfig.TLS},
		{Protocol: autoconfig.IMAP, Host: host, Port: 143, Security: autoconfig.STARTTLS},
		{Protocol: autoconfig.POP3, Host: host, Port: 995, Security: autoconfig.TLS},
		{Protocol: autoconfig.SMTP, Host: host, Port: 465, Security: autoconfig.TLS},
		{Protocol: autoconfig.SMTP, Host: host, Port: 587, Security: autoconfig.STARTTLS},
	}}
	p, err := autoconfig.NewSetupPage(s, autoconfig.Account{Address: a.Name, POPRetentionDays: a.POPRetentionDays}, c.links, setupBase)
	if err != nil {
		return "", err
	}
	return p.HTML()
}

// failingSetup is a ClientSetup whose pages cannot be made.
type failingSetup struct{}

func (failingSetup) SetupPage(string) (template.HTML, error) {
	return "", errors.New("no settings")
}

var (
	qrRE   = regexp.MustCompile(`<img src="data:image/png;base64,([A-Za-z0-9+/=&#;]+)"`)
	linkRE = regexp.MustCompile(`<a href="` + regexp.QuoteMeta(setupBase+autoconfig.PathLink) + `([A-Za-z0-9_-]+)">`)
)

// checkSetup checks that page holds the client set-up of account (its
// settings, its POP3 retention in words, a QR code and a one-time link per
// protocol that give that account's profile) and no other account's.
func checkSetup(t *testing.T, s *site, page, account, retention, where string) {
	t.Helper()
	for _, want := range []string{
		`id="client-setup"`, "Set up your mail program for " + account,
		`<code id="set-user">` + account + `</code>`,
		"Mail stays on the box; every device sees the same.", retention,
		"<td>Receive (IMAP)</td><td><code>mail.example.org</code></td><td><code>993</code></td><td>SSL/TLS (encrypted from the start)</td>",
		"<td>Receive (IMAP)</td><td><code>mail.example.org</code></td><td><code>143</code></td><td>STARTTLS</td>",
		"<td>Receive (POP3)</td><td><code>mail.example.org</code></td><td><code>995</code></td>",
		"<td>Send (SMTP)</td><td><code>mail.example.org</code></td><td><code>465</code></td>",
		"<td>Send (SMTP)</td><td><code>mail.example.org</code></td><td><code>587</code></td><td>STARTTLS</td>",
		`id="qr-imap"`, `id="qr-pop3"`, "Thunderbird", "Android",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("%s: the page lacks %q", where, want)
		}
	}
	if n := strings.Count(page, `id="client-setup"`); n != 1 {
		t.Errorf("%s: %d set-up sections", where, n)
	}
	qrs := qrRE.FindAllStringSubmatch(page, -1)
	if len(qrs) != 2 {
		t.Fatalf("%s: %d QR images, want 2", where, len(qrs))
	}
	for _, m := range qrs {
		b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("%s: QR image: %v", where, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: QR image: %v", where, err)
		}
		if r := img.Bounds(); r.Dx() != 256 || r.Dy() != 256 {
			t.Errorf("%s: QR image %v", where, r)
		}
	}
	links := linkRE.FindAllStringSubmatch(page, -1)
	if len(links) != 2 {
		t.Fatalf("%s: %d one-time links, want 2", where, len(links))
	}
	for i, want := range []autoconfig.Protocol{autoconfig.IMAP, autoconfig.POP3} {
		addr, proto, err := s.links.Take(links[i][1])
		if err != nil || addr != account || proto != want {
			t.Errorf("%s: link %d gives %q %q %v, want %s %s", where, i, addr, proto, err, account, want)
		}
	}
}

// TestClientSetupPages: a user finds the set-up of their own account on
// /me, an administrator that of any account on its page; a user cannot see
// another account's.
func TestClientSetupPages(t *testing.T) {
	s := newSite(t)
	if _, err := s.adm.Do(context.Background(), "test", admin.SetRetention{Name: worker, Days: 14}); err != nil {
		t.Fatal(err)
	}
	user := s.browser(t)
	user.login(worker, workerPW)
	resp, page := user.get("/me")
	wantStatus(t, resp, page, http.StatusOK, "/me")
	checkSetup(t, s, page, worker, "Copies stay on the box for 14 days after the download", "/me")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:;") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("CSP %q: the QR codes (data: images) must show, and nothing else may run", csp)
	}
	// Each view makes new links; the old ones were taken above.
	resp, page = user.get("/me")
	checkSetup(t, s, page, worker, "Copies stay on the box for 14 days", "/me again")

	// Not another account's page, nor its links.
	resp, page = user.get("/accounts/" + boss)
	wantStatus(t, resp, page, http.StatusForbidden, "a user on another account's page")
	if strings.Contains(page, "client-setup") || strings.Contains(page, "data:image/png") || strings.Contains(page, `<code id="set-user">`) {
		t.Errorf("a user sees another account's set-up:\n%s", page)
	}

	chief := s.browser(t)
	chief.login(boss, bossPW)
	resp, page = chief.get("/accounts/" + worker)
	wantStatus(t, resp, page, http.StatusOK, "the account page")
	checkSetup(t, s, page, worker, "Copies stay on the box for 14 days", "the account page")
	if strings.Contains(page, "Set up your mail program for boss@") {
		t.Error("the account page shows the administrator's own set-up")
	}
	resp, page = chief.get("/me")
	checkSetup(t, s, page, boss, "Copies stay on the box until you delete them", "the administrator's /me")

	// Without a ClientSetup the section is left out; one that fails says
	// so in words and the rest of the page stays.
	for _, c := range []struct {
		name  string
		setup ClientSetup
		want  string
	}{
		{"nil", nil, ""},
		{"failing", failingSetup{}, "The set-up instructions could not be made just now."},
	} {
		opts := s.opts
		opts.Setup = c.setup
		srv := httptest.NewServer(New(opts))
		t.Cleanup(srv.Close)
		s.srv = srv
		for _, path := range []string{"/me", "/accounts/" + worker} {
			resp, page := chief.get(path)
			wantStatus(t, resp, page, http.StatusOK, c.name+" "+path)
			if c.want == "" && strings.Contains(page, "client-setup") || c.want != "" && !strings.Contains(page, c.want) {
				t.Errorf("%s %s: set-up section wrong:\n%s", c.name, path, page)
			}
			if strings.Contains(page, "data:image/png") || !strings.Contains(page, `id="password"`) {
				t.Errorf("%s %s: the page is not whole without set-up", c.name, path)
			}
		}
	}
}
