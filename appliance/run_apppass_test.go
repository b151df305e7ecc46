package appliance

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/config"
	"postroom/internal/testutil"
)

var appSecret = regexp.MustCompile(`<p class="secret">([a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4})</p>`)

// TestAppPasswordLive: on the running appliance, the administrator makes
// an app password for an account on its web page; it logs in over IMAP
// (imapclient), POP3 (Python's poplib) and submission (go-smtp). A
// password change on the page ends the account's open POP3 session
// (-ERR [AUTH]); removed on the page, the app password logs in nowhere;
// with the account's password kept for the web, POP3 refuses it. The
// account page lists the devices seen.
func TestAppPasswordLive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.IMAP, cfg.Listen.POP3, cfg.Listen.Submission = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	r, demoPassword := startDemo(t, cfg)
	base := "http://" + r.addr(t, "web")
	// post sends a form (nil: a GET of path), follows the redirect after a
	// change, and returns the page it ends on.
	wc := newWebClient(t, base) // run_setup_test.go
	post := func(path string, form url.Values) string {
		t.Helper()
		var code int
		var loc, body string
		if form == nil {
			code, _, body = wc.get(path)
		} else if code, loc, body = wc.post(path, form); code == http.StatusSeeOther {
			code, _, body = wc.get(loc)
		}
		if code != 200 {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
		return body
	}
	post("/login", url.Values{"user": {config.DemoUser}, "password": {demoPassword}})
	const ann, annPW = "ann@" + config.DemoDomain, "ann's first secret"
	page := "/accounts/" + url.PathEscape(ann)
	post("/accounts", url.Values{"name": {ann}, "password": {annPW}})
	body := post(page+"/apppass", url.Values{"name": {"Ann's phone"}})
	m := appSecret.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no app password shown:\n%s", body)
	}
	secret := m[1]
	imapAddr, popAddr, subAddr := r.addr(t, ServiceIMAP), r.addr(t, ServicePOP3), r.addr(t, ServiceSubmission)

	imapLogin := func(pw string) error {
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(ann, pw).Wait()
	}
	smtpLogin := func(pw string) error {
		c, err := smtp.DialStartTLS(subAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", ann, pw))
	}
	if err := imapLogin(secret); err != nil {
		t.Errorf("IMAP with the app password: %v", err)
	}
	if e := testutil.PoplibLogin(t, popAddr, ann, secret); e != "" {
		t.Errorf("POP3 with the app password: %s", e)
	}
	if err := smtpLogin(secret); err != nil {
		t.Errorf("submission with the app password: %v", err)
	}
	// Not on the web page: that takes the account's own password.
	if code, _, body := newWebClient(t, base).post("/login", url.Values{"user": {ann}, "password": {secret}}); code == http.StatusSeeOther {
		t.Errorf("web login with the app password: %d\n%s", code, body)
	}
	if code, _, body := newWebClient(t, base).post("/login", url.Values{"user": {ann}, "password": {annPW}}); code != http.StatusSeeOther {
		t.Errorf("web login with the account's password: %d\n%s", code, body)
	}
	if p := post(page, nil); !strings.Contains(p, "Downloading mail (POP3)") || !strings.Contains(p, "Ann&#39;s phone") {
		t.Errorf("the account page lacks the devices:\n%s", p)
	}
	// IMAP names the device by the app password too (imapd: SetClient).
	if p := post(page, nil); !strings.Contains(p, `Reading mail (IMAP)<br><span class="muted">Ann&#39;s phone</span>`) {
		t.Errorf("the account page lacks the IMAP device by its name:\n%s", p)
	}

	// Open POP3 and IMAP sessions end when the password is changed on the
	// page.
	ic, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(ann, annPW).Wait(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", popAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	for _, cmd := range []string{"", "USER " + ann, "PASS " + annPW} {
		if cmd != "" {
			io.WriteString(c, cmd+"\r\n")
		}
		if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q", cmd, l)
		}
	}
	post(page+"/password", url.Values{"password": {"ann's second secret"}})
	select {
	case <-ic.Closed():
	case <-time.After(60 * time.Second):
		t.Errorf("the open IMAP session outlived the password change")
	}
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "-ERR [AUTH] logged out") {
		t.Errorf("the open POP3 session after the password change: %q", l)
	}

	// Removed on the page: no login with it anywhere.
	list := post(page, nil)
	id := regexp.MustCompile(`name="id" value="([a-z]{4})"`).FindStringSubmatch(list)
	if id == nil {
		t.Fatalf("no app password listed:\n%s", list)
	}
	if p := post(page+"/unapppass", url.Values{"id": {id[1]}}); !strings.Contains(p, "App password removed") {
		t.Errorf("after the removal:\n%s", p)
	}
	if err := imapLogin(secret); err == nil {
		t.Errorf("IMAP with a removed app password worked")
	}
	if e := testutil.PoplibLogin(t, popAddr, ann, secret); !strings.Contains(e, "-ERR [AUTH]") {
		t.Errorf("POP3 with a removed app password: %q", e)
	}
	if err := smtpLogin(secret); err == nil {
		t.Errorf("submission with a removed app password worked")
	}

	// The account's password for the web page only.
	post(page+"/webonly", url.Values{"webonly": {"on"}})
	if e := testutil.PoplibLogin(t, popAddr, ann, "ann's second secret"); !strings.Contains(e, "-ERR [AUTH]") {
		t.Errorf("POP3 with a password kept for the web: %q", e)
	}
	if log := r.log.String(); strings.Contains(log, secret) || strings.Contains(log, "secret\"") {
		t.Errorf("a password is in the appliance's log")
	}
}
