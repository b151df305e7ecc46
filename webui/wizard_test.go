package webui

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/authguard"
	"postroom/appliance/config"
	"postroom/appliance/firstboot"
	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// setupSite is a fresh box's pages: a store without accounts, a config
// without domains, the set-up code holder on a test clock, and the Bus in
// "needs setup" with the code on it, as the runner puts it there.
type setupSite struct {
	*site
	fb      *firstboot.Setup
	cfgPath string
}

func newSetupSite(t testing.TB) *setupSite {
	t.Helper()
	return newSetupSiteWith(t, nil)
}

// newSetupSiteWith is newSetupSite with the admin layer's options changed
// by more (the USB disks the new box sees, say).
func newSetupSiteWith(t testing.TB, more func(*admin.Options)) *setupSite {
	t.Helper()
	dir := t.TempDir()
	s := &site{st: storagetest.Open(t), clock: testutil.NewClock(t0), log: &testutil.SyncBuffer{},
		bus: status.NewBus(status.Snapshot{Phase: status.PhaseNeedsSetup, Hostname: "postroom.local"})}
	cfgPath := filepath.Join(dir, config.ConfigFile)
	cfg := config.Default()
	cfg.DataDir = dir
	if err := cfg.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(s.log, nil))
	var made []string
	ao := admin.Options{Store: s.st, ConfigPath: cfgPath, Logger: logger, Publish: s.bus.Update, Now: s.clock.Now,
		Material: func(c config.Config) (string, error) {
			made = append(made, c.Hostname)
			return "test material for " + c.Hostname, nil
		}}
	if more != nil {
		more(&ao)
	}
	adm, err := admin.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	s.adm = adm
	fb := firstboot.New(firstboot.Options{Now: s.clock.Now})
	fb.SetActive(true)
	code, _ := fb.Code()
	s.bus.Update(func(sn *status.Snapshot) { sn.SetupCode = code })
	guard := authguard.New(authguard.Options{Logger: logger, Now: s.clock.Now, FailureDelay: time.Microsecond})
	s.opts = Options{Bus: s.bus, Logger: logger, Now: s.clock.Now, Admin: adm, Logins: guardLogins{guard, s.st}, Sessions: s.st,
		FirstBoot: fb, Display: maskedDisplay{}}
	s.srv = httptest.NewServer(New(s.opts))
	t.Cleanup(s.srv.Close)
	return &setupSite{site: s, fb: fb, cfgPath: cfgPath}
}

// code is the set-up code as the display shows it: from the Bus.
func (s *setupSite) code() string { return s.bus.Latest().SetupCode }

// maskedDisplay is a display that says which picture it was asked for.
type maskedDisplay struct{}

func (maskedDisplay) PNG() []byte       { return []byte("the display with the code") }
func (maskedDisplay) PublicPNG() []byte { return []byte("the display, code hidden") }

// start takes the code in browser b and checks it lands on the domains.
func (s *setupSite) start(t testing.TB, b *browser) {
	t.Helper()
	resp, body := b.post("/setup", url.Values{"code": {s.code()}})
	wantStatus(t, resp, body, http.StatusSeeOther, "the right code")
	if loc := resp.Header.Get("Location"); loc != "/setup/domains" {
		t.Fatalf("after the code to %q", loc)
	}
	resp, body = b.get("/setup/domains") // for the form token
	wantStatus(t, resp, body, 200, "domains page")
	s.bus.Update(func(sn *status.Snapshot) { sn.SetupCode, _ = s.fb.Code() }) // the runner's worker does this
}

