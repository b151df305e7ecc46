package appliance

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/config"
	"postroom/appliance/status"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestWebPageLive: on the running appliance, an administrator logs in on
// the web page (net/http with a cookie jar), adds an account with a
// password and an alias for it; mail to the new alias is delivered over
// SMTP at once, with no restart, and the new account logs in over IMAP
// with the password set on the page.
func TestWebPageLive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.IMAPS = "127.0.0.1:0"
	r, demoPassword := startDemo(t, cfg)
	base := "http://" + r.addr(t, "web")
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	var csrf string
	send := func(method, path string, form url.Values) string {
		t.Helper()
		var body io.Reader
		if form != nil {
			form.Set("csrf", csrf)
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := client.Do(req) // follows the redirect after a change
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d\n%s\nlog:\n%s", method, path, resp.StatusCode, b, r.log.String())
		}
		if m := csrfField.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return string(b)
	}
	page := send("POST", "/login", url.Values{"user": {config.DemoUser}, "password": {demoPassword}})
	if !strings.Contains(page, "<h1>Accounts</h1>") {
		t.Fatalf("after login:\n%s", page)
	}
	const ann, annPW = "ann@" + config.DemoDomain, "ann's web secret"
	alias := "orders@" + config.DemoDomain
	page = send("POST", "/accounts", url.Values{"name": {ann}, "password": {annPW}})
	if !strings.Contains(page, "Account added.") {
		t.Fatalf("after adding ann:\n%s", page)
	}
	page = send("POST", "/accounts/"+url.PathEscape(ann)+"/address", url.Values{"address": {alias}})
	if !strings.Contains(page, "Address added") || !strings.Contains(page, alias) {
		t.Fatalf("after adding the alias:\n%s", page)
	}
	if ch := r.bus.Latest().LastChange; ch.Op != "address.add" || !strings.Contains(ch.By, "via the web page") {
		t.Errorf("LastChange %+v", ch)
	}
	if page := send("GET", "/log", nil); !strings.Contains(page, "admin: mail for "+alias+" now goes to "+ann) {
		t.Errorf("the log page lacks the change:\n%s", page)
	}
	if r.bus.Latest().Phase != status.PhaseRunning {
		t.Errorf("phase %s", r.bus.Latest().Phase)
	}

	sendMail(t, r.addr(t, ServiceSMTP), cfg, "someone@remote.example", alias)

	ic, err := imapclient.DialTLS(r.addr(t, ServiceIMAPS), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(ann, annPW).Wait(); err != nil {
		t.Fatalf("IMAP login with the password set on the page: %v", err)
	}
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 {
		t.Errorf("ann's INBOX holds %d messages, want the one sent to %s", sel.NumMessages, alias)
	}
	if strings.Contains(r.log.String(), annPW) || strings.Contains(r.log.String(), demoPassword) {
		t.Error("a password is in the appliance's log")
	}

	// An open status page's live stream shows the change, and ends when
	// the appliance stops, so that the stop does not wait for it.
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("status stream: %v", err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "by "+config.DemoUser+" via the web page") {
			break
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rd); err != nil {
		t.Errorf("status stream at the stop: %v", err)
	}
	if strings.Contains(r.log.String(), "context deadline exceeded") {
		t.Errorf("the web server did not stop in time:\n%s", r.log.String())
	}
}
