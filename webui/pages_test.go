package webui

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/authguard"
	"postroom/appliance/certs"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/logring"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
	"postroom/webui/autoconfig"
)

// site is the web pages over a real store, a real admin layer and the
// real login guard, on a real listener, with an injected clock.
type site struct {
	srv   *httptest.Server
	st    *storage.Store
	adm   *admin.Admin
	clock *testutil.Clock
	bus   *status.Bus
	log   *testutil.SyncBuffer
	ring  *logring.Ring
	links *autoconfig.Links // the client set-up's one-time links
	opts  Options
	certs *certs.Manager // the certificate (certificate_test.go)
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// guardLogins is Logins over the login guard, as the appliance's.
type guardLogins struct {
	g  *authguard.Guard
	st *storage.Store
}

func (l guardLogins) PasswordStamp(login string) (string, error) { return l.st.PasswordStamp(login) }

func (l guardLogins) Login(ctx context.Context, remote, user, password string) (string, error) {
	addr, err := net.ResolveTCPAddr("tcp", remote)
	if err != nil {
		return "", err
	}
	acct, err := l.g.Login(ctx, l.st, addr, user, password)
	if errors.Is(err, authguard.ErrLocked) {
		return "", fmt.Errorf("%w: %w", ErrLoginLocked, err)
	}
	return acct.Name, err
}

const (
	boss     = "boss@example.org"
	bossPW   = "boss-password-1"
	worker   = "ann@example.org"
	workerPW = "ann-password-1"
)

func newSite(t testing.TB) *site {
	t.Helper()
	return newSiteWith(t, nil)
}

// newSiteWith is newSite with the admin layer's options changed by more
// (the USB disks a test's box sees, say).
func newSiteWith(t testing.TB, more func(*admin.Options)) *site {
	t.Helper()
	dir := t.TempDir()
	clock := testutil.NewClock(t0)
	// The store's clock too: app passwords' last use, logins seen.
	s := &site{st: storagetest.OpenOptions(t, storage.Options{Now: clock.Now}), clock: clock, log: &testutil.SyncBuffer{},
		bus: status.NewBus(status.Snapshot{Phase: status.PhaseRunning, Hostname: "mail.example.org"})}
	cfgPath := filepath.Join(dir, config.ConfigFile)
	cfg := config.DevDefault(dir)
	cfg.Domains = []string{"example.org"}
	if err := cfg.Save(cfgPath); err != nil {
		t.Fatal(err)
	}
	s.ring = logring.New(100)
	logger := slog.New(slog.NewMultiHandler(slog.NewTextHandler(s.log, nil), s.ring.Handler(slog.LevelInfo)))
	s.certs = newTestCerts(t, filepath.Join(dir, "tls"), logger) // certificate_test.go
	ao := admin.Options{Store: s.st, ConfigPath: cfgPath, Logger: logger, Publish: s.bus.Update, Now: s.clock.Now,
		Certificates: s.certs}
	if more != nil {
		more(&ao)
	}
	adm, err := admin.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	s.adm = adm
	ctx := context.Background()
	for _, a := range []admin.AddAccount{{Name: boss, Password: bossPW, Admin: true}, {Name: worker, Password: workerPW}} {
		if _, err := adm.AddAccount(ctx, "test", a); err != nil {
			t.Fatal(err)
		}
	}
	guard := authguard.New(authguard.Options{Logger: logger, Now: s.clock.Now, FailureDelay: time.Microsecond})
	s.links = autoconfig.NewLinks(s.clock.Now)
	s.opts = Options{Bus: s.bus, Logger: logger, Now: s.clock.Now, Admin: adm, Logins: guardLogins{guard, s.st}, Sessions: s.st, Log: s.ring,
		Setup: storeSetup{s.st, s.links}} // setup_test.go
	s.srv = httptest.NewServer(New(s.opts))
	t.Cleanup(s.srv.Close)
	return s
}

// browser is a net/http client with a cookie jar that does not follow
// redirects, so that a test sees each answer.
type browser struct {
	t    testing.TB
	s    *site
	c    *http.Client
	csrf string // the form token of the last page shown
}

func (s *site) browser(t testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if m := csrfRE.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.s.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser on the box's own page does: with the
// page's token and Sec-Fetch-Site: same-origin.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form.Get("csrf") == "" && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest("POST", b.s.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.s.srv.URL)
	return b.do(req)
}

func (b *browser) login(user, pw string) *http.Response {
	b.t.Helper()
	resp, body := b.post("/login", url.Values{"user": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s", user, resp.StatusCode, body)
	}
	return resp
}

func wantStatus(t testing.TB, resp *http.Response, body string, code int, where string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("%s: status %d, want %d\n%s", where, resp.StatusCode, code, body)
	}
}

func (s *site) account(t testing.TB, name string) admin.Account {
	t.Helper()
	res, err := s.adm.GetAccount(context.Background(), "test", admin.GetAccount{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return res.Account
}

func (s *site) sessionCount(t testing.TB) int {
	t.Helper()
	n := 0
	if err := s.st.WebSessions(func([32]byte, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoginLogout: a page behind the login sends a visitor to the login
// page; a wrong password is refused with a plain message; the right one
// sets a HttpOnly, SameSite=Strict cookie and opens the page; logout ends
// the session on the box, so the old cookie opens nothing.
func TestLoginLogout(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	resp, body := b.get("/accounts")
	wantStatus(t, resp, body, http.StatusSeeOther, "no session")
	if loc := resp.Header.Get("Location"); loc != "/login?next=%2Faccounts" {
		t.Errorf("redirect to %q", loc)
	}
	resp, body = b.get("/login?next=/accounts")
	wantStatus(t, resp, body, 200, "login page")
	if !strings.Contains(body, `name="next" value="/accounts"`) {
		t.Errorf("login page keeps no next page:\n%s", body)
	}
	for _, tc := range []struct{ user, pw, want string }{
		{boss, "wrong-password", "do not match an account"},
		{"nobody@example.org", bossPW, "do not match an account"},
		{"", bossPW, "Give your address and your password."},
		{boss, "", "Give your address and your password."},
	} {
		resp, body = b.post("/login", url.Values{"user": {tc.user}, "password": {tc.pw}})
		if resp.StatusCode < 400 || !strings.Contains(body, tc.want) || strings.Contains(body, tc.pw+`"`) && tc.pw != "" {
			t.Errorf("login %q: %d, want the message %q\n%s", tc.user, resp.StatusCode, tc.want, body)
		}
	}
	resp, body = b.post("/login", url.Values{"user": {"  BOSS@Example.org "}, "password": {bossPW}, "next": {"/domains"}})
	wantStatus(t, resp, body, http.StatusSeeOther, "login")
	if loc := resp.Header.Get("Location"); loc != "/domains" {
		t.Errorf("after login to %q", loc)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/" {
		t.Fatalf("session cookie %+v", cookie)
	}
	resp, body = b.get("/accounts")
	wantStatus(t, resp, body, 200, "accounts")
	if !strings.Contains(body, worker) || !strings.Contains(body, "Log out") {
		t.Errorf("accounts page:\n%s", body)
	}
	// An open redirect is not kept.
	if got := localPath("//evil.example/x"); got != "" {
		t.Errorf("next %q kept", got)
	}
	resp, body = b.post("/logout", url.Values{})
	wantStatus(t, resp, body, http.StatusSeeOther, "logout")
	if n := s.sessionCount(t); n != 0 {
		t.Errorf("%d sessions after logout", n)
	}
	// The old cookie, sent again by hand, opens nothing.
	req, _ := http.NewRequest("GET", s.srv.URL+"/accounts", nil)
	req.AddCookie(cookie)
	resp, body = b.do(req)
	wantStatus(t, resp, body, http.StatusSeeOther, "old cookie")
}

// TestSessionLifetime: a session lasts while it is used, ends after
// IdleTimeout without use, survives a new handler over the same store (a
// restart), and the store holds only the token's hash.
func TestSessionLifetime(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	resp := b.login(boss, bossPW)
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			token = c.Value
		}
	}
	if err := s.st.WebSessions(func(id [32]byte, v []byte) error {
		if id != sha256.Sum256([]byte(token)) || strings.Contains(string(v), token) {
			t.Errorf("session %x at rest: %s", id, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // 3 x 11 hours, used each time: still in
		s.clock.Advance(IdleTimeout - time.Hour)
		resp, body := b.get("/accounts")
		wantStatus(t, resp, body, 200, fmt.Sprintf("use %d", i))
	}
	// A restart: a new handler over the same store knows the session.
	srv2 := httptest.NewServer(New(s.opts))
	defer srv2.Close()
	s.srv, srv2 = srv2, s.srv
	u, _ := url.Parse(s.srv.URL)
	old, _ := url.Parse(srv2.URL)
	b.c.Jar.SetCookies(u, b.c.Jar.Cookies(old))
	resp, body := b.get("/accounts")
	wantStatus(t, resp, body, 200, "after a restart")
	s.clock.Advance(IdleTimeout + time.Minute)
	resp, body = b.get("/accounts")
	wantStatus(t, resp, body, http.StatusSeeOther, "idle too long")
	if n := s.sessionCount(t); n != 0 {
		t.Errorf("%d sessions after expiry", n)
	}
}

// TestSessionLimits: an account keeps at most MaxAccountSessions; a new
// login pushes out the least recently used, and other accounts' stay.
func TestSessionLimits(t *testing.T) {
	s := newSite(t)
	ss := &sessions{store: s.st, now: s.clock.Now}
	other, _, err := ss.create(worker, "")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i := 0; i < MaxAccountSessions+3; i++ {
		s.clock.Advance(time.Minute)
		tok, _, err := ss.create(boss, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
	}
	if n := s.sessionCount(t); n != MaxAccountSessions+1 {
		t.Errorf("%d sessions, want %d", n, MaxAccountSessions+1)
	}
	if _, err := ss.lookup(first); err != errNoSession {
		t.Errorf("oldest session still there: %v", err)
	}
	if x, err := ss.lookup(other); err != nil || x.Account != worker {
		t.Errorf("other account's session: %+v %v", x, err)
	}
}

// TestForgedPosts: a form posted from another site, a form without or
// with a wrong token, and a post without a session change nothing.
func TestForgedPosts(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	b.get("/accounts")
	add := func() url.Values { return url.Values{"name": {"eve@example.org"}, "password": {"eve-password-1"}} }

	form := add()
	form.Set("csrf", b.csrf)
	req, _ := http.NewRequest("POST", s.srv.URL+"/accounts", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	resp, body := b.do(req)
	wantStatus(t, resp, body, http.StatusForbidden, "cross-site post")

	form = add()
	form.Set("csrf", "not-the-token")
	resp, body = b.post("/accounts", form)
	wantStatus(t, resp, body, http.StatusForbidden, "wrong token")

	b2 := s.browser(t)
	resp, body = b2.post("/accounts", add())
	wantStatus(t, resp, body, http.StatusSeeOther, "no session")
	if loc := resp.Header.Get("Location"); loc != "/login" {
		t.Errorf("post without a session goes to %q", loc)
	}
	if _, err := s.adm.GetAccount(context.Background(), "test", admin.GetAccount{Name: "eve@example.org"}); admin.CodeOf(err) != admin.CodeNotFound {
		t.Fatalf("a forged post made the account: %v", err)
	}
	if !strings.Contains(s.log.String(), "posted from another site") {
		t.Errorf("the cross-site post is not logged:\n%s", s.log)
	}
}

// TestNotOnLAN: a client outside the office network gets no page, not
// even the login.
func TestNotOnLAN(t *testing.T) {
	s := newSite(t)
	h := New(s.opts)
	for _, path := range []string{"/login", "/accounts", "/me"} {
		for _, method := range []string{"GET", "POST"} {
			req := httptest.NewRequest(method, path, strings.NewReader("user=boss%40example.org&password="+bossPW))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = "203.0.113.5:40000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "office network") {
				t.Errorf("%s %s from outside: %d %s", method, path, rec.Code, rec.Body)
			}
		}
	}
	if s.sessionCount(t) != 0 {
		t.Error("a login from outside the network made a session")
	}
}

// TestUserPage: a user who is not an administrator sees only their own
// page, and changes their password there; the other logins of the
// account end, this one stays.
func TestUserPage(t *testing.T) {
	s := newSite(t)
	b, other := s.browser(t), s.browser(t)
	other.login(worker, workerPW)
	b.login(worker, workerPW)
	for _, path := range []string{"/accounts", "/accounts/" + boss, "/domains", "/queue", "/settings"} {
		resp, body := b.get(path)
		wantStatus(t, resp, body, http.StatusForbidden, path)
		if !strings.Contains(body, "Only an administrator") {
			t.Errorf("%s: %s", path, body)
		}
	}
	resp, body := b.post("/accounts/"+url.PathEscape(worker)+"/admin", url.Values{"admin": {"on"}})
	wantStatus(t, resp, body, http.StatusForbidden, "user makes self admin")
	if loc := b.login(worker, workerPW).Header.Get("Location"); loc != "/me" {
		t.Errorf("a user's login leads to %q", loc)
	}
	resp, body = b.get("/me")
	wantStatus(t, resp, body, 200, "own page")
	if !strings.Contains(body, worker) || strings.Contains(body, `href="/accounts"`) {
		t.Errorf("own page:\n%s", body)
	}
	for _, tc := range []struct {
		current, pw, again, id, want string
	}{
		{"wrong", "new-password-1", "new-password-1", "err-password-current", "not your current password"},
		{workerPW, "new-password-1", "new-password-2", "err-password-again", "differ"},
		{workerPW, "short", "short", "err-password-password", "at least 8 characters"},
		{workerPW, "new\npassword", "new\npassword", "err-password-password", "control characters"},
	} {
		resp, body = b.post("/me/password", url.Values{"current": {tc.current}, "password": {tc.pw}, "again": {tc.again}})
		wantStatus(t, resp, body, http.StatusBadRequest, tc.id)
		if !strings.Contains(body, `id="`+tc.id+`"`) || !strings.Contains(body, tc.want) || strings.Contains(body, tc.pw) {
			t.Errorf("%s: want %q next to the field, no password\n%s", tc.id, tc.want, body)
		}
	}
	resp, body = b.post("/me/password", url.Values{"current": {workerPW}, "password": {"new-password-1"}, "again": {"new-password-1"}})
	wantStatus(t, resp, body, http.StatusSeeOther, "change password")
	if _, err := s.st.Authenticate(worker, "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	resp, body = b.get("/me")
	wantStatus(t, resp, body, 200, "this login stays")
	resp, body = other.get("/me")
	wantStatus(t, resp, body, http.StatusSeeOther, "the other login ended")

	// A password set elsewhere (postroomctl, through the admin layer)
	// ends this login too.
	if _, err := s.adm.SetPassword(context.Background(), "root via postroomctl", admin.SetPassword{Name: worker, Password: "set-by-root-1"}); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get("/me")
	wantStatus(t, resp, body, http.StatusSeeOther, "after a password set by postroomctl")
}

// TestStatusEvents: the live stream sends the status page's content at
// once and again when the Snapshot changes, escaped, one "data:" field a
// line; CloseStreams ends it (so the server's Shutdown need not wait).
func TestStatusEvents(t *testing.T) {
	s := newSite(t)
	resp, err := http.Get(s.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	event := func() string {
		t.Helper()
		var lines []string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v after %q", err, lines)
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				if len(lines) > 0 && lines[0] == "event: status" {
					return strings.Join(lines, "\n")
				}
				lines = nil
				continue
			}
			lines = append(lines, line)
		}
	}
	first := event()
	if !strings.Contains(first, "Postroom on mail.example.org") || !strings.Contains(first, "All is well.") {
		t.Fatalf("first event:\n%s", first)
	}
	for _, l := range strings.Split(first, "\n")[1:] {
		if !strings.HasPrefix(l, "data: ") {
			t.Fatalf("line %q is no data field", l)
		}
	}
	s.bus.Update(func(sn *status.Snapshot) { sn.Problem = "The disk is <full>" })
	if next := event(); !strings.Contains(next, "The disk is &lt;full&gt;") {
		t.Fatalf("event after the change:\n%s", next)
	}
	h := New(s.opts)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp2, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	h.CloseStreams()
	if _, err := io.ReadAll(resp2.Body); err != nil {
		t.Fatalf("stream after CloseStreams: %v", err)
	}
}

// TestLoginTLSAndLockout: over TLS the cookie is Secure; after many
// wrong passwords the login guard locks the login out and the page says
// so in words, even for the right password.
func TestLoginTLSAndLockout(t *testing.T) {
	s := newSite(t)
	tlsSrv := httptest.NewTLSServer(New(s.opts))
	defer tlsSrv.Close()
	c := tlsSrv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	loginTLS := func(pw string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", tlsSrv.URL+"/login", strings.NewReader(url.Values{"user": {worker}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := loginTLS(workerPW)
	wantStatus(t, resp, body, http.StatusSeeOther, "login over TLS")
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie over TLS: %+v", cs)
	}
	b := s.browser(t)
	var locked bool
	for i := 0; i < 30 && !locked; i++ {
		resp, body = b.post("/login", url.Values{"user": {boss}, "password": {"guess-" + fmt.Sprint(i)}})
		locked = strings.Contains(body, "Too many failed logins")
	}
	if !locked {
		t.Fatal("30 wrong passwords: never locked out")
	}
	resp, body = b.post("/login", url.Values{"user": {boss}, "password": {bossPW}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("right password while locked out: %d\n%s", resp.StatusCode, body)
	}
}

// TestLogAndDiagnostics: the log page shows the recent lines, newest
// first and escaped; the diagnostics zip holds the status, the settings,
// the store's figures and the log, and no password; a user who is not an
// administrator gets neither.
func TestLogAndDiagnostics(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	b.get("/settings")
	resp, body := b.post("/settings/smarthost", url.Values{"host": {"smtp.provider.example"}, "username": {"office"}, "password": {"provider-secret-9"}})
	wantStatus(t, resp, body, 200, "smarthost")
	s.opts.Logger.Info("a <b>bold</b> line")
	resp, body = b.get("/log")
	wantStatus(t, resp, body, 200, "log")
	bold, login := strings.Index(body, "a &lt;b&gt;bold&lt;/b&gt; line"), strings.Index(body, "web login")
	if bold < 0 || login < 0 || bold > login {
		t.Errorf("log page (newest first, escaped):\n%s", body)
	}
	resp, body = b.get("/diagnostics.zip")
	wantStatus(t, resp, body, 200, "diagnostics")
	if resp.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	z, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(b)
	}
	for name, want := range map[string]string{"README.txt": "made 2026-03-01", "status.json": `"hostname": "mail.example.org"`,
		"settings.json": `"host": "smtp.provider.example"`, "store.json": worker, "log.txt": "bold"} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s lacks %q:\n%s", name, want, got[name])
		}
	}
	for name, text := range got {
		if strings.Contains(text, "provider-secret-9") || strings.Contains(text, bossPW) {
			t.Errorf("%s holds a password", name)
		}
	}
	u := s.browser(t)
	u.login(worker, workerPW)
	for _, p := range []string{"/log", "/diagnostics.zip"} {
		resp, body = u.get(p)
		wantStatus(t, resp, body, http.StatusForbidden, "user "+p)
	}
}

// fullStore is the real store that refuses writes from a point on, as a
// full disk makes it.
type fullStore struct {
	*storage.Store
	full bool
}

func (f *fullStore) PutWebSession(id [32]byte, v []byte) error {
	if f.full {
		return fmt.Errorf("write web session: %w", storage.ErrDiskFull)
	}
	return f.Store.PutWebSession(id, v)
}

// TestSessionOnFullDisk: when the store refuses writes, a logged-in
// administrator still gets the pages (to clear the queue, say); only the
// session's last use is not saved, and the log says so.
func TestSessionOnFullDisk(t *testing.T) {
	s := newSite(t)
	fs := &fullStore{Store: s.st}
	s.opts.Sessions = fs
	srv := httptest.NewServer(New(s.opts))
	defer srv.Close()
	s.srv = srv
	b := s.browser(t)
	b.login(boss, bossPW)
	fs.full = true
	s.clock.Advance(10 * time.Minute)
	resp, body := b.get("/queue")
	wantStatus(t, resp, body, 200, "queue on a full disk")
	if !strings.Contains(s.log.String(), "last use not saved") {
		t.Errorf("no warning in the log:\n%s", s.log)
	}
}

// TestStatusEventsBounded: at most MaxStreams live streams are open at
// once; the next is told to come back later (its EventSource retries).
func TestStatusEventsBounded(t *testing.T) {
	s := newSite(t)
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for i := range MaxStreams {
		resp, err := http.Get(s.srv.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := get(t, "GET", s.srv.URL+"/events")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many") {
		t.Fatalf("stream %d: %d %s", MaxStreams+1, resp.StatusCode, body)
	}
}