// TestSetupGate: while the box waits to be set up, every page leads to
// the set-up; the status page says so and never shows the code, nor does
// status.json or the picture of the display.
func TestSetupGate(t *testing.T) {
	s := newSetupSite(t)
	b := s.browser(t)
	code := s.code()
	for _, p := range []string{"/login", "/accounts", "/me", "/settings", "/dns", "/factory-reset", "/nonsense"} {
		resp, body := b.get(p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
			t.Errorf("%s: %d to %q, want the set-up\n%s", p, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	resp, _ := b.post("/login", url.Values{"user": {"x@example.org"}, "password": {"whatever-1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Errorf("a login post: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/", "/status.json", "/events?x", "/display.png", "/setup"} {
		if p == "/events?x" {
			continue // a stream: its words are the status page's template
		}
		resp, body := b.get(p)
		wantStatus(t, resp, body, 200, p)
		if strings.Contains(body, code) || strings.Contains(body, strings.ReplaceAll(code, "-", "")) {
			t.Errorf("%s shows the set-up code:\n%s", p, body)
		}
		if p == "/" && (!strings.Contains(body, "Waiting to be set up") || !strings.Contains(body, `href="/setup"`)) {
			t.Errorf("the status page does not lead to the set-up:\n%s", body)
		}
		if p == "/display.png" && body != "the display, code hidden" {
			t.Errorf("the display's picture: %q", body)
		}
	}
}

// TestSetupCode: the code form with every kind of bad input, a limited
// number of tries, a code that expired and a code used once already.
func TestSetupCode(t *testing.T) {
	s := newSetupSite(t)
	b := s.browser(t)
	code := s.code()
	for _, tc := range []struct {
		name, code string
		status     int
		want       string
	}{
		{"empty", "", 400, "Type the set-up code shown on the box&#39;s display."},
		{"spaces", "   ", 400, "Type the set-up code"},
		{"wrong", "ACDE-FGHJ-KMNP", 403, "That is not the code on the box&#39;s display"},
		{"overlong", strings.Repeat("A", 5000), 403, "That is not the code"},
		{"control", "ACDE\x00FGHJ", 403, "That is not the code"},
		{"HTML", "<script>alert(1)</script>", 403, "That is not the code"},
		{"CR LF", code + "\r\nSet-Cookie: x=y", 403, "That is not the code"},
	} {
		resp, body := b.post("/setup", url.Values{"code": {tc.code}})
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) || !strings.Contains(body, `id="err-code-code"`) {
			t.Errorf("%s: %d, want %d and %q next to the field\n%s", tc.name, resp.StatusCode, tc.status, tc.want, body)
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("%s: the page carries the script", tc.name)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a cookie for a wrong code", tc.name)
		}
	}
	// Seven tries from this address: the limiter (5, then one a minute)
	// refuses even the right code now.
	resp, body := b.post("/setup", url.Values{"code": {code}})
	wantStatus(t, resp, body, http.StatusTooManyRequests, "too many tries")
	if !strings.Contains(body, "Too many tries") {
		t.Errorf("no words for the limit:\n%s", body)
	}
	if st, _ := s.st.SetupState(); st != storage.SetupUnknown {
		t.Errorf("set-up state %d after refused codes", st)
	}

	// An hour later the code is replaced: the old one is "expired"; the
	// limiter has refilled meanwhile.
	s.clock.Advance(firstboot.Lifetime)
	resp, body = b.post("/setup", url.Values{"code": {code}})
	if resp.StatusCode != 403 || !strings.Contains(body, "That code has expired") {
		t.Errorf("an expired code: %d\n%s", resp.StatusCode, body)
	}
	s.bus.Update(func(sn *status.Snapshot) { sn.SetupCode, _ = s.fb.Code() })
	if s.code() == code {
		t.Fatal("the code was not replaced")
	}

	// The new code works once (typed in small letters and spaces); a
	// second browser typing it again is told it was used.
	fresh := s.code()
	resp, body = b.post("/setup", url.Values{"code": {strings.ToLower(strings.ReplaceAll(fresh, "-", " "))}})
	wantStatus(t, resp, body, http.StatusSeeOther, "the new code")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == setupCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/setup" {
		t.Fatalf("set-up cookie %+v", cookie)
	}
	if st, _ := s.st.SetupState(); st != storage.SetupWizard {
		t.Errorf("set-up state %d after the code, want wizard", st)
	}
	other := s.browser(t)
	resp, body = other.post("/setup", url.Values{"code": {fresh}})
	if resp.StatusCode != 403 || !strings.Contains(body, "That code was used already") {
		t.Errorf("a used code: %d\n%s", resp.StatusCode, body)
	}
	// Without the session's cookie no step opens.
	resp, _ = other.get("/setup/domains")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Errorf("a step without the session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The audit log says who started it, and never the code.
	if !strings.Contains(s.log.String(), "started the set-up") || strings.Contains(s.log.String(), fresh) || strings.Contains(s.log.String(), code) {
		t.Errorf("the log:\n%s", s.log)
	}
}

// TestSetupForeignClients: a client outside the office network and a form
// posted by another site are refused before any code is looked at.
func TestSetupForeignClients(t *testing.T) {
	s := newSetupSite(t)
	h := New(s.opts)
	code := s.code()
	form := url.Values{"code": {code}}.Encode()

	req := httptest.NewRequest("POST", "/setup", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr, req.Host = "203.0.113.5:40000", "postroom.local"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "domains") {
		t.Errorf("from the internet: %d\n%s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("GET", "/setup", nil)
	req.RemoteAddr, req.Host = "203.0.113.5:40000", "postroom.local"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("the set-up page from the internet: %d", rec.Code)
	}

	req = httptest.NewRequest("POST", "/setup", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	req.RemoteAddr, req.Host = "192.168.1.23:40000", "postroom.local"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Errorf("a cross-site post: %d %v", rec.Code, rec.Result().Cookies())
	}
	// The code is still good: neither used it up.
	b := s.browser(t)
	s.start(t, b)
}

// wizardCase is one post to a step: the status, the message's id and
// words, and what must not be on the page.
type wizardCase struct {
	name, path string
	form       url.Values
	code       int
	errID      string
	want       string
	check      func(t *testing.T)
}

func runWizard(t *testing.T, b *browser, cases []wizardCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			resp, body := b.post(tc.path, tc.form)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.code, body)
			}
			if tc.errID != "" && !strings.Contains(body, `id="`+tc.errID+`"`) {
				t.Errorf("no message at %s\n%s", tc.errID, body)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %q\n%s", tc.want, body)
			}
			for _, pw := range []string{tc.form.Get("password"), tc.form.Get("password2")} {
				if len(pw) > 3 && strings.Contains(body, pw) && !strings.Contains(tc.form.Get("address"), pw) {
					t.Errorf("the page shows the password typed")
				}
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "<img src=x>") {
				t.Errorf("the page carries the input raw:\n%s", body)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

var passwordRE = regexp.MustCompile(`<dt>([^<]+)</dt><dd><span class="secret">([^<]+)</span></dd>`)

// TestSetupSteps walks every step with bad input first, then good, to
// the end: the store and config hold what was typed, nothing half-saved.
func TestSetupSteps(t *testing.T) {
	s := newSetupSite(t)
	b := s.browser(t)
	s.start(t, b)
	domains := func(want ...string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			c, err := config.Load(s.cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.Domains, " ") != strings.Join(want, " ") {
				t.Errorf("domains %v, want %v", c.Domains, want)
			}
		}
	}
	long := strings.Repeat("a", 250) + ".example"
	many := strings.Repeat("x.example\n", 3) + "a.example\nb.example\nc.example\nd.example\ne.example\nf.example\ng.example\nh.example"
	runWizard(t, b, []wizardCase{
		{"domains empty", "/setup/domains", url.Values{"domains": {" \r\n "}}, 400, "err-domains-domains", "Give the domain of your mail addresses", domains()},
		{"domains overlong", "/setup/domains", url.Values{"domains": {long}}, 400, "err-domains-domains", "is not a domain", domains()},
		{"domains control", "/setup/domains", url.Values{"domains": {"exa\x01mple.org"}}, 400, "err-domains-domains", "control character", domains()},
		{"domains HTML", "/setup/domains", url.Values{"domains": {"<script>alert(1)</script>"}}, 400, "err-domains-domains", "&lt;script&gt;", domains()},
		{"domains CR LF", "/setup/domains", url.Values{"domains": {"example.org\r\nBcc: evil@example.net"}}, 400, "err-domains-domains", "is not a domain", domains()},
		{"domains too many", "/setup/domains", url.Values{"domains": {many}}, 400, "err-domains-domains", "At most 10", domains()},
		{"domains no token", "/setup/domains", url.Values{"domains": {"example.org"}, "csrf": {"forged"}}, 403, "", "out of date", domains()},
		// IDNA: a Unicode domain is kept in its ASCII form; the same
		// twice counts once.
		{"domains good", "/setup/domains", url.Values{"domains": {"Example.ORG\r\nbücher.example\nexample.org"}}, 303, "", "", domains("example.org", "xn--bcher-kva.example")},
	})
	resp, body := b.get("/setup/hostname")
	wantStatus(t, resp, body, 200, "hostname page")
	if !strings.Contains(body, `value="mail.example.org"`) {
		t.Errorf("no name offered:\n%s", body)
	}
	runWizard(t, b, []wizardCase{
		{"hostname empty", "/setup/hostname", url.Values{"hostname": {""}}, 400, "err-hostname-hostname", "Give the box&#39;s name", nil},
		{"hostname overlong", "/setup/hostname", url.Values{"hostname": {long}}, 400, "err-hostname-hostname", "That is not a name", nil},
		{"hostname control", "/setup/hostname", url.Values{"hostname": {"mail\x7f.example.org"}}, 400, "err-hostname-hostname", "", nil},
		{"hostname HTML", "/setup/hostname", url.Values{"hostname": {"<b>mail</b>.example.org"}}, 400, "err-hostname-hostname", "&lt;b&gt;mail", nil},
		{"hostname CR LF", "/setup/hostname", url.Values{"hostname": {"mail.example.org\r\nX-Evil: 1"}}, 400, "err-hostname-hostname", "", nil},
		{"hostname IDNA", "/setup/hostname", url.Values{"hostname": {"Post.Bücher.example"}}, 303, "", "", nil},
	})
	if w, _ := s.fb.Wizard(cookieOf(t, b, setupCookie)); w.Hostname != "post.xn--bcher-kva.example" {
		t.Errorf("hostname kept %q", w.Hostname)
	}
	if c, _ := config.Load(s.cfgPath); c.Hostname != "postroom.local" {
		t.Errorf("the host name was saved before the end: %q", c.Hostname)
	}
	b.get("/setup/admin")
	const adminPW = "correct horse battery"
	noAccounts := func(t *testing.T) {
		t.Helper()
		if a, _ := s.st.Accounts(); len(a) != 0 {
			t.Errorf("accounts made: %v", a)
		}
	}
	good := func(addr string) url.Values {
		return url.Values{"address": {addr}, "password": {adminPW}, "password2": {adminPW}}
	}
	runWizard(t, b, []wizardCase{
		{"admin empty", "/setup/admin", url.Values{}, 400, "err-admin-address", "Give an address", noAccounts},
		{"admin other domain", "/setup/admin", good("boss@example.net"), 400, "err-admin-address", "is not in a domain of this box", noAccounts},
		{"admin HTML", "/setup/admin", good("<script>@example.org"), 400, "err-admin-address", "&lt;script&gt;", noAccounts},
		{"admin CR LF", "/setup/admin", good("boss@example.org\r\nBcc: x@example.net"), 400, "err-admin-address", "", noAccounts},
		{"admin overlong", "/setup/admin", good(strings.Repeat("b", 260) + "@example.org"), 400, "err-admin-address", "at most 254", noAccounts},
		{"admin no password", "/setup/admin", url.Values{"address": {"boss@example.org"}}, 400, "err-admin-password", "Choose a password", noAccounts},
		{"admin short password", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {"abc123"}, "password2": {"abc123"}}, 400, "err-admin-password", "at least 10", noAccounts},
		{"admin common password", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {"1234567890"}, "password2": {"1234567890"}}, 400, "err-admin-password", "too easy to guess", noAccounts},
		{"admin same letters", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {"zzzzzzzzzzzz"}, "password2": {"zzzzzzzzzzzz"}}, 400, "err-admin-password", "too easy to guess", noAccounts},
		{"admin password is the address", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {"boss@example.org"}, "password2": {"boss@example.org"}}, 400, "err-admin-password", "too easy to guess", noAccounts},
		{"admin password control", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {"correct\nhorse battery"}, "password2": {"correct\nhorse battery"}}, 400, "err-admin-password", "control characters", noAccounts},
		{"admin password overlong", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {strings.Repeat("xy", 200)}, "password2": {strings.Repeat("xy", 200)}}, 400, "err-admin-password", "at most 256", noAccounts},
		{"admin passwords differ", "/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {adminPW}, "password2": {adminPW + "!"}}, 400, "err-admin-password2", "The two passwords differ", noAccounts},
		// A Unicode local part in a Unicode domain.
		{"admin good", "/setup/admin", good("Jörg@Bücher.example"), 303, "", "", func(t *testing.T) {
			if _, err := s.st.Authenticate("jörg@xn--bcher-kva.example", adminPW); err != nil {
				t.Errorf("the administrator cannot log in: %v", err)
			}
		}},
	})
	// Back to the step: another address replaces the first.
	b.get("/setup/admin")
	runWizard(t, b, []wizardCase{{"admin changed", "/setup/admin", good("boss@example.org"), 303, "", "", func(t *testing.T) {
		accts, _ := s.st.Accounts()
		if len(accts) != 1 || accts[0].Name != "boss@example.org" || !accts[0].Admin {
			t.Errorf("accounts %+v", accts)
		}
	}}})
	if s.bus.Latest().Phase != status.PhaseNeedsSetup {
		t.Errorf("phase %s with the administrator made: the set-up is not done yet", s.bus.Latest().Phase)
	}
	b.get("/setup/users")
	oneAccount := func(t *testing.T) {
		t.Helper()
		if a, _ := s.st.Accounts(); len(a) != 1 {
			t.Errorf("%d accounts after a refused list", len(a))
		}
	}
	runWizard(t, b, []wizardCase{
		{"users HTML", "/setup/users", url.Values{"users": {"ann@example.org\n<img src=x>@example.org"}}, 400, "err-users-users", "&lt;img", oneAccount},
		{"users CR LF", "/setup/users", url.Values{"users": {"ann@example.org\r\nBcc: evil@example.net"}}, 400, "err-users-users", "", oneAccount},
		{"users other domain", "/setup/users", url.Values{"users": {"ann@example.org\nbob@example.net"}}, 400, "err-users-users", "is not in a domain of this box", oneAccount},
		{"users the admin", "/setup/users", url.Values{"users": {"ann@example.org\nBOSS@example.org"}}, 400, "err-users-users", "is the administrator", oneAccount},
		{"users control", "/setup/users", url.Values{"users": {"ann\x1b@example.org"}}, 400, "err-users-users", "control character", oneAccount},
		{"users too many", "/setup/users", url.Values{"users": {strings.Repeat("u@example.org\n", 51)}}, 400, "err-users-users", "At most 50", oneAccount},
	})
	resp, body = b.post("/setup/users", url.Values{"users": {"ann@example.org\r\nbob@bücher.example\nann@example.org\n"}})
	wantStatus(t, resp, body, 200, "users")
	shown := passwordRE.FindAllStringSubmatch(body, -1)
	if len(shown) != 2 {
		t.Fatalf("%d passwords shown, want 2\n%s", len(shown), body)
	}
	for _, m := range shown {
		if _, err := s.st.Authenticate(m[1], m[2]); err != nil {
			t.Errorf("%s with the password shown: %v", m[1], err)
		}
	}
	// Shown once: the finish page again lists the users, not passwords.
	resp, body = b.get("/setup/finish")
	wantStatus(t, resp, body, 200, "finish page")
	if strings.Contains(body, shown[0][2]) || !strings.Contains(body, "ann@example.org") {
		t.Errorf("the finish page again:\n%s", body)
	}
	if strings.Contains(s.log.String(), shown[0][2]) || strings.Contains(s.log.String(), adminPW) {
		t.Errorf("a password in the log:\n%s", s.log)
	}

	resp, body = b.post("/setup/finish", url.Values{})
	wantStatus(t, resp, body, 200, "finish")
	if !strings.Contains(body, `id="setup-done"`) || !strings.Contains(body, `href="/dns"`) || !strings.Contains(body, `url=/dns`) {
		t.Errorf("the end:\n%s", body)
	}
	if st, _ := s.st.SetupState(); st != storage.SetupDone {
		t.Errorf("set-up state %d", st)
	}
	if c, _ := config.Load(s.cfgPath); c.Hostname != "post.xn--bcher-kva.example" {
		t.Errorf("host name %q", c.Hostname)
	}
	if sn := s.bus.Latest(); sn.Phase != status.PhaseRunning || sn.SetupCode != "" {
		t.Errorf("after the set-up: phase %s, code %q", sn.Phase, sn.SetupCode)
	}
	// The administrator is logged in; the set-up pages are closed.
	resp, body = b.get("/accounts")
	wantStatus(t, resp, body, 200, "accounts after the set-up")
	if !strings.Contains(body, "bob@xn--bcher-kva.example") {
		t.Errorf("accounts:\n%s", body)
	}
	for _, p := range []string{"/setup", "/setup/domains"} {
		resp, _ = b.get(p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("%s after the set-up: %d %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, _ = b.post("/setup", url.Values{"code": {s.code()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a code after the set-up: %d", resp.StatusCode)
	}
	if !strings.Contains(s.log.String(), "finished the set-up: test material for post.xn--bcher-kva.example") {
		t.Errorf("no audit line for the end:\n%s", s.log)
	}
	// A second finish is refused by the admin layer itself.
	if _, err := s.adm.SetupFinish(context.Background(), "test", admin.SetupFinish{Hostname: "mail.example.org"}); admin.CodeOf(err) != admin.CodeConflict {
		t.Errorf("a second finish: %v", err)
	}
}

