package webui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/transition"
	"postroom/internal/dovecottest"
)

// movingSite is newSite with moves from a real Dovecot, the old provider,
// whose certificate the box trusts.
func movingSite(t *testing.T) (*site, *transition.Manager, *dovecottest.Server) {
	t.Helper()
	return movingSiteTrusting(t, true)
}

// movingSiteTrusting is movingSite; with trust false the box knows only
// the system's authorities, and Dovecot's certificate is self-signed.
func movingSiteTrusting(t *testing.T, trust bool) (*site, *transition.Manager, *dovecottest.Server) {
	t.Helper()
	dc := dovecottest.Start(t, dovecottest.User{Name: "ann@old.example", Password: "ann's old pw"})
	s := newSite(t)
	roots := dc.Client.RootCAs
	if !trust {
		roots = nil
	}
	m, err := transition.New(transition.Options{Store: s.st, Dir: filepath.Join(t.TempDir(), "transition"), RootCAs: roots, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Options{Store: s.st, Logger: s.opts.Logger, Publish: s.bus.Update, Now: s.clock.Now, Transition: m})
	if err != nil {
		t.Fatal(err)
	}
	s.opts.Admin, s.adm = adm, adm
	s.srv.Close()
	s.srv = httptest.NewServer(New(s.opts))
	t.Cleanup(s.srv.Close)
	return s, m, dc
}

// TestMovingBrowser: the page with a running move in chromium at a
// phone's width and a desktop's: nothing wider than the window; the
// screenshots go to testoutput/ with the others.
func TestMovingBrowser(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil || testing.Short() {
		t.Skip("no chromium, or -short: make deps installs it")
	}
	s, m, dc := movingSite(t)
	port, _ := strconv.Atoi(dc.IMAPS[strings.LastIndex(dc.IMAPS, ":")+1:])
	src, err := m.Add(context.Background(), transition.NewSource{Account: worker, Protocol: "imap", Host: "localhost", Port: port, Username: "ann@old.example", Password: "ann's old pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RunOnce(context.Background(), src.ID); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int64{390, 1280} {
		alloc, out := startChromium(t) // a profile per width: see TestBrowser
		ctx, cancel := chromedp.NewContext(alloc)
		ctx, cancel2 := context.WithTimeout(ctx, 4*time.Minute) // a bound, not a speed target
		var w []int
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(width, 800),
			chromedp.Navigate(s.srv.URL+"/moving"),
			chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#user"), boss),
			chromedp.SendKeys(chromedp.CSS("#password"), bossPW),
			chromedp.Submit(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#checklist")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				var err error
				w, err = chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)(ctx, tg)
				return err
			}),
			screenshot(out, width)("moving"),
		)
		cancel2()
		cancel()
		if err != nil {
			t.Fatalf("%d: %v", width, err)
		}
		if w[0] > w[1] {
			t.Errorf("%d px: the page is %d px wide", width, w[0])
		}
	}
}

