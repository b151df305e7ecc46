package appliance

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"postroom/appliance/config"
)

// TestWebClientSetup: on the running appliance, a user's own web page
// (/me) shows the client set-up with the ports the box is bound to, and
// its QR code's one-time link gives the profile on the public port, once.
func TestWebClientSetup(t *testing.T) {
	cfg := testConfig(t)
	free := "127.0.0.1:0"
	cfg.Listen = config.Listeners{Submissions: free, IMAPS: free, POP3S: free, Web: free, Public: free}
	r, password := startDemo(t, cfg)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	web := "http://" + r.addr(t, ServiceWeb)
	req, err := http.NewRequest("POST", web+"/login", strings.NewReader(url.Values{"user": {config.DemoUser}, "password": {password}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", web)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	code, page := get(web + "/me")
	if code != 200 {
		t.Fatalf("/me: %d\n%s", code, page)
	}
	for _, svc := range []string{ServiceIMAPS, ServicePOP3S, ServiceSubmissions} {
		_, port, _ := net.SplitHostPort(r.addr(t, svc))
		if !strings.Contains(page, "<td><code>"+cfg.Hostname+"</code></td><td><code>"+port+"</code></td>") {
			t.Errorf("/me lacks %s on port %s:\n%s", svc, port, page)
		}
	}
	if !strings.Contains(page, `<code id="set-user">`+config.DemoUser+`</code>`) || !strings.Contains(page, `<img src="data:image/png;base64,`) {
		t.Fatalf("/me lacks the set-up of %s:\n%s", config.DemoUser, page)
	}
	m := regexp.MustCompile(`<figure id="qr-imap">.*?<a href="[^"]*(/p/[A-Z2-7]+)">`).FindStringSubmatch(strings.ReplaceAll(page, "\n", " "))
	if m == nil {
		t.Fatalf("no IMAP link on /me:\n%s", page)
	}
	public := "http://" + r.addr(t, ServicePublic) // the phone reaches cfg.Hostname; here that is the listener
	_, imaps, _ := net.SplitHostPort(r.addr(t, ServiceIMAPS))
	if code, body := get(public + m[1]); code != 200 || !strings.Contains(body, "<integer>"+imaps+"</integer>") || !strings.Contains(body, config.DemoUser) {
		t.Errorf("the IMAP profile: %d\n%s", code, body)
	}
	if code, _ := get(public + m[1]); code != 404 {
		t.Errorf("the IMAP profile again: %d, want 404 (used)", code)
	}
}