// TestSetupFinishNeeds: the end is refused without a domain or an
// administrator (the admin layer checks it, whatever the pages do).
func TestSetupFinishNeeds(t *testing.T) {
	s := newSetupSite(t)
	ctx := context.Background()
	if _, err := s.adm.SetupStart(ctx, "test", admin.SetupStart{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.adm.SetupFinish(ctx, "test", admin.SetupFinish{Hostname: "mail.example.org"})
	if ae, ok := err.(*admin.Error); !ok || ae.Field != "domains" {
		t.Errorf("without a domain: %v", err)
	}
	if _, err := s.adm.AddDomain(ctx, "test", admin.AddDomain{Domain: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.adm.AddAccount(ctx, "test", admin.AddAccount{Name: "ann@example.org", Password: "ann password 1"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.adm.SetupFinish(ctx, "test", admin.SetupFinish{Hostname: "mail.example.org"})
	if ae, ok := err.(*admin.Error); !ok || ae.Field != "admin" {
		t.Errorf("without an administrator: %v", err)
	}
	if _, err = s.adm.SetupFinish(ctx, "test", admin.SetupFinish{Hostname: "mail\r\n.example.org"}); admin.CodeOf(err) != admin.CodeInvalid {
		t.Errorf("a bad host name: %v", err)
	}
	if s.bus.Latest().Phase != status.PhaseNeedsSetup {
		t.Errorf("phase %s: an account alone does not end a started set-up", s.bus.Latest().Phase)
	}
}

func cookieOf(t testing.TB, b *browser, name string) string {
	t.Helper()
	u, _ := url.Parse(b.s.srv.URL + "/setup/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestSetupSessionExpires: a set-up session left alone for WizardIdle
// ends; its steps lead back to the code, and its forms are refused.
func TestSetupSessionExpires(t *testing.T) {
	s := newSetupSite(t)
	b := s.browser(t)
	s.start(t, b)
	s.clock.Advance(firstboot.WizardIdle + time.Second)
	resp, _ := b.get("/setup/hostname")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Errorf("an idle session's step: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.post("/setup/domains", url.Values{"domains": {"example.org"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Errorf("an idle session's form: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c, _ := config.Load(s.cfgPath); len(c.Domains) != 0 {
		t.Errorf("domains %v saved by an idle session", c.Domains)
	}
	// The code shown now starts a new one.
	s.bus.Update(func(sn *status.Snapshot) { sn.SetupCode, _ = s.fb.Code() })
	s.start(t, s.browser(t))
}