// TestMovingPage: the move from the old provider on the web page, against
// a real Dovecot as the old provider: each bad input is said next to its
// field and the old password is never shown; a good one starts the move,
// which the page lists; finishing it says the password is erased.
func TestMovingPage(t *testing.T) {
	s, m, dc := movingSite(t)

	b := s.browser(t)
	b.login(worker, workerPW)
	if resp, body := b.get("/moving"); resp.StatusCode == 200 {
		t.Fatalf("a user who is not an administrator sees the moving page\n%s", body)
	}
	b = s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/moving")
	wantStatus(t, resp, body, 200, "moving")
	for _, want := range []string{"Checklist for the move", `<option>ann@example.org</option>`, "Start moving"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	port := dc.IMAPS[strings.LastIndex(dc.IMAPS, ":")+1:]
	good := url.Values{"account": {worker}, "protocol": {"imap"}, "host": {"localhost"}, "port": {port}, "security": {"tls"},
		"username": {"ann@old.example"}, "password": {"ann's old pw"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	runForms(t, s, b, []formCase{
		{name: "wrong password", path: "/moving/add", form: with("password", "not it at all"), code: 400, errID: "err-add-password", want: "refused the user name or password", secret: "not it at all"},
		{name: "host with a space", path: "/moving/add", form: with("host", "imap old.example"), code: 400, errID: "err-add-host"},
		{name: "port not a number", path: "/moving/add", form: with("port", "99x"), code: 400, errID: "err-add-port"},
		{name: "HTML user name", path: "/moving/add", form: with("username", "<script>alert(1)</script>"), code: 400, errID: "err-add-password"},
		{name: "no such account", path: "/moving/add", form: with("account", "nobody@example.org"), code: 404, errID: "err-add-account"},
		{name: "unknown protocol", path: "/moving/add", form: with("protocol", "uucp"), code: 400, errID: "err-add-protocol"},
		{name: "good", path: "/moving/add", form: good, code: 303, check: func(t *testing.T, s *site) {
			if l := m.List(); len(l) != 1 || l[0].Account != worker {
				t.Errorf("moves after a good form: %+v", l)
			}
		}},
	})
	if _, err := m.RunOnce(context.Background(), m.List()[0].ID); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get("/moving")
	if !strings.Contains(body, "ann@old.example on localhost (IMAP)") || !strings.Contains(body, "0 messages moved") || strings.Contains(body, "ann&#39;s old pw") {
		t.Errorf("the page after the first fetch:\n%s", body)
	}
	runForms(t, s, b, []formCase{
		{name: "finish", path: "/moving/finish", form: url.Values{"id": {m.List()[0].ID}}, code: 303},
		{name: "finish unknown", path: "/moving/finish", form: url.Values{"id": {"nope"}}, code: 404, errID: "err-finish"},
	})
	if _, body = b.get("/moving"); !strings.Contains(body, "the old password is erased") {
		t.Errorf("a finished move is not shown as finished:\n%s", body)
	}
}

// TestMovingTrustCertificate: an old server with a self-signed
// certificate: the add form comes back with the certificate's
// fingerprint, names and dates and a box to tick (never the password);
// ticked, the move starts with that certificate pinned, and the list says
// so.
func TestMovingTrustCertificate(t *testing.T) {
	s, m, dc := movingSiteTrusting(t, false)
	b := s.browser(t)
	b.login(boss, bossPW)
	b.get("/moving")
	pin := certPin(t, dc)
	fingerprint := transition.CertInfo{SHA256: pin}.Fingerprint()
	form := url.Values{"account": {worker}, "protocol": {"imap"}, "host": {"localhost"}, "port": {dc.IMAP[strings.LastIndex(dc.IMAP, ":")+1:]},
		"security": {"starttls"}, "username": {"ann@old.example"}, "password": {"ann's old pw"}}
	resp, body := b.post("/moving/add", form)
	wantStatus(t, resp, body, 400, "a self-signed certificate")
	for _, want := range []string{`id="err-add-certificate"`, "self-signed", `id="add-cert"`, fingerprint, "CN=localhost", "localhost, 127.0.0.1",
		`name="pin" value="` + pin + `"`, `value="localhost"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	if strings.Contains(body, "ann&#39;s old pw") || strings.Contains(body, "ann's old pw") || len(m.List()) != 0 {
		t.Errorf("the password is shown again, or a move was kept: %d moves", len(m.List()))
	}
	// Not ticked: refused again, the same way.
	if resp, body = b.post("/moving/add", form); resp.StatusCode != 400 || !strings.Contains(body, `id="add-cert"`) {
		t.Errorf("sent again without the tick: %d", resp.StatusCode)
	}
	// A pin that is not the server's certificate (it changed meanwhile).
	form.Set("pin", strings.Repeat("0f", 32))
	resp, body = b.post("/moving/add", form)
	if resp.StatusCode != 400 || !strings.Contains(body, "different certificate") || !strings.Contains(body, "not the one the form asked to trust") {
		t.Errorf("a pin of another certificate: %d\n%s", resp.StatusCode, body)
	}
	form.Set("pin", pin)
	resp, body = b.post("/moving/add", form)
	wantStatus(t, resp, body, 303, "the certificate trusted")
	l := m.List()
	if len(l) != 1 || l[0].Pin != pin {
		t.Fatalf("moves: %+v", l)
	}
	if _, err := m.RunOnce(context.Background(), l[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, body = b.get("/moving"); !strings.Contains(body, "certificate is trusted for this move") || !strings.Contains(body, fingerprint) {
		t.Errorf("the list does not show the trusted certificate:\n%s", body)
	}
}

// TestMovingTrustChanged: a running move whose old server now shows
// another certificate than the one trusted: the list shows the new one in
// plain words with a button; pressing it trusts that one in place.
func TestMovingTrustChanged(t *testing.T) {
	s, m, dc := movingSiteTrusting(t, false)
	pin := certPin(t, dc)
	port, _ := strconv.Atoi(dc.IMAPS[strings.LastIndex(dc.IMAPS, ":")+1:])
	// Kept as trusting another certificate: the one the server had before.
	src, err := m.Keep(transition.NewSource{Account: worker, Protocol: "imap", Host: "localhost", Port: port,
		Username: "ann@old.example", Password: "ann's old pw", Pin: strings.Repeat("0f", 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RunOnce(context.Background(), src.ID); err == nil || !strings.Contains(err.Error(), "different certificate") {
		t.Fatalf("run against a changed certificate: %v", err)
	}
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/moving")
	wantStatus(t, resp, body, 200, "moving")
	fingerprint := transition.CertInfo{SHA256: pin}.Fingerprint()
	for _, want := range []string{`id="offered-` + src.ID + `"`, "not the one trusted for this move", fingerprint, "CN=localhost",
		`action="/moving/trust"`, `name="pin" value="` + pin + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	runForms(t, s, b, []formCase{
		{name: "trust another", path: "/moving/trust", form: url.Values{"id": {src.ID}, "pin": {strings.Repeat("ab", 32)}}, code: 400, errID: "err-trust"},
		{name: "trust", path: "/moving/trust", form: url.Values{"id": {src.ID}, "pin": {pin}}, code: 303},
	})
	got, _ := m.Get(src.ID)
	if got.Pin != pin || got.Offered != nil {
		t.Fatalf("after trusting: pin %q, offered %+v", got.Pin, got.Offered)
	}
	if _, err := m.RunOnce(context.Background(), src.ID); err != nil {
		t.Fatalf("run after trusting: %v", err)
	}
	if _, body = b.get("/moving"); strings.Contains(body, `id="offered-`) || !strings.Contains(body, fingerprint) {
		t.Errorf("the list after trusting:\n%s", body)
	}
}

// certPin is the SHA-256 of Dovecot's certificate, as a pin.
func certPin(t *testing.T, dc *dovecottest.Server) string {
	t.Helper()
	data, err := os.ReadFile(dc.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("%s holds no certificate", dc.CertFile)
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}
