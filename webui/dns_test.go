package webui

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/dkim"
	"postroom/appliance/dnsrecords"
	"postroom/appliance/netcheck"
	"postroom/appliance/status"
	"postroom/internal/dnstest"
)

// errNoNet is every connection of the DNS check in these tests.
var errNoNet = errors.New("no network in this test")

// dnsSite is newSite with a real DNS check (appliance/netcheck) against a
// dnstest server holding the records of the site's domains but for an MX
// that still points to the old provider.
func dnsSite(t testing.TB) (*site, *netcheck.Checker, *dnstest.Server) {
	t.Helper()
	s := newSite(t)
	keys := dkim.New(filepath.Join(t.TempDir(), "dkim"))
	zones := func(ctx context.Context) ([]dnsrecords.Zone, error) {
		set, err := admin.Call[admin.Settings](ctx, s.adm, "test", admin.GetSettings{})
		if err != nil {
			return nil, err
		}
		cfg := config.Default()
		cfg.Hostname = "mail.example.org"
		var out []dnsrecords.Zone
		for _, d := range set.Domains {
			dk, err := keys.Domain(d)
			if err != nil {
				return nil, err
			}
			z, err := dnsrecords.For(cfg, d, dk)
			if err != nil {
				return nil, err
			}
			out = append(out, z)
		}
		return out, nil
	}
	zs, err := zones(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"mail.example.org. 300 IN A 192.0.2.10", "example.org. 300 IN MX 10 mail.oldprovider.com."}
	for _, r := range zs[0].Records {
		if r.Type != "MX" {
			lines = append(lines, r.String())
		}
	}
	srv := dnstest.Start(t, lines...)
	c := netcheck.New(netcheck.Options{Resolver: srv.Resolver(), Zones: zones, Logger: s.opts.Logger,
		Now: s.clock.Now, ProbeOff: "a test never reaches the internet",
		// 192.0.2.10 is nowhere: connections to it fail at once.
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errNoNet }})
	s.opts.DNS = c
	s.srv.Close()
	s.srv = httptest.NewServer(New(s.opts))
	t.Cleanup(s.srv.Close)
	return s, c, srv
}

