package appliance

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/status"
)

// setupConfig is a board-like box (no dev mode, so no demo user) on
// loopback ports, the web page on a fixed one.
func setupConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Dev = false
	cfg.Domains = []string{}
	// A fixed port (postfix_test.go's freePort): the set-up's end
	// restarts the services, and the browser must find the page again.
	cfg.Listen.Web = "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg.Listen.IMAPS = "127.0.0.1:0"
	if err := cfg.Save(filepath.Join(cfg.DataDir, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// webClient is a browser's side of the pages: cookies, no redirects
// followed, forms posted from the box's own page.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var webCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (w *webClient) do(req *http.Request) (int, string, string) {
	w.t.Helper()
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := webCSRF.FindSubmatch(b); m != nil {
		w.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (w *webClient) get(path string) (int, string, string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.base+path, nil)
	return w.do(req)
}

func (w *webClient) post(path string, form url.Values) (int, string, string) {
	w.t.Helper()
	if w.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", w.csrf)
	}
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.base)
	return w.do(req)
}

// step posts a form and wants a redirect to next.
func (w *webClient) step(path string, form url.Values, next string) {
	w.t.Helper()
	code, loc, body := w.post(path, form)
	if code != http.StatusSeeOther || loc != next {
		w.t.Fatalf("%s: %d to %q, want %s\n%s", path, code, loc, next, body)
	}
	if code, _, body := w.get(next); code != 200 {
		w.t.Fatalf("%s: %d\n%s", next, code, body)
	}
}

// TestFirstBoot: a fresh box waits to be set up, with a set-up code on
// the Bus (for the display) and the console, never in the log or on the
// pages; a restart in the middle of the set-up keeps it waiting (with a
// new code); the set-up's end makes the TLS certificate for the chosen
// name and the DKIM keys, restarts with that name and leaves "needs
// setup" for good, across a restart.
func TestFirstBoot(t *testing.T) {
	cfg := setupConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := r.waitFor(t, "a set-up code", func(s status.Snapshot) bool { return s.SetupCode != "" })
	code := s.SetupCode
	if s.Phase != status.PhaseNeedsSetup || !regexp.MustCompile(`^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$`).MatchString(code) {
		t.Fatalf("phase %s, code %q", s.Phase, code)
	}
	if !strings.Contains(r.stdout.String(), "Postroom set-up code: "+code) {
		t.Errorf("the console lacks the code:\n%s", r.stdout)
	}
	if strings.Contains(r.log.String(), code) {
		t.Errorf("the log has the code:\n%s", r.log)
	}
	web := newWebClient(t, "http://"+cfg.Listen.Web)
	for _, p := range []string{"/", "/status.json"} {
		c, _, body := web.get(p)
		if c != 200 || strings.Contains(body, code) {
			t.Errorf("%s: %d, or it shows the code", p, c)
		}
	}
	if c, loc, _ := web.get("/accounts"); c != http.StatusSeeOther || loc != "/setup" {
		t.Errorf("/accounts: %d to %q, want the set-up", c, loc)
	}

	// Half-way: a domain and the administrator, then a restart.
	web.get("/setup")
	web.step("/setup", url.Values{"code": {code}}, "/setup/domains")
	web.step("/setup/domains", url.Values{"domains": {"example.org"}}, "/setup/hostname")
	web.step("/setup/hostname", url.Values{"hostname": {"mail.example.org"}}, "/setup/admin")
	const adminPW = "office manager's own words"
	web.step("/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {adminPW}, "password2": {adminPW}}, "/setup/users")
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r, err = start(t, reload(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	s = r.waitFor(t, "a set-up code", func(s status.Snapshot) bool { return s.SetupCode != "" })
	if s.Phase != status.PhaseNeedsSetup || s.SetupCode == code {
		t.Fatalf("after a restart in the set-up: phase %s, code %q (was %q)", s.Phase, s.SetupCode, code)
	}
	// The session was the old process's: the new code, and on.
	web = newWebClient(t, "http://"+cfg.Listen.Web)
	web.step("/setup", url.Values{"code": {s.SetupCode}}, "/setup/domains")
	web.step("/setup/domains", url.Values{"domains": {"example.org"}}, "/setup/hostname")
	web.step("/setup/hostname", url.Values{"hostname": {"mail.example.org"}}, "/setup/admin")
	web.step("/setup/admin", url.Values{"address": {"boss@example.org"}, "password": {adminPW}, "password2": {adminPW}}, "/setup/users")
	c, _, body := web.post("/setup/users", url.Values{"users": {"ann@example.org"}})
	if c != 200 || !strings.Contains(body, "<dt>ann@example.org</dt>") {
		t.Fatalf("users: %d\n%s", c, body)
	}
	c, _, body = web.post("/setup/finish", url.Values{})
	if c != 200 || !strings.Contains(body, `id="setup-done"`) {
		t.Fatalf("finish: %d\n%s", c, body)
	}
	s = r.waitFor(t, "running as mail.example.org", func(s status.Snapshot) bool {
		sv, _ := s.Service(ServiceWeb)
		return s.Phase == status.PhaseRunning && s.Hostname == "mail.example.org" && sv.State == status.ServiceListening
	})
	if s.SetupCode != "" {
		t.Errorf("a set-up code after the set-up: %q", s.SetupCode)
	}
	data := cfg.DataDir
	for _, f := range []string{"dkim/example.org/rsa.pem", "dkim/example.org/ed25519.pem"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
	if names := certNames(t, filepath.Join(data, "tls", "cert.pem")); !slices.Contains(names, "mail.example.org") {
		t.Errorf("the certificate names %v", names)
	}
	// The administrator is logged in on the restarted box.
	if c, _, body := web.get("/accounts"); c != 200 || !strings.Contains(body, "ann@example.org") {
		t.Errorf("/accounts after the set-up: %d\n%s", c, body)
	}
	if !strings.Contains(r.log.String(), "finished the set-up") || strings.Contains(r.log.String(), adminPW) {
		t.Errorf("the audit log:\n%s", r.log)
	}

	// Set up for good: a restart runs.
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r, err = start(t, reload(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.bus.Latest(); s.Phase != status.PhaseRunning || s.SetupCode != "" {
		t.Errorf("after a restart: phase %s, code %q", s.Phase, s.SetupCode)
	}
}

func certNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.DNSNames
}

// reload is the config as the admin layer saved it, for the next start.
func reload(t *testing.T, cfg config.Config) config.Config {
	t.Helper()
	c, err := config.Load(filepath.Join(cfg.DataDir, config.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