// TestDNSPage: the administrator sees each record to publish with a copy
// button, what is wrong in plain words with the fix, and the box's own
// name and connections; the page does not wait for the check.
func TestDNSPage(t *testing.T) {
	s, c, _ := dnsSite(t)
	c.Check(context.Background())
	s.clock.Advance(3 * time.Minute)
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/dns")
	wantStatus(t, resp, body, http.StatusOK, "GET /dns")
	for _, want := range []string{
		"<h1>DNS records</h1>",
		`<a href="/dns" class="here">DNS</a>`,
		"Checked 3 minutes ago.",
		"<strong>3 things to fix</strong>", // the MX, the reverse DNS, port 25 in
		`<li><a href="#example.org-mx">example.org: MX record (where your mail goes)</a></li>`,
		`<li><a href="#ptr-192-0-2-10">Reverse DNS of 192.0.2.10</a></li>`,
		`<div class="rec rec-wrong" id="example.org-mx">`,
		"Your MX record points to mail.oldprovider.com, not to this box: mail for example.org goes there.",
		"Change it to mail.example.org (MX, preference 10)",
		`<code id="example.org-mx-value">10 mail.example.org.</code> <button type="button" class="plain copy" data-copy="example.org-mx-value" hidden>Copy</button>`,
		`<code id="example.org-spf-value">v=spf1 mx -all</code>`,
		`id="example.org-dkim-pr-rsa-value">v=DKIM1; k=rsa; p=`,
		`id="example.org-dkim-pr-ed-value">v=DKIM1; k=ed25519; p=`,
		`id="example.org-dmarc-value">v=DMARC1; p=quarantine;`,
		`id="example.org-client-autodiscover-name">autodiscover.example.org.</code>`,
		`id="example.org-srv-submissions-value">0 1 465 mail.example.org.</code>`,
		// The reverse DNS the provider must set, with its own copy button.
		`<code id="ptr-192-0-2-10-name">10.2.0.192.in-addr.arpa.</code>`,
		"192.0.2.10 has no reverse DNS: many mail servers refuse mail from an address without it.",
		"Not checked: a test never reaches the internet.",
		"Nothing answered on port 25 at 192.0.2.10 (no network in this test): mail from outside cannot reach the box.",
		`<form method="post" action="/dns/check"`,
		`<script src="/dns.js"></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("the page reloads itself with no check running")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	resp, js := b.get("/dns.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(js, "data-copy") {
		t.Errorf("/dns.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// "Check again": the page says it is checking and reloads itself;
	// the check itself runs in the background (here: not at all).
	resp, body = b.post("/dns/check", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dns" {
		t.Fatalf("check again: %d %s", resp.StatusCode, body)
	}
	if !c.Report().Running {
		t.Error("no check asked for")
	}
	_, body = b.get("/dns")
	if !strings.Contains(body, `<meta http-equiv="refresh" content="3">`) || !strings.Contains(body, "Checking DNS now") ||
		!strings.Contains(body, "Your MX record points to mail.oldprovider.com") {
		t.Errorf("while checking the page shows:\n%s", body)
	}
}

// TestDNSPageNewDomain: a domain added since the last check (the set-up's
// last step leads to /dns) makes the page ask for a check.
func TestDNSPageNewDomain(t *testing.T) {
	s, c, _ := dnsSite(t)
	c.Check(context.Background())
	if _, err := s.adm.AddDomain(context.Background(), "test", admin.AddDomain{Domain: "example.net"}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.login(boss, bossPW)
	_, body := b.get("/dns")
	if !c.Report().Running || !strings.Contains(body, "Checking DNS now") {
		t.Fatalf("no new check for the new domain:\n%s", body)
	}
	c.Check(context.Background())
	_, body = b.get("/dns")
	if !strings.Contains(body, `<section id="domain-example.net">`) || c.Report().Running {
		t.Errorf("the new domain is not shown:\n%s", body)
	}
}

// TestDNSPageAccess: only an administrator, logged in, on the office
// network, sees the page or asks for a check.
func TestDNSPageAccess(t *testing.T) {
	s, c, _ := dnsSite(t)
	anon := s.browser(t)
	resp, body := anon.get("/dns")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fdns" {
		t.Errorf("no session: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, _ = anon.post("/dns/check", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || c.Report().Running {
		t.Errorf("check without a session: %d, running %v", resp.StatusCode, c.Report().Running)
	}
	user := s.browser(t)
	user.login(worker, workerPW)
	resp, body = user.get("/dns")
	wantStatus(t, resp, body, http.StatusForbidden, "a user's GET /dns")
	if strings.Contains(body, "v=spf1") {
		t.Error("a user sees the records")
	}
	resp, body = user.post("/dns/check", url.Values{})
	wantStatus(t, resp, body, http.StatusForbidden, "a user's check")
	boss1 := s.browser(t)
	boss1.login(boss, bossPW)
	resp, body = boss1.post("/dns/check", url.Values{"csrf": {"forged"}})
	wantStatus(t, resp, body, http.StatusForbidden, "a check with a wrong form token")
	if c.Report().Running {
		t.Error("a refused post asked for a check")
	}
	h := New(s.opts)
	for _, method := range []string{"GET", "POST"} {
		req := httptest.NewRequest(method, "/dns", nil)
		req.RemoteAddr = "203.0.113.5:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "office network") {
			t.Errorf("%s /dns from outside: %d %s", method, rec.Code, rec.Body)
		}
	}
}

// TestDNSPageOff: without a check the page says so.
func TestDNSPageOff(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/dns")
	wantStatus(t, resp, body, http.StatusOK, "GET /dns")
	if !strings.Contains(body, "This box does not check its DNS records.") {
		t.Errorf("page:\n%s", body)
	}
}

// TestStatusPageDNS: the status page has a line about the last DNS
// check, red while an MX or SPF record is wrong.
func TestStatusPageDNS(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		dns   status.DNSCheck
		words string
		bad   bool
	}{
		{status.DNSCheck{}, "", false},
		{status.DNSCheck{Checked: now.Add(-2 * time.Hour)}, "All right (checked 2 hours ago).", false},
		{status.DNSCheck{Checked: now.Add(-time.Minute), Problems: []string{"MX wrong."}, Notes: []string{"PTR missing."}},
			"MX wrong. PTR missing. (checked 1 minute ago; the DNS page has the details.)", true},
	} {
		v := newStatusView(status.Snapshot{DNS: tc.dns}, now, false, false)
		var got *reading
		for i := range v.Readings {
			if v.Readings[i].ID == "dns" {
				got = &v.Readings[i]
			}
		}
		switch {
		case tc.words == "" && got != nil:
			t.Errorf("a DNS line before any check: %+v", got)
		case tc.words != "" && (got == nil || got.Value != tc.words || got.Bad != tc.bad):
			t.Errorf("DNS line %+v, want %q bad %v", got, tc.words, tc.bad)
		}
	}
}
